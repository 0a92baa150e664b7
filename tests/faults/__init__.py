"""Fault injection over the production exchange glue (see docs/reliability.md)."""
