"""The sites of a fault run: each its own database (an SQLite file, or the hub on a PostgreSQL
schema of its own), its own blob directory, its real :class:`SyncSite`, and the means to crash
it and bring it back from disk.

Crashes come from the real session and disk: :class:`CrashSession` is a plain SQLAlchemy
session whose ``commit`` dies before or after the real commit, a ``before_cursor_execute``
listener dies at the statement that writes a link record (after the events were stored, before
their acknowledgement was), and :class:`CrashingBlobs` dies half way through writing a scan
chunk. After any crash the engine is disposed and a new one opened on the same file, so the
next exchange sees only what reached the disk.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.exchange.site import BlobSettings, SyncSite
from shared.storage import sync_store as store
from shared.storage.blob_store import BlobStore
from shared.storage.db import Base, make_engine
from tests.faults.faults import (
    CHILD_AFTER_COMMIT,
    CHILD_BEFORE_COMMIT,
    CHILD_STORED_NOT_ACKED,
    PARENT_AFTER_COMMIT,
    PARENT_BEFORE_COMMIT,
    PARENT_MID_SCAN,
    PARENT_STORED_NOT_ACKED,
    CrashPlan,
)

SCAN_SETTINGS = BlobSettings(budget=2048, chunk_size=1024, max_offers=8)
"""Small chunks and budget, so a scan of a few kilobytes takes several exchanges."""

ROLE_PARENT, ROLE_CHILD, ROLE_LOCAL = "parent", "child", "local"


class CrashSession(Session):
    """A real session whose ``commit`` may die just before or just after committing."""

    plan: CrashPlan
    reached: Counter[str]
    role: str
    defer_commit = False

    def commit(self) -> None:
        if self.defer_commit:  # a broken variant: the caller commits after answering
            return
        before, after = ((PARENT_BEFORE_COMMIT, PARENT_AFTER_COMMIT) if self.role == ROLE_PARENT
                         else (CHILD_BEFORE_COMMIT, CHILD_AFTER_COMMIT))
        if self.role != ROLE_LOCAL:
            self.plan.hit(before, self.reached)
        super().commit()
        if self.role != ROLE_LOCAL:
            self.plan.hit(after, self.reached)

    def really_commit(self) -> None:
        self.defer_commit = False
        self.commit()


class CrashingBlobs(BlobStore):
    """The site's real blob directory; an armed crash writes half a chunk and dies."""

    def __init__(self, root: Path, plan: CrashPlan, reached: Counter[str]) -> None:
        super().__init__(root)
        self.plan, self.reached = plan, reached

    def append(self, sha256: str, offset: int, data: bytes) -> int:
        if self.plan.point == PARENT_MID_SCAN and not self.plan.fired and len(data) > 1:
            super().append(sha256, offset, data[: len(data) // 2])
            self.plan.hit(PARENT_MID_SCAN, self.reached)
        return super().append(sha256, offset, data)


@dataclass
class Place:
    """One site of the tree: where its data lives, and the process that serves it."""

    code: str
    url: str
    directory: Path
    make_site: Callable[[Place], SyncSite]
    plan: CrashPlan = field(default_factory=CrashPlan)
    reached: Counter[str] = field(default_factory=Counter)
    epoch: int = 1
    engine: Engine | None = None
    site: SyncSite | None = None
    blobs: CrashingBlobs | None = None
    role: str = ROLE_LOCAL

    def open(self) -> None:
        """Start the site's process: a new engine on its database, a new site object."""
        self.engine = make_engine(self.url)
        event.listen(self.engine, "before_cursor_execute", self._statement)
        self.blobs = CrashingBlobs(self.directory / "blobs", self.plan, self.reached)
        self.site = self.make_site(self)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def reopen(self) -> None:
        """After a crash: nothing of the dead process survives but its disk."""
        self.close()
        self.open()

    def session(self, role: str = ROLE_LOCAL) -> CrashSession:
        assert self.engine is not None
        session = CrashSession(self.engine, expire_on_commit=False)
        session.plan, session.reached, session.role = self.plan, self.reached, role
        self.role = role
        return session

    def _statement(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                   context: Any, executemany: bool) -> None:
        """Die at the statement that writes the link record (the acknowledgement's source)."""
        point = self.plan.point
        if point not in (PARENT_STORED_NOT_ACKED, CHILD_STORED_NOT_ACKED) or self.plan.fired:
            return
        if "sync_state" not in statement or not statement.lstrip().upper().startswith("INSERT"):
            return
        wanted = "'parent_link'" if point == CHILD_STORED_NOT_ACKED else "'child:"
        if wanted in repr(parameters):
            self.plan.hit(point, self.reached)


class SqliteFiles:
    """Snapshots of SQLite sites: the database file (and the blob directory) copied while the
    engine is closed, so nothing is half-written in a WAL file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, place: Place) -> None:
        engine = make_engine(place.url)
        Base.metadata.create_all(engine, tables=[t.__table__ for t in store.SYNC_TABLES])  # type: ignore[misc]
        engine.dispose()

    def snapshot(self, place: Place, name: str) -> None:
        place.close()
        target = self.root / "snapshots" / place.code / name
        target.mkdir(parents=True)
        shutil.copy2(place.directory / "site.sqlite", target / "site.sqlite")
        if (place.directory / "blobs").exists():
            shutil.copytree(place.directory / "blobs", target / "blobs")
        place.open()

    def restore(self, place: Place, name: str) -> None:
        place.close()
        source = self.root / "snapshots" / place.code / name
        for suffix in ("", "-wal", "-shm"):
            (place.directory / f"site.sqlite{suffix}").unlink(missing_ok=True)
        shutil.copy2(source / "site.sqlite", place.directory / "site.sqlite")
        shutil.rmtree(place.directory / "blobs", ignore_errors=True)
        if (source / "blobs").exists():
            shutil.copytree(source / "blobs", place.directory / "blobs")
        place.open()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'site.sqlite'}"


class PgSchema:
    """The hub on PostgreSQL, in a schema of its own; a snapshot is a copy of its tables in a
    second schema, a restore puts them back and moves the id sequences past them."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.schema = f"f_{uuid.uuid4().hex[:16]}"
        self.snapshots: list[str] = []
        sep = "&" if "?" in admin_url else "?"
        self.url = f"{admin_url}{sep}options=-csearch_path%3D{self.schema}"

    def create(self, place: Place) -> None:
        admin = make_engine(self.admin_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        engine = make_engine(self.url)
        Base.metadata.create_all(engine, tables=[t.__table__ for t in store.SYNC_TABLES])  # type: ignore[misc]
        engine.dispose()

    def _tables(self) -> list[str]:
        return [str(t.__tablename__) for t in store.SYNC_TABLES]

    def snapshot(self, place: Place, name: str) -> None:
        place.close()
        target = f"{self.schema}_{name}"
        self.snapshots.append(target)
        admin = make_engine(self.admin_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{target}"'))
            for table in self._tables():
                conn.execute(text(f'CREATE TABLE "{target}".{table} AS '
                                  f'TABLE "{self.schema}".{table}'))
        admin.dispose()
        if (place.directory / "blobs").exists():
            shutil.copytree(place.directory / "blobs", place.directory.parent / target)
        place.open()

    def restore(self, place: Place, name: str) -> None:
        place.close()
        source = f"{self.schema}_{name}"
        admin = make_engine(self.admin_url)
        with admin.begin() as conn:
            tables = self._tables()
            conn.execute(text("TRUNCATE " + ", ".join(f'"{self.schema}".{t}' for t in tables)))
            for table in tables:  # parents before children (sync_outbox refers to events)
                conn.execute(text(f'INSERT INTO "{self.schema}".{table} '
                                  f'SELECT * FROM "{source}".{table}'))
            for table in ("sync_events", "sync_down", "sync_credentials"):
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('\"{self.schema}\".{table}', 'id'), "
                    f'COALESCE((SELECT max(id) FROM "{self.schema}".{table}), 0) + 1, false)'))
        admin.dispose()
        shutil.rmtree(place.directory / "blobs", ignore_errors=True)
        if (place.directory.parent / source).exists():
            shutil.copytree(place.directory.parent / source, place.directory / "blobs")
        place.open()

    def drop(self) -> None:
        admin = make_engine(self.admin_url)
        with admin.begin() as conn:
            for schema in (self.schema, *self.snapshots):
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
