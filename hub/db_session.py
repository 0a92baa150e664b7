"""The hub's database: PostgreSQL in production, SQLite for the demo, one schema made only by
the migrations in ``hub/migrations`` (they own the ``hub_`` tables and the shared ``sync_``
and ``acct_`` tables)."""

from __future__ import annotations

from pathlib import Path

from shared.storage.migrations import SHARED_PREFIXES, Migrations
from shared.web.request_db import (
    app_session,
    get_session,
    init_app,
    session_factory,
)

MIGRATIONS = Migrations(Path(__file__).with_name("migrations"), ("hub_", *SHARED_PREFIXES))
__all__ = ["MIGRATIONS", "app_session", "get_session", "init_app", "session_factory"]
