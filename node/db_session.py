"""The node's database: one engine per app, one session per request, Alembic upgrades.

SQLite runs in WAL mode with ``synchronous=FULL`` (``shared.db.make_engine``): a case whose
receipt was printed survives a power cut. The schema is created only by the migrations in
``node/migrations`` (never ``create_all``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.db import make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_EXTENSION = "sanji_node_db"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Only the node's own tables: the shared metadata may also hold other apps' tables."""
    if type_ == "table":
        return bool(name and name.startswith("node_"))
    table = getattr(obj, "table", None)
    return table is None or str(table.name).startswith("node_")


def alembic_config() -> Config:
    """An Alembic configuration pointing at the node's migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Bring the node's tables to ``revision`` (the latest by default)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def init_app(app: Flask, database_url: str) -> None:
    """Create the app's engine and session factory and close each request's session."""
    engine = make_engine(database_url)
    app.extensions[_EXTENSION] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine_of(app: Flask) -> Engine:
    """The engine an app was created with."""
    factory: sessionmaker[Session] = app.extensions[_EXTENSION]
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


def get_session() -> Session:
    """This request's session, opened on first use."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions[_EXTENSION]
        g.db_session = factory()
    session: Session = g.db_session
    return session


@contextmanager
def app_session(app: Flask) -> Iterator[Session]:
    """A session outside a request (CLI commands, background jobs), closed afterwards."""
    factory: sessionmaker[Session] = app.extensions[_EXTENSION]
    with factory() as session:
        yield session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
