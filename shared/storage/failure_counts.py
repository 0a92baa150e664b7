"""Failed attempts (wrong passwords, wrong query codes), remembered where limits can count them.

A failure is one row: what kind of attempt failed, from which client address, against which
account (if any), and when. :class:`SqlFailureCounts` keeps them in ``acct_failures``, so
every process of a site sees the same count (several hub processes share one PostgreSQL);
:class:`MemoryFailureCounts` keeps them in one process, bounded, for a site that runs one
process or for counts measured on a clock that does not survive a restart (a monotonic
clock). Both answer the same :class:`FailureCounts` questions; the limits themselves live in
the web layer.

Times are seconds (floats) on whatever clock the caller uses; the caller keeps to one clock
per store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import BigInteger, Index, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.storage.db import Base

MAX_ADDRESS_LENGTH = 64  # an IPv6 address with a zone fits
MAX_KIND_LENGTH = 20
MAX_USERNAME_LENGTH = 64


class FailedAttempt(Base):
    """One failed attempt: ``kind`` (``login``, ``status``...), from ``address``, at
    ``username`` when the attempt named an account."""

    __tablename__ = "acct_failures"
    __table_args__ = (
        Index("ix_acct_failures_address", "kind", "address", "at_ms"),
        Index("ix_acct_failures_username", "kind", "username", "at_ms"),
        Index("ix_acct_failures_at_ms", "at_ms"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(MAX_KIND_LENGTH))
    address: Mapped[str] = mapped_column(String(MAX_ADDRESS_LENGTH))
    username: Mapped[str | None] = mapped_column(String(MAX_USERNAME_LENGTH), nullable=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)


class FailureCounts(Protocol):
    """Where failed attempts are recorded and counted."""

    def record(self, kind: str, at: float, address: str, username: str | None = None) -> None:
        """Remember one failure of ``kind`` from ``address`` (against ``username``)."""
        ...

    def recent(self, kind: str, since: float, limit: int, *, address: str | None = None,
               username: str | None = None) -> list[float]:
        """The times, oldest first, of the newest ``limit`` failures of ``kind`` after
        ``since`` that match ``address`` and ``username`` (None: any)."""
        ...

    def forget(self, kind: str, username: str) -> int:
        """Drop every failure of ``kind`` against ``username``; how many there were."""
        ...


def _clip(text: str, length: int) -> str:
    return text[:length]


class MemoryFailureCounts:
    """Failures kept in this process: at most ``max_keys`` addresses, accounts and pairs
    (the stalest forgotten first), at most ``max_per_key`` times each, none older than
    ``keep_seconds``."""

    def __init__(self, keep_seconds: float, max_keys: int = 10_000, max_per_key: int = 1_000):
        self.keep_seconds = keep_seconds
        self.max_keys = max_keys
        self.max_per_key = max_per_key
        self._times: OrderedDict[tuple[str, str | None, str | None], deque[float]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def record(self, kind: str, at: float, address: str, username: str | None = None) -> None:
        keys: list[tuple[str, str | None, str | None]] = [(kind, address, None)]
        if username is not None:
            keys += [(kind, None, username), (kind, address, username)]
        with self._lock:
            for key in keys:
                times = self._times.setdefault(key, deque(maxlen=self.max_per_key))
                while times and times[0] <= at - self.keep_seconds:
                    times.popleft()
                times.append(at)
                self._times.move_to_end(key)
            while len(self._times) > self.max_keys:
                self._times.popitem(last=False)

    def recent(self, kind: str, since: float, limit: int, *, address: str | None = None,
               username: str | None = None) -> list[float]:
        if address is None and username is None:
            raise ValueError("count by address, by username or by both")
        with self._lock:
            times = self._times.get((kind, address, username))
            found = [at for at in times or () if at > since]
        return found[-limit:] if limit > 0 else []

    def forget(self, kind: str, username: str) -> int:
        with self._lock:
            keys = [key for key in self._times if key[0] == kind and key[2] == username]
            dropped = len(self._times.get((kind, None, username)) or ())
            for key in keys:
                del self._times[key]
        return dropped


class SqlFailureCounts:
    """Failures in the ``acct_failures`` table, each recorded in a short transaction of its
    own (a request that fails afterwards must not take its failure back). Rows older than
    ``keep_seconds`` are deleted as new ones arrive, so the table stays small."""

    def __init__(self, session_factory: Callable[[], Session], keep_seconds: float):
        self._session_factory = session_factory
        self.keep_seconds = keep_seconds

    def record(self, kind: str, at: float, address: str, username: str | None = None) -> None:
        at_ms = int(at * 1000)
        with self._session_factory() as session, session.begin():
            session.execute(
                delete(FailedAttempt).where(
                    FailedAttempt.at_ms < at_ms - int(self.keep_seconds * 1000)
                )
            )
            session.add(
                FailedAttempt(
                    kind=_clip(kind, MAX_KIND_LENGTH),
                    address=_clip(address, MAX_ADDRESS_LENGTH),
                    username=None if username is None else _clip(username, MAX_USERNAME_LENGTH),
                    at_ms=at_ms,
                )
            )

    def recent(self, kind: str, since: float, limit: int, *, address: str | None = None,
               username: str | None = None) -> list[float]:
        if address is None and username is None:
            raise ValueError("count by address, by username or by both")
        if limit <= 0:
            return []
        query = select(FailedAttempt.at_ms).where(
            FailedAttempt.kind == _clip(kind, MAX_KIND_LENGTH),
            FailedAttempt.at_ms > int(since * 1000),
        )
        if address is not None:
            query = query.where(FailedAttempt.address == _clip(address, MAX_ADDRESS_LENGTH))
        if username is not None:
            query = query.where(FailedAttempt.username == _clip(username, MAX_USERNAME_LENGTH))
        query = query.order_by(FailedAttempt.at_ms.desc()).limit(limit)
        with self._session_factory() as session:
            newest_first = list(session.scalars(query))
        return [at_ms / 1000 for at_ms in reversed(newest_first)]

    def forget(self, kind: str, username: str) -> int:
        with self._session_factory() as session, session.begin():
            result = session.execute(
                delete(FailedAttempt).where(
                    FailedAttempt.kind == _clip(kind, MAX_KIND_LENGTH),
                    FailedAttempt.username == _clip(username, MAX_USERNAME_LENGTH),
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)
