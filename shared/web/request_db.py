"""One engine per Flask app and one session per request (the app's migrations are
:class:`shared.storage.migrations.Migrations`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.storage.db import make_engine

_EXTENSION = "sanji_db"


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
