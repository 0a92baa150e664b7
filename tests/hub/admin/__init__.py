"""The hub's administration pages, one test module per area."""
