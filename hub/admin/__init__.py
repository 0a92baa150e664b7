"""The hub's administration pages (管理)."""
