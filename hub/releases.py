"""Signed releases the hub publishes: the catalogue, the working-day calendar, revocations.

``sanji hub import-catalog FILE`` checks the file (every problem listed), then signs its
content as the next catalogue release, optionally effective from a future date; the calendar
of a coming year is published the same way. Releases are stored as signed — bytes and
signature — and handed to the exchange, which sends each child what it does not hold yet.
Versions only grow: a catalogue release takes the catalogue's own version, which must be
above every version published before.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path

import cbor2
from sqlalchemy import BigInteger, Integer, LargeBinary, String, func, select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.domain.catalogue import Catalogue
from shared.domain.errors import InvalidInput, StateConflict
from shared.domain.release_content import (
    CALENDAR,
    CATALOGUE,
    calendar_from_release_content,
    calendar_release_content,
    catalogue_from_release,
    catalogue_release_content,
)
from shared.domain.working_days import YearCalendar
from shared.storage.db import Base
from shared.storage.sync_store import keep_release
from sync_protocol import Release, Revocation, Signature, SiteKey, revocations_content, sign_release
from sync_protocol.credentials import revocation_from_wire
from sync_protocol.times import from_ms, to_ms

VALIDITY = timedelta(days=400)
"""A release expires this long after it takes effect unless a newer one replaces it; a site
whose release in force has expired knows someone may be withholding newer ones."""


class HubRelease(Base):
    """One signed release as published (times in epoch milliseconds, UTC)."""

    __tablename__ = "hub_releases"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from_ms: Mapped[int] = mapped_column(BigInteger)
    expires_at_ms: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    published_at_ms: Mapped[int] = mapped_column(BigInteger)
    published_by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(String(200), default="")

    def release(self) -> Release:
        return Release(
            self.kind,
            self.version,
            from_ms(self.effective_from_ms),
            from_ms(self.expires_at_ms),
            self.content,
            Signature(self.key_id, self.signature),
        )


def latest_version(session: Session, kind: str) -> int:
    """The highest version of ``kind`` published, 0 when none."""
    found = session.scalar(select(func.max(HubRelease.version)).where(HubRelease.kind == kind))
    return int(found or 0)


def publish(
    session: Session,
    hub_key: SiteKey,
    *,
    kind: str,
    version: int,
    content: bytes,
    effective_from: datetime,
    now: datetime,
    by: str,
    note: str = "",
) -> Release:
    """Sign and store a release (the caller commits); :class:`StateConflict` unless
    ``version`` is above every version of ``kind`` already published."""
    top = latest_version(session, kind)
    if version <= top:
        raise StateConflict("version", f"{kind} version {version} is not above {top}")
    if effective_from < now - timedelta(minutes=5):
        raise InvalidInput("effective_from", "cannot take effect in the past")
    release = sign_release(
        hub_key,
        kind=kind,
        version=version,
        content=content,
        effective_from=effective_from,
        expires_at=effective_from + VALIDITY,
    )
    session.add(
        HubRelease(
            kind=kind,
            version=version,
            effective_from_ms=to_ms(release.effective_from),
            expires_at_ms=to_ms(release.expires_at),
            content=content,
            key_id=release.signature.key_id,
            signature=release.signature.value,
            published_at_ms=to_ms(now),
            published_by=by,
            note=note[:200],
        )
    )
    session.flush()
    return release


def import_catalogue(
    session: Session,
    hub_key: SiteKey,
    path: Path,
    *,
    effective_from: datetime | None,
    now: datetime,
    by: str,
) -> Release:
    """Check a catalogue file and publish it; :class:`~shared.domain.errors.Problems` lists every
    problem of a bad file and nothing is published."""
    suffix = path.suffix.lower()
    fmt = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}.get(suffix)
    if fmt is None:
        raise InvalidInput("file", f"{path.name}: the suffix must be .yaml, .yml or .json")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {path}: {exc.strerror}") from None
    catalogue, content = catalogue_release_content(text, fmt)
    return publish(
        session,
        hub_key,
        kind=CATALOGUE,
        version=catalogue.version,
        content=content,
        effective_from=effective_from or now,
        now=now,
        by=by,
        note=f"{len(catalogue.items)} items",
    )


def publish_calendar(
    session: Session, hub_key: SiteKey, year: YearCalendar, *, now: datetime, by: str
) -> Release:
    """Publish one year's holidays and adjusted working days, in force at once (a year's
    data only matters for dates in that year)."""
    version = latest_version(session, CALENDAR) + 1
    return publish(
        session,
        hub_key,
        kind=CALENDAR,
        version=version,
        content=calendar_release_content(year),
        effective_from=now,
        now=now,
        by=by,
        note=f"{year.year} v{year.version}",
    )


_SIGNED: weakref.WeakKeyDictionary[Engine, dict[tuple[str, int, bytes], Release]] = (
    weakref.WeakKeyDictionary())
"""Releases already read, per database engine, by kind, version and signature: a published
release never changes, and the catalogue's content is large to fetch for every exchange."""


def releases_to_send(session: Session, now: datetime) -> list[Release]:
    """What every child should hold: per kind, the release in force and any later one."""
    rows = session.execute(select(HubRelease.kind, HubRelease.version,
                                  HubRelease.effective_from_ms, HubRelease.signature)
                           .order_by(HubRelease.kind, HubRelease.version)).all()
    by_kind: dict[str, list[tuple[int, int, bytes]]] = {}
    for kind, version, effective_from_ms, signature in rows:
        by_kind.setdefault(kind, []).append((version, effective_from_ms, bytes(signature)))
    now_ms = to_ms(now)
    wanted: list[tuple[str, int, bytes]] = []
    for kind, versions in by_kind.items():
        in_force = [v for v, effective, _ in versions if effective <= now_ms]
        start = in_force[-1] if in_force else 0
        wanted += [(kind, v, signature) for v, _, signature in versions if v >= start]
    # keyed by the signature too: a release read inside a publishing transaction that was
    # then rolled back can never stand in for the one published under its number later
    held = _SIGNED.setdefault(session.get_bind().engine, {})
    missing = [(kind, version) for kind, version, signature in wanted
               if (kind, version, signature) not in held]
    if missing:
        for row in session.scalars(select(HubRelease).where(
                tuple_(HubRelease.kind, HubRelease.version).in_(missing))):
            held[(row.kind, row.version, bytes(row.signature))] = row.release()
    return [held[key] for key in wanted]


def current_catalogue_release(session: Session, now: datetime) -> HubRelease | None:
    """The catalogue release in force at ``now``, if any was published."""
    return session.scalar(
        select(HubRelease)
        .where(HubRelease.kind == CATALOGUE, HubRelease.effective_from_ms <= to_ms(now))
        .order_by(HubRelease.version.desc())
        .limit(1)
    )


class HubCatalogueVersions:
    """Every catalogue release the hub published, by version, for the cases accepted under
    each (:mod:`shared.domain.catalogue_versions`). The hub keeps them all in
    ``hub_releases`` (it is where they come from, and a few a year are published); each is
    parsed once per process. Before any is published the configured catalogue is the one."""

    def __init__(self, sessions: Callable[[], AbstractContextManager[Session]],
                 configured: Catalogue) -> None:
        self._sessions = sessions
        self._configured = configured
        self._parsed: dict[int, Catalogue] = {}

    def version(self, number: int) -> Catalogue | None:
        found = self._parsed.get(number)
        if found is not None:
            return found
        with self._sessions() as session:
            content = session.scalar(select(HubRelease.content).where(
                HubRelease.kind == CATALOGUE, HubRelease.version == number))
        if content is not None:
            found = self._parsed[number] = catalogue_from_release(bytes(content))
        elif number == self._configured.version:
            found = self._configured
        return found

    def oldest(self) -> Catalogue | None:
        with self._sessions() as session:
            first = session.scalar(select(func.min(HubRelease.version))
                                   .where(HubRelease.kind == CATALOGUE))
        return self.version(first) if first is not None else self._configured


def published_years(session: Session) -> list[YearCalendar]:
    """Every calendar year published, the newest release of each year."""
    years: dict[int, YearCalendar] = {}
    for row in session.scalars(
        select(HubRelease).where(HubRelease.kind == CALENDAR).order_by(HubRelease.version)
    ):
        year = calendar_from_release_content(row.content)
        years[year.year] = year
    return [years[y] for y in sorted(years)]


REVOCATIONS = "revocations"


def revoke_key(session: Session, hub_key: SiteKey, revocation: Revocation, *,
               now: datetime, by: str) -> Release:
    """Publish a revocations release holding every revocation so far plus ``revocation``
    (the list accumulates; a node applies the newest). Events the key signed up to
    ``(through_epoch, through_seq)`` stay valid; nothing newer signed by it is accepted."""
    held: list[Revocation] = []
    newest = session.scalar(select(HubRelease).where(HubRelease.kind == REVOCATIONS)
                            .order_by(HubRelease.version.desc()).limit(1))
    if newest is not None:
        held = [revocation_from_wire(v) for v in cbor2.loads(newest.content)]
    entries = [r for r in held if r.key_id != revocation.key_id] + [revocation]
    release = publish(session, hub_key, kind=REVOCATIONS,
                      version=latest_version(session, REVOCATIONS) + 1,
                      content=revocations_content(entries), effective_from=now, now=now, by=by,
                      note=f"key {revocation.key_id.hex()} of {revocation.site}")
    keep_release(session, release, to_ms(now))  # the hub's own exchanges honour it at once
    return release
