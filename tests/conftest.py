"""Fixtures every test package may use: SQLite and PostgreSQL databases of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from shared.storage.db import make_engine
from tests.ci import in_ci

PG_URL = os.environ.get(
    "SANJI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def pg_available() -> str:
    """The PostgreSQL URL, once the server answers.

    Outside CI an unreachable server skips the PostgreSQL tests with a clear message;
    in CI (CI=true) it fails them, because CI must run the storage tests on PostgreSQL.
    """
    engine = make_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        message = f"PostgreSQL at {PG_URL} is unreachable: {exc.__class__.__name__}: {exc}"
        if in_ci():
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message + " (set SANJI_TEST_PG_URL or start the server)")
    finally:
        engine.dispose()
    return PG_URL


@contextmanager
def fresh_schema(url: str, prefix: str) -> Iterator[str]:
    """A URL whose connections use a new schema of their own, dropped on leaving."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_schema_url(pg_available: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema of their own, dropped afterwards."""
    with fresh_schema(pg_available, "t") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """Each storage test runs twice: on a file SQLite database and on its own PG schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/test.sqlite"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
