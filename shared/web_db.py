"""One engine per Flask app, one session per request, and Alembic upgrades without an ini file.

The hub and the nodes each keep their migrations in their own package and their own version
table; both also create the shared ``sync_`` and ``acct_`` tables. :class:`Migrations` says
which tables an app's migrations own, so autogenerate never touches the other app's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.db import make_engine

SHARED_PREFIXES = ("sync_", "acct_")
_EXTENSION = "sanji_db"


@dataclass(frozen=True, slots=True)
class Migrations:
    """An app's Alembic migrations: where they are and which tables they own."""

    directory: Path
    prefixes: tuple[str, ...]

    def owns(self, name: str | None) -> bool:
        return bool(name) and any(str(name).startswith(p) for p in self.prefixes)

    def include_object(
        self, obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return self.owns(name)
        table = getattr(obj, "table", None)
        return table is None or self.owns(str(table.name))

    def config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        return config

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        """Bring the app's tables to ``revision`` (the latest by default)."""
        config = self.config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


def init_app(app: Flask, database_url: str, **engine_options: Any) -> None:
    """Create the app's engine and session factory and close each request's session."""
    engine = make_engine(database_url, **engine_options)
    app.extensions[_EXTENSION] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine_of(app: Flask) -> Engine:
    factory: sessionmaker[Session] = app.extensions[_EXTENSION]
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


def session_factory(app: Flask) -> sessionmaker[Session]:
    """The app's session factory, for work outside a request (background jobs)."""
    factory: sessionmaker[Session] = app.extensions[_EXTENSION]
    return factory


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
