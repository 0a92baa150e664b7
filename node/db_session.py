"""The node's database: SQLite in WAL mode with ``synchronous=FULL`` (a case whose receipt
was printed survives a power cut). The schema is created only by the migrations in
``node/migrations`` (never ``create_all``); they own the ``node_`` tables and the shared
``sync_`` and ``acct_`` tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy.engine import Engine

from shared.storage.migrations import SHARED_PREFIXES, Migrations
from shared.web.request_db import (
    app_session,
    get_session,
    init_app,
    session_factory,
)

MIGRATIONS = Migrations(Path(__file__).with_name("migrations"), ("node_", *SHARED_PREFIXES))
__all__ = [
    "alembic_config",
    "app_session",
    "get_session",
    "init_app",
    "session_factory",
    "upgrade_database",
]


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return MIGRATIONS.include_object(obj, name, type_, reflected, compare_to)


def alembic_config() -> Config:
    return MIGRATIONS.config()


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    MIGRATIONS.upgrade(engine, revision)
