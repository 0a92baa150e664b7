"""Alembic migrations of the node's ``node_`` tables (SQLite in batch mode)."""
