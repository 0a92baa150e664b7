"""The storage base: SQLite durability settings and PostgreSQL schema isolation."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from shared.storage.db import make_engine


def test_sqlite_uses_wal_and_full_sync(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/node.sqlite")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        # 2 == FULL: a power cut after commit loses nothing.
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_each_database_test_sees_only_its_own_tables(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(text("INSERT INTO probe (id, note) VALUES (1, '村便民服务站 𠮷')"))
    with db_engine.connect() as conn:
        rows = conn.execute(text("SELECT note FROM probe")).scalars().all()
    assert rows == ["村便民服务站 𠮷"]
