"""Durable storage of the sync layer, the same tables at every site (all prefixed ``sync_``).

The sans-I/O core (:mod:`sync_protocol`) decides; this module remembers, in the caller's
transaction:

- ``sync_events``: every event the site holds (its own and its descendants', and the
  decisions that came down), append-only, unique on ``(origin, epoch, seq)``, with the chain
  hash, the predecessor's hash and the origin's signature where the site has it. Payloads are
  sealed by a :class:`PayloadSealer` (every site encrypts personal data at rest).
- ``sync_outbox``: events still owed to the parent; a row is acked only by the parent's
  watermark and never deleted before.
- ``sync_down``: the per-child downward stream, each item at a link position.
- ``sync_state``: small durable records (the link toward the parent, one per child).
- ``sync_credentials`` and ``sync_releases``: certificates, rotations and releases held.

Scans the events reference are files in the site's blob store; what the site knows of each
(size, type, whether it is held and owed to the parent) is a ``sync_state`` row per blob.
"""

from __future__ import annotations

import json
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

import cbor2
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.util import identity_key

from shared.storage.bulk_insert import OnConflict, insert_rows
from shared.storage.db import Base
from shared.storage.sealing import RECORD_MAGIC, ROW_FORMAT
from sync_protocol import (
    ChainHead,
    Credential,
    DownItem,
    Event,
    EventKey,
    KeyRing,
    LinkPosition,
    Receipt,
    Release,
    Signature,
    SiteKey,
    append_event,
    is_derived,
    revocations_in,
)
from sync_protocol.credentials import credential_from_wire
from sync_protocol.events import genesis_hash
from sync_protocol.messages import down_item_from_wire, down_item_to_wire, down_payload
from sync_protocol.releases import release_from_wire
from sync_protocol.times import from_ms, to_ms

PENDING, ACKED, DEAD = 0, 1, 2
"""Outbox row states: owed to the parent, acknowledged by it, refused for good."""


class PayloadSealer(Protocol):
    """Turns an event payload into stored bytes and back; the context binds bytes to a row."""

    def seal(self, value: Any, context: str) -> bytes: ...

    def open(self, sealed: bytes, context: str) -> Any: ...


class PlainPayloads:
    """Payloads stored as UTF-8 JSON: tests of the protocol only. Every site seals them
    (the nodes with :mod:`node.sealing`, the hub with
    :class:`shared.storage.sealing.SealedPayloads`)."""

    def seal(self, value: Any, context: str) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    def open(self, sealed: bytes, context: str) -> Any:
        return json.loads(sealed)


class SyncEvent(Base):
    """One event as this site holds it; rows are inserted, never updated or deleted."""

    __tablename__ = "sync_events"
    __table_args__ = (UniqueConstraint("origin", "epoch", "seq"),
                      Index("ix_sync_events_actor", "actor", "at_ms"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    origin: Mapped[str] = mapped_column(String(15))
    epoch: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(80))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    recorded_ms: Mapped[int] = mapped_column(BigInteger)

    @property
    def at(self) -> datetime:
        """The origin's (corrected) time of the event."""
        return from_ms(self.at_ms)


class SyncOutbox(Base):
    """An event owed to the parent (``state`` PENDING until the parent's watermark covers it)."""

    __tablename__ = "sync_outbox"
    __table_args__ = (Index("ix_sync_outbox_state", "state", "event_id"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("sync_events.id"), primary_key=True)
    state: Mapped[int] = mapped_column(Integer, default=PENDING)
    enqueued_ms: Mapped[int] = mapped_column(BigInteger)
    done_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class SyncDown(Base):
    """One item of the downward stream toward ``child`` at ``(link_epoch, link_seq)``."""

    __tablename__ = "sync_down"
    __table_args__ = (UniqueConstraint("child", "link_epoch", "link_seq"),
                      Index("ix_sync_down_created", "created_ms"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    child: Mapped[str] = mapped_column(String(15))
    link_epoch: Mapped[int] = mapped_column(Integer)
    link_seq: Mapped[int] = mapped_column(Integer)
    item: Mapped[bytes] = mapped_column(LargeBinary)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class SyncState(Base):
    """A small durable record: ``parent_link``, ``child:<code>``, ``counter:<scope>``, ..."""

    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)


class SyncCredential(Base):
    """A certificate or key rotation this site holds; ``forward`` until sent to the parent."""

    __tablename__ = "sync_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(15), index=True)
    wire: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    forward: Mapped[bool] = mapped_column(Boolean, default=False)


class SyncRelease(Base):
    """A signed release this site accepted (the hub: published), by kind and version."""

    __tablename__ = "sync_releases"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    wire: Mapped[bytes] = mapped_column(LargeBinary)
    received_ms: Mapped[int] = mapped_column(BigInteger)


SYNC_TABLES = (SyncEvent, SyncOutbox, SyncDown, SyncState, SyncCredential, SyncRelease)

_EVENTS = cast(Table, SyncEvent.__table__)
_OUTBOX = cast(Table, SyncOutbox.__table__)
_DOWN = cast(Table, SyncDown.__table__)
_STATE = cast(Table, SyncState.__table__)
_IN_CHUNK = 1000
"""Values per IN list of a query by many keys."""


# -- records sealed at rest ---------------------------------------------------------------------


class RecordSealer(Protocol):
    """Seals bytes the sync layer keeps that carry events (and so personal data)."""

    def seal(self, data: bytes, context: str) -> bytes: ...

    def open(self, stored: bytes, context: str) -> bytes: ...


SEALED_RECORD_PREFIXES = ("link_history", "unrouted:")
"""``sync_state`` records that carry events: the link's compression history (the body of the
last request, at the child and at the parent) and events parked for a case not held yet.
``sync_down`` items (events going down) are sealed too."""

_RECORD_SEALERS: weakref.WeakKeyDictionary[Engine, RecordSealer] = weakref.WeakKeyDictionary()


def use_record_sealer(engine: Engine, sealer: RecordSealer) -> None:
    """Seal the event-carrying records of ``engine``'s database with ``sealer`` (every app
    attaches its site's; a store without one keeps them in clear, as tests of the protocol
    do). Records kept in clear before still read."""
    _RECORD_SEALERS[engine] = sealer


def _record_sealer(session: Session) -> RecordSealer | None:
    return _RECORD_SEALERS.get(session.get_bind().engine)


def _sealed_record(key: str) -> bool:
    return key.startswith(SEALED_RECORD_PREFIXES)


# -- counters and small records ----------------------------------------------------------------


def _insert(session: Session) -> Any:
    """The dialect's INSERT (both dialects the sites run on have ON CONFLICT)."""
    return sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert


def next_counter(session: Session, scope: str, step: int = 1) -> int:
    """Take the next ``step`` values of counter ``scope`` (1 first) in one statement; returns
    the last of them.

    The upsert takes the row's write lock, so concurrent authors of one chain (threads on
    SQLite, hub processes on PostgreSQL) are serialised until the caller commits.
    """
    key = f"counter:{scope}"
    statement = (
        _insert(session)(_STATE)
        .values(key=key, value=b"", counter=step)
        .on_conflict_do_update(index_elements=["key"], set_={"counter": _STATE.c.counter + step})
        .returning(_STATE.c.counter)
    )
    return int(session.execute(statement).scalar_one())


def read_state(session: Session, key: str, *, lock: bool = False) -> bytes | None:
    """The record ``key``; ``lock`` holds it (FOR UPDATE) until the transaction ends."""
    query = select(SyncState.value).where(SyncState.key == key)
    if lock:
        query = query.with_for_update()
    value = session.scalar(query)
    if value is None:
        return None
    sealer = _record_sealer(session) if _sealed_record(key) else None
    return bytes(value) if sealer is None else sealer.open(bytes(value), f"state:{key}")


def read_states(session: Session, keys: Iterable[str]) -> dict[str, bytes]:
    """The records among ``keys`` that are held, in one statement (none locked)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found: dict[str, bytes] = {}
    for key, value in session.execute(select(SyncState.key, SyncState.value)
                                      .where(SyncState.key.in_(wanted))):
        sealer = _record_sealer(session) if _sealed_record(key) else None
        found[key] = (bytes(value) if sealer is None
                      else sealer.open(bytes(value), f"state:{key}"))
    return found


def write_state(session: Session, key: str, value: bytes) -> None:
    """Set the record ``key`` (created with counter 0)."""
    write_states(session, {key: value})


def write_states(session: Session, values: Mapping[str, bytes]) -> None:
    """Set several records in one statement (created with counter 0); objects of them the
    session holds are expired, so a later read sees the new values."""
    sealer = _record_sealer(session)
    if sealer is not None:
        values = {k: sealer.seal(v, f"state:{k}") if v and _sealed_record(k) else v
                  for k, v in values.items()}
    insert_rows(session, _STATE, [{"key": k, "value": v, "counter": 0}
                                  for k, v in values.items()],
                on_conflict=OnConflict(("key",), ("value",)))
    for key in values:
        held = session.identity_map.get(identity_key(SyncState, key))
        if held is not None:
            session.expire(held)


# -- events --------------------------------------------------------------------------------------


def event_context(origin: str, epoch: int, seq: int) -> str:
    """The sealing context of an event's payload."""
    return f"event:{origin}:{epoch}:{seq}"


def _event_values(event: Event, sealer: PayloadSealer, now_ms: int) -> dict[str, Any]:
    sig = event.signature
    return {
        "case_id": event.case_id, "origin": event.origin, "epoch": event.epoch,
        "seq": event.seq, "actor": event.actor, "at_ms": to_ms(event.at), "type": event.type,
        "payload": sealer.seal(dict(event.payload),
                               event_context(event.origin, event.epoch, event.seq)),
        "prev_hash": event.prev_hash, "hash": event.hash,
        "key_id": sig.key_id if sig else None, "signature": sig.value if sig else None,
        "recorded_ms": now_ms,
    }


def _insert_events(session: Session, events: Sequence[Event], sealer: PayloadSealer,
                   now_ms: int) -> dict[tuple[str, int, int], int]:
    """Insert the events not held yet, in order, in one statement; returns the new rows' ids
    by ``(origin, epoch, seq)``."""
    rows = insert_rows(session, _EVENTS, [_event_values(e, sealer, now_ms) for e in events],
                       on_conflict=OnConflict(("origin", "epoch", "seq")),
                       returning=("id", "origin", "epoch", "seq"))
    return {(r.origin, r.epoch, r.seq): int(r.id) for r in rows}


def _queue_up(session: Session, event_ids: Sequence[int], now_ms: int) -> None:
    insert_rows(session, _OUTBOX, [{"event_id": i, "state": PENDING, "enqueued_ms": now_ms}
                                   for i in event_ids])


def as_event(row: SyncEvent, sealer: PayloadSealer) -> Event:
    """The protocol's :class:`Event` for a stored row (payload opened)."""
    payload = sealer.open(row.payload, event_context(row.origin, row.epoch, row.seq))
    signature = (
        Signature(bytes(row.key_id), bytes(row.signature))
        if row.key_id is not None and row.signature is not None
        else None
    )
    return Event(row.case_id, row.origin, row.epoch, row.seq, row.actor, from_ms(row.at_ms),
                 row.type, payload, bytes(row.prev_hash), bytes(row.hash), signature)


def open_payload(row: Any, sealer: PayloadSealer) -> dict[str, Any]:
    """The payload of a stored event (a :class:`SyncEvent` or a row with its columns)."""
    payload = sealer.open(row.payload, event_context(row.origin, row.epoch, row.seq))
    assert isinstance(payload, dict)
    return payload


@dataclass(frozen=True, slots=True)
class OwnEvent:
    """An event this site is about to author: everything but its place in the chain."""

    case_id: uuid.UUID
    actor: str
    type: str
    payload: Mapping[str, Any]
    at_ms: int


def author_events(session: Session, key: SiteKey, sealer: PayloadSealer, events:
                  Sequence[OwnEvent], *, epoch: int, up: bool, now_ms: int) -> list[Event]:
    """Append ``events`` as the next events of this site's chain, hashed and each signed,
    in two statements whatever their number, and queue them for the parent when ``up``.

    The counter is advanced by the whole batch at once: its row stays locked until the
    caller commits, so the chain head read here cannot move under us. Nothing is committed.
    """
    if not events:
        return []
    origin = key.site
    last = next_counter(session, f"chain:{origin}:{epoch}", len(events))
    first = last - len(events) + 1
    if first == 1:
        prev = genesis_hash(origin, epoch)
    else:
        prev_row = session.scalar(select(SyncEvent.hash).where(
            SyncEvent.origin == origin, SyncEvent.epoch == epoch, SyncEvent.seq == first - 1))
        if prev_row is None:
            raise RuntimeError(f"chain {origin}/{epoch} has no event {first - 1}")
        prev = bytes(prev_row)
    head = ChainHead(origin, epoch, first - 1, prev)
    authored: list[Event] = []
    for own in events:
        event = append_event(head, key, case_id=own.case_id, actor=own.actor,
                             at=from_ms(own.at_ms), type=own.type, payload=dict(own.payload))
        authored.append(event)
        head = event.head
    ids = _insert_events(session, authored, sealer, now_ms)
    if len(ids) != len(authored):
        raise RuntimeError(f"chain {origin}/{epoch} already holds events {first}-{last}")
    if up:
        _queue_up(session, [ids[(e.origin, e.epoch, e.seq)] for e in authored], now_ms)
    return authored


def author_event(
    session: Session,
    key: SiteKey,
    sealer: PayloadSealer,
    *,
    epoch: int,
    case_id: uuid.UUID,
    actor: str,
    type: str,
    payload: Mapping[str, Any],
    at_ms: int,
    up: bool,
    now_ms: int,
) -> SyncEvent:
    """:func:`author_events` for one event, returned as its stored row."""
    event, = author_events(session, key, sealer, [OwnEvent(case_id, actor, type, payload, at_ms)],
                           epoch=epoch, up=up, now_ms=now_ms)
    return _held_row(session, event)


def _held_row(session: Session, event: Event) -> SyncEvent:
    return session.scalars(select(SyncEvent).where(
        SyncEvent.origin == event.origin, SyncEvent.epoch == event.epoch,
        SyncEvent.seq == event.seq)).one()


def store_received_many(session: Session, sealer: PayloadSealer, events: Sequence[Event], *,
                        up: bool, now_ms: int) -> list[Event]:
    """Insert the events that arrived from a child or the parent and are not held yet, and
    queue them for the parent when ``up``; returns those stored, in arrival order. A
    duplicate (another process stored it first) is skipped by the unique key, not an error."""
    ids = _insert_events(session, events, sealer, now_ms)
    stored = [e for e in events if (e.origin, e.epoch, e.seq) in ids]
    if up:
        _queue_up(session, [ids[(e.origin, e.epoch, e.seq)] for e in stored], now_ms)
    return stored


def is_held(session: Session, origin: str, epoch: int, seq: int) -> bool:
    return (
        session.scalar(
            select(SyncEvent.id).where(
                SyncEvent.origin == origin, SyncEvent.epoch == epoch, SyncEvent.seq == seq
            )
        )
        is not None
    )


def held_seqs(session: Session, origin: str, epoch: int, from_seq: int) -> set[int]:
    """The seqs of chain ``(origin, epoch)`` held here from ``from_seq`` on, in one query."""
    return set(session.scalars(select(SyncEvent.seq).where(
        SyncEvent.origin == origin, SyncEvent.epoch == epoch, SyncEvent.seq >= from_seq)))


def case_rows(session: Session, case_id: uuid.UUID) -> list[SyncEvent]:
    """A case's events in the order this site recorded them."""
    return list(
        session.scalars(select(SyncEvent).where(SyncEvent.case_id == case_id)
                        .order_by(SyncEvent.id))
    )


def case_events_held(session: Session, sealer: PayloadSealer,
                     case_id: uuid.UUID) -> list[Event]:
    """A case's events as the protocol carries them, in the order this site recorded them."""
    return [as_event(row, sealer) for row in case_rows(session, case_id)]


def branch_crossing_cases(session: Session, sealer: PayloadSealer,
                          case_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The cases held here that may be sent down another branch by a site above (全城通办):
    registered with a ``competent_area``, or referred. Their events go up each with its own
    signature (``sync_protocol.batching.select_runs``); every other case keeps one
    signature per run."""
    wanted = sorted(set(case_ids))
    found: set[uuid.UUID] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        rows = session.scalars(select(SyncEvent).where(
            SyncEvent.type.in_(("registered", "referred")),
            SyncEvent.case_id.in_(wanted[start:start + _IN_CHUNK])))
        for row in rows:
            if row.type == "referred":
                found.add(row.case_id)
                continue
            payload = sealer.open(row.payload, event_context(row.origin, row.epoch, row.seq))
            if isinstance(payload, dict) and payload.get("competent_area"):
                found.add(row.case_id)
    return found


def referred_destinations(session: Session, sealer: PayloadSealer,
                          case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
    """Where each case held here goes besides its origin (全城通办): the office its last
    ``referred`` event names (``to``) and, when the applicant chose one, the station of
    that office's area that hands the result over (``handover``); one query per chunk.
    Cases never referred are absent."""
    wanted = sorted(set(case_ids))
    found: dict[uuid.UUID, tuple[str, ...]] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        rows = session.scalars(select(SyncEvent).where(
            SyncEvent.type == "referred", SyncEvent.case_id.in_(wanted[start:start + _IN_CHUNK]))
            .order_by(SyncEvent.id))
        for row in rows:
            payload = sealer.open(row.payload, event_context(row.origin, row.epoch, row.seq))
            if isinstance(payload, dict) and isinstance(payload.get("to"), str):
                found[row.case_id] = tuple(
                    str(payload[k]) for k in ("to", "handover") if isinstance(payload.get(k), str))
    return found


def case_origins(session: Session, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The site that registered each case held here, in one query."""
    wanted = sorted(set(case_ids))
    found: dict[uuid.UUID, str] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        rows = session.execute(select(SyncEvent.case_id, SyncEvent.origin).where(
            SyncEvent.case_id.in_(wanted[start:start + _IN_CHUNK]),
            SyncEvent.type == "registered"))
        found.update({r.case_id: str(r.origin) for r in rows})
    return found


def opening_keys(session: Session, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, EventKey]:
    """The key of the event that opened each case held here, for the cases whose id derives
    from it (``case_id_for``): the lowest-seq such event of the case. Cases with random ids
    are not looked up; one query per thousand cases."""
    wanted = sorted({c for c in case_ids if c.version == 8})
    found: dict[uuid.UUID, EventKey] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        rows = session.execute(
            select(SyncEvent.case_id, SyncEvent.origin, SyncEvent.epoch, SyncEvent.seq)
            .where(SyncEvent.case_id.in_(wanted[start:start + _IN_CHUNK]))
            .order_by(SyncEvent.case_id, SyncEvent.seq))
        for r in rows:
            if r.case_id not in found and is_derived(r.case_id, r.origin, r.epoch, r.seq):
                found[r.case_id] = EventKey(str(r.origin), int(r.epoch), int(r.seq))
    return found


def case_logs(session: Session, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    """:func:`case_rows` of many cases in one query per thousand cases, as plain rows (the
    columns of :class:`SyncEvent` but ``at``): no ORM objects for a batch's thousands."""
    wanted = sorted(set(case_ids))
    logs: dict[uuid.UUID, list[Any]] = {c: [] for c in wanted}
    columns = [c for c in _EVENTS.c if c.name not in ("prev_hash", "hash", "key_id",
                                                        "signature")]
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start:start + _IN_CHUNK]
        for row in session.execute(select(*columns).where(_EVENTS.c.case_id.in_(chunk))
                                   .order_by(_EVENTS.c.id)):
            logs[row.case_id].append(row)
    return logs


# -- the outbox toward the parent -----------------------------------------------------------


def pending_up(session: Session, sealer: PayloadSealer, limit: int) -> list[Event]:
    """The oldest events still owed to the parent, at most ``limit``."""
    rows = session.scalars(
        select(SyncEvent)
        .join(SyncOutbox, SyncOutbox.event_id == SyncEvent.id)
        .where(SyncOutbox.state == PENDING)
        .order_by(SyncOutbox.event_id)
        .limit(limit)
    )
    return [as_event(r, sealer) for r in rows]


def count_pending_up(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SyncOutbox)
                              .where(SyncOutbox.state == PENDING)) or 0)


def _outbox_ids(session: Session, origin: str, epoch: int, *, state: int) -> Any:
    return (
        select(SyncOutbox.event_id)
        .join(SyncEvent, SyncEvent.id == SyncOutbox.event_id)
        .where(SyncOutbox.state == state, SyncEvent.origin == origin, SyncEvent.epoch == epoch)
    )


def ack_up(session: Session, watermarks: Mapping[tuple[str, int], int],
           now_ms: int) -> set[uuid.UUID]:
    """Mark every pending event at or below its chain's watermark acknowledged; returns the
    cases those events belong to (an ack repeated changes nothing)."""
    cases: set[uuid.UUID] = set()
    for (origin, epoch), through in watermarks.items():
        ids = list(session.scalars(
            _outbox_ids(session, origin, epoch, state=PENDING).where(SyncEvent.seq <= through)
        ))
        if not ids:
            continue
        cases.update(session.scalars(select(SyncEvent.case_id).where(SyncEvent.id.in_(ids))))
        session.execute(
            update(SyncOutbox).where(SyncOutbox.event_id.in_(ids))
            .values(state=ACKED, done_ms=now_ms).execution_options(synchronize_session=False)
        )
    return cases


def reopen_above(session: Session, watermarks: Mapping[tuple[str, int], int]) -> None:
    """After a complete answer: acked events above the parent's watermark are owed again
    (the parent was restored from an older backup)."""
    rows = session.execute(
        select(SyncOutbox.event_id, SyncEvent.origin, SyncEvent.epoch, SyncEvent.seq)
        .join(SyncEvent, SyncEvent.id == SyncOutbox.event_id)
        .where(SyncOutbox.state == ACKED)
    )
    again = [r.event_id for r in rows if r.seq > watermarks.get((r.origin, r.epoch), 0)]
    if again:
        session.execute(
            update(SyncOutbox).where(SyncOutbox.event_id.in_(again))
            .values(state=PENDING, done_ms=None).execution_options(synchronize_session=False)
        )


def dead_letter(session: Session, origin: str, epoch: int, first_seq: int, reason: str,
                now_ms: int) -> None:
    """Events the parent refused for good: kept, no longer sent, reason recorded."""
    ids = _outbox_ids(session, origin, epoch, state=PENDING).where(SyncEvent.seq >= first_seq)
    session.execute(
        update(SyncOutbox).where(SyncOutbox.event_id.in_(ids))
        .values(state=DEAD, done_ms=now_ms, reason=reason[:500])
        .execution_options(synchronize_session=False)
    )


# -- payloads kept in clear by an earlier release ------------------------------------------------

SEALED_THROUGH_KEY = "payloads_sealed_through"
"""The highest ``sync_events.id`` the start-up sealing has looked at (it resumes there)."""
_SEAL_BATCH = 1000


def seal_clear_payloads(session: Session, sealer: PayloadSealer) -> int:
    """Seal the payloads an earlier release stored in clear (JSON, starting with ``{``), a
    thousand rows per SELECT and one executemany UPDATE each, from where the last run
    stopped; returns how many were sealed. Rows are re-sealed in place: the event, its hash
    and signature are unchanged. The caller commits."""
    held = read_state(session, SEALED_THROUGH_KEY)
    after = int(held.decode()) if held else 0
    top = session.scalar(select(func.max(SyncEvent.id))) or 0
    clear = func.substr(SyncEvent.payload, 1, 1) == b"{"
    statement = (update(_EVENTS).where(_EVENTS.c.id == bindparam("row_id"))
                 .values(payload=bindparam("sealed")))
    sealed = 0
    while after < top:  # ``after`` moves on by a batch's worth of ids each pass
        upto = min(after + _SEAL_BATCH, top)
        rows = session.execute(
            select(SyncEvent.id, SyncEvent.origin, SyncEvent.epoch, SyncEvent.seq,
                   SyncEvent.payload)
            .where(SyncEvent.id > after, SyncEvent.id <= upto, clear)).all()
        if rows:
            session.execute(statement, [
                {"row_id": r.id, "sealed": sealer.seal(
                    json.loads(r.payload), event_context(r.origin, r.epoch, r.seq))}
                for r in rows])
            sealed += len(rows)
        after = upto
    write_state(session, SEALED_THROUGH_KEY, str(after).encode())
    return sealed


def newest_sealed_payload(session: Session) -> bytes | None:
    """The stored form of the newest sealed payload (``None``: none is sealed yet)."""
    found = session.scalar(select(SyncEvent.payload)
                           .where(func.substr(SyncEvent.payload, 1, 1) == ROW_FORMAT)
                           .order_by(SyncEvent.id.desc()).limit(1))
    return None if found is None else bytes(found)


RECORDS_SEALED_THROUGH_KEY = "records_sealed_through"
"""The highest ``sync_down.id`` the start-up sealing of records has looked at."""


def seal_clear_records(session: Session, sealer: RecordSealer) -> int:
    """Seal the event-carrying records an earlier release kept in clear: the downward
    streams' items (a thousand per SELECT and one UPDATE statement each, from where the last
    run stopped) and the ``sync_state`` records named by :data:`SEALED_RECORD_PREFIXES`.
    Returns how many were sealed; the caller commits."""
    held = read_state(session, RECORDS_SEALED_THROUGH_KEY)
    after = int(held.decode()) if held else 0
    top = session.scalar(select(func.max(SyncDown.id))) or 0
    clear = func.substr(SyncDown.item, 1, len(RECORD_MAGIC)) != RECORD_MAGIC
    items = (update(_DOWN).where(_DOWN.c.id == bindparam("row_id"))
             .values(item=bindparam("sealed")))
    sealed = 0
    while after < top:  # ``after`` moves on by a batch's worth of ids each pass
        upto = min(after + _SEAL_BATCH, top)
        rows = session.execute(
            select(SyncDown.id, SyncDown.child, SyncDown.link_epoch, SyncDown.link_seq,
                   SyncDown.item)
            .where(SyncDown.id > after, SyncDown.id <= upto, clear)).all()
        if rows:
            session.execute(items, [
                {"row_id": r.id, "sealed": sealer.seal(bytes(r.item), _down_context(
                    r.child, LinkPosition(r.link_epoch, r.link_seq)))} for r in rows])
            sealed += len(rows)
        after = upto
    write_state(session, RECORDS_SEALED_THROUGH_KEY, str(after).encode())
    states = session.execute(select(SyncState.key, SyncState.value).where(
        or_(*(SyncState.key.startswith(p) for p in SEALED_RECORD_PREFIXES)))).all()
    values = [{"row_key": r.key, "sealed": sealer.seal(bytes(r.value), f"state:{r.key}")}
              for r in states if r.value and _sealed_record(r.key)
              and not bytes(r.value).startswith(RECORD_MAGIC)]
    if values:
        session.execute(update(_STATE).where(_STATE.c.key == bindparam("row_key"))
                        .values(value=bindparam("sealed")), values)
    return sealed + len(values)


# -- the downward streams ------------------------------------------------------------------------


def enqueue_down(session: Session, child: str, item: Event | Receipt, *, epoch: int,
                 now_ms: int) -> LinkPosition:
    """Append ``item`` to the stream toward ``child``."""
    return enqueue_down_many(session, [(child, item)], epoch=epoch, now_ms=now_ms)[0]


def enqueue_down_many(session: Session, items: Sequence[tuple[str, Event | Receipt]], *,
                      epoch: int, now_ms: int) -> list[LinkPosition]:
    """Append each ``(child, item)`` to the stream toward that child, in order: one counter
    statement per child and one INSERT for all. Returns the positions given."""
    sealer = _record_sealer(session)
    per_child: dict[str, int] = {}
    for child, _ in items:
        per_child[child] = per_child.get(child, 0) + 1
    next_seq = {child: next_counter(session, f"down:{child}:{epoch}", n) - n + 1
                for child, n in per_child.items()}
    positions: list[LinkPosition] = []
    rows: list[dict[str, Any]] = []
    for child, item in items:
        position = LinkPosition(epoch, next_seq[child])
        next_seq[child] += 1
        positions.append(position)
        wire = cbor2.dumps(down_item_to_wire(DownItem(position, item)), canonical=True)
        if sealer is not None:
            wire = sealer.seal(wire, _down_context(child, position))
        rows.append({"child": child, "link_epoch": epoch, "link_seq": position.seq,
                     "item": wire, "created_ms": now_ms})
    insert_rows(session, _DOWN, rows)
    return positions


def down_after(session: Session, child: str, after: LinkPosition, limit: int) -> list[DownItem]:
    """The items toward ``child`` after its ack, in order, at most ``limit``."""
    sealer = _record_sealer(session)
    rows = session.execute(
        select(SyncDown.link_epoch, SyncDown.link_seq, SyncDown.item)
        .where(SyncDown.child == child)
        .where(
            (SyncDown.link_epoch > after.epoch)
            | ((SyncDown.link_epoch == after.epoch) & (SyncDown.link_seq > after.seq))
        )
        .order_by(SyncDown.link_epoch, SyncDown.link_seq)
        .limit(limit)
    )
    items: list[DownItem] = []
    for row in rows:
        wire = bytes(row.item)
        if sealer is not None:
            wire = sealer.open(wire, _down_context(child, LinkPosition(row.link_epoch,
                                                                       row.link_seq)))
        position, kind, fields = down_item_from_wire(cbor2.loads(wire))
        items.append(DownItem(position, down_payload(kind, fields)))
    return items


def rewrite_delivered_down(session: Session, made_ms: Iterable[int],
                           delivered: Callable[[str], LinkPosition],
                           change: Callable[[Event], Event | None]) -> tuple[int, int]:
    """Rewrite the queued copies of events that a child has already acknowledged: each
    copy made at one of the times ``made_ms`` (an event is queued down in the transaction
    that stores it) at or below ``delivered(child)`` whose event
    ``change`` returns a new form for is stored again in that form, sealed as before. A
    copy not yet delivered is left as it is: its receiver checks it against its hash.
    Returns the number of copies rewritten and the number still waiting for delivery."""
    sealer = _record_sealer(session)
    acked: dict[str, LinkPosition] = {}
    changed: list[dict[str, Any]] = []
    waiting = 0
    rows = session.execute(select(SyncDown.id, SyncDown.child, SyncDown.link_epoch,
                                  SyncDown.link_seq, SyncDown.item)
                           .where(SyncDown.created_ms.in_(sorted(set(made_ms)))))
    for row in rows:
        through = acked.get(row.child)
        if through is None:
            through = acked[row.child] = delivered(row.child)
        position = LinkPosition(row.link_epoch, row.link_seq)
        wire = bytes(row.item)
        context = _down_context(row.child, position)
        if sealer is not None:
            wire = sealer.open(wire, context)
        _, kind, fields = down_item_from_wire(cbor2.loads(wire))
        item = down_payload(kind, fields)
        new = change(item) if isinstance(item, Event) else None
        if new is None:
            continue
        if (position.epoch, position.seq) > (through.epoch, through.seq):
            waiting += 1
            continue
        wire = cbor2.dumps(down_item_to_wire(DownItem(position, new)), canonical=True)
        if sealer is not None:
            wire = sealer.seal(wire, context)
        changed.append({"row_id": row.id, "new_item": wire})
    if changed:
        session.execute(update(_DOWN).where(_DOWN.c.id == bindparam("row_id"))
                        .values(item=bindparam("new_item")), changed)
    return len(changed), waiting


def _down_context(child: str, position: LinkPosition) -> str:
    return f"down:{child}:{position.epoch}:{position.seq}"


def count_down_after(session: Session, child: str, after: LinkPosition) -> int:
    return int(session.scalar(
        select(func.count()).select_from(SyncDown).where(SyncDown.child == child).where(
            (SyncDown.link_epoch > after.epoch)
            | ((SyncDown.link_epoch == after.epoch) & (SyncDown.link_seq > after.seq))
        )
    ) or 0)


UNROUTED_PREFIX = "unrouted:"


def park_unrouted(session: Session, events: Sequence[Event]) -> None:
    """Keep events that came down for a case this site does not hold yet, until the case
    arrives from below (:func:`take_unrouted`). A relay restored from an older backup gets
    its parent's stream again before its children send the cases again."""
    by_case: dict[uuid.UUID, list[Event]] = {}
    for event in events:
        by_case.setdefault(event.case_id, []).append(event)
    values: dict[str, bytes] = {}
    for case_id, parked in by_case.items():
        key = f"{UNROUTED_PREFIX}{case_id}"
        held = read_state(session, key)
        wires = list(cbor2.loads(held)) if held else []
        # the down item's wire form (the position is a placeholder: it is not on any link)
        wires += [down_item_to_wire(DownItem(LinkPosition(1, 1), e)) for e in parked]
        values[key] = cbor2.dumps(wires, canonical=True)
    if values:
        write_states(session, values)


def take_unrouted(session: Session, case_ids: Iterable[uuid.UUID]) -> list[Event]:
    """The events parked for these cases, in the order they came; they are no longer kept."""
    keys = sorted(f"{UNROUTED_PREFIX}{c}" for c in set(case_ids))
    found: list[Event] = []
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start:start + _IN_CHUNK]
        rows = session.execute(select(SyncState.key, SyncState.value)
                               .where(SyncState.key.in_(chunk)).order_by(SyncState.key)).all()
        if not rows:
            continue
        sealer = _record_sealer(session)
        for row in rows:
            value = bytes(row.value)
            if sealer is not None:
                value = sealer.open(value, f"state:{row.key}")
            for wire in cbor2.loads(value):
                _, kind, fields = down_item_from_wire(wire)
                item = down_payload(kind, fields)
                if isinstance(item, Event):
                    found.append(item)
        session.execute(delete(SyncState).where(SyncState.key.in_([r.key for r in rows]))
                        .execution_options(synchronize_session=False))
    return found


# -- credentials, releases and the keyring ----------------------------------------------------


def add_credentials(session: Session, credentials: Iterable[Credential], *,
                    forward: bool) -> int:
    """Keep credentials not held yet; ``forward`` marks them for the parent. Returns new ones."""
    added = 0
    for credential in credentials:
        wire = cbor2.dumps(credential.to_wire(), canonical=True)
        if session.scalar(select(SyncCredential.id).where(SyncCredential.wire == wire)):
            continue
        session.add(SyncCredential(site=credential.site, wire=wire, forward=forward))
        added += 1
    session.flush()
    if added:
        _forget_credentials_version(session)
    return added


def all_credentials(session: Session) -> list[Credential]:
    return [credential_from_wire(cbor2.loads(w))
            for w in session.scalars(select(SyncCredential.wire).order_by(SyncCredential.id))]


def credentials_to_forward(session: Session) -> list[Credential]:
    rows = session.scalars(select(SyncCredential.wire).where(SyncCredential.forward.is_(True))
                           .order_by(SyncCredential.id))
    return [credential_from_wire(cbor2.loads(w)) for w in rows]


def forwarded(session: Session, credentials: Sequence[Credential]) -> None:
    wires = [cbor2.dumps(c.to_wire(), canonical=True) for c in credentials]
    if wires:
        session.execute(update(SyncCredential).where(SyncCredential.wire.in_(wires))
                        .values(forward=False).execution_options(synchronize_session=False))


def forward_again(session: Session, site: str) -> None:
    """The parent does not know ``site``'s key: send its credentials with the next request."""
    session.execute(update(SyncCredential).where(SyncCredential.site == site)
                    .values(forward=True).execution_options(synchronize_session=False))


def keep_release(session: Session, release: Release, now_ms: int) -> bool:
    if session.get(SyncRelease, (release.kind, release.version)) is not None:
        return False
    session.add(SyncRelease(kind=release.kind, version=release.version,
                            wire=cbor2.dumps(release.to_wire(), canonical=True),
                            received_ms=now_ms))
    session.flush()
    _forget_credentials_version(session)
    return True


def latest_releases(session: Session) -> list[Release]:
    """The newest release of each kind held (what a parent passes down)."""
    rows = session.scalars(select(SyncRelease).order_by(SyncRelease.kind,
                                                        SyncRelease.version.desc()))
    latest: dict[str, Release] = {}
    for row in rows:
        if row.kind not in latest:
            latest[row.kind] = release_from_wire(cbor2.loads(row.wire))
    return list(latest.values())


def release_versions(session: Session) -> dict[str, int]:
    return {r.kind: r.version for r in latest_releases(session)}


_KEYRINGS: weakref.WeakKeyDictionary[
    Engine, dict[tuple[int, int, bytes, int, str, bytes], KeyRing]] = weakref.WeakKeyDictionary()
_VERSION = "sanji.credentials_version"


def credentials_version(session: Session) -> tuple[int, int, bytes, int]:
    """What the keyring and the tree of certified sites are built from, in one small query
    per transaction: the newest credential's id and wire form and the count (credentials
    are only ever added; the wire tells apart a credential that took the id of one rolled
    back) and the newest revocations release. Adding either forgets it."""
    transaction = session.get_transaction()
    held = session.info.get(_VERSION)
    if held is not None and transaction is not None and held[0] is transaction:
        return cast(tuple[int, int, bytes, int], held[1])
    revoked = (select(func.max(SyncRelease.version))
               .where(SyncRelease.kind == "revocations").scalar_subquery())
    newest_wire = (select(SyncCredential.wire).order_by(SyncCredential.id.desc()).limit(1)
                   .scalar_subquery())
    newest, count, wire, revocations = session.execute(
        select(func.max(SyncCredential.id), func.count(SyncCredential.id), newest_wire,
               revoked)).one()
    version = (int(newest or 0), int(count or 0), bytes(wire or b""), int(revocations or 0))
    session.info[_VERSION] = (session.get_transaction(), version)
    return version


def _forget_credentials_version(session: Session) -> None:
    session.info.pop(_VERSION, None)


def build_keyring(session: Session, hub_site: str, hub_public_raw: bytes) -> KeyRing:
    """The keys this site believes: the pinned hub key, every credential held, minus the
    revocations of the newest revocation release.

    Checking every certificate costs a signature each, so the ring is kept per process and
    rebuilt only when a credential or a revocations release was added (both are only ever
    added); the caller gets its own copy to add a request's credentials to."""
    cache_key = (*credentials_version(session), hub_site, hub_public_raw)
    kept = _KEYRINGS.setdefault(session.get_bind().engine, {})
    cached = kept.get(cache_key)
    if cached is not None:
        return cached.copy()
    ring = KeyRing(hub_site, hub_public_raw)
    # in any order (a hub's rotations and the certificates vouching back for its earlier
    # keys); a credential that no longer checks is skipped
    ring.add_any_order(all_credentials(session))
    for release in latest_releases(session):
        if release.kind == "revocations":
            ring.revoke(revocations_in(release))
    kept.clear()  # only the newest ring of a database is asked for again
    kept[cache_key] = ring
    return ring.copy()


def pending_through(session: Session, sealer: PayloadSealer,
                    watermarks: Mapping[tuple[str, int], int], *,
                    skip: Iterable[tuple[str, int, int]] = ()) -> list[Event]:
    """The events still owed to the parent that ``watermarks`` cover (read them before
    :func:`ack_up` marks them), except the ``(origin, epoch, seq)`` keys in ``skip`` that the
    caller already has open: the glue offers the scans those events reference."""
    known = set(skip)
    found: list[Event] = []
    for (origin, epoch), through in watermarks.items():
        rows = session.execute(
            select(SyncEvent.id, SyncEvent.seq)
            .join(SyncOutbox, SyncOutbox.event_id == SyncEvent.id)
            .where(SyncOutbox.state == PENDING, SyncEvent.origin == origin,
                   SyncEvent.epoch == epoch, SyncEvent.seq <= through)
        ).all()
        ids = [r.id for r in rows if (origin, epoch, r.seq) not in known]
        if ids:
            found += [as_event(r, sealer) for r in
                      session.scalars(select(SyncEvent).where(SyncEvent.id.in_(ids))
                                      .order_by(SyncEvent.seq))]
    return found


# -- scans the site's events reference ------------------------------------------------------
#
# One ``sync_state`` row per blob, key ``blob:<sha256 hex>``, its ``counter`` the upward
# state (so the rows still owed to the parent are found without opening the others), its
# value a small CBOR map. The file itself is in the site's BlobStore.

BLOB_KEY_PREFIX = "blob:"
BLOB_NOT_OWED, BLOB_OWED, BLOB_DONE, BLOB_BROKEN, BLOB_ERASED = 0, 1, 2, 3, 4
"""Upward states of a blob: not (yet) owed to the parent (its events are not acked there,
or this is the root); owed (offer it, then send what the parent wants); the parent holds it
whole; not sendable (the file here does not hash to its name); erased with its case (never
offered, never wanted again)."""


@dataclass
class BlobRecord:
    """What a site knows of one blob its events reference."""

    sha256: str
    size: int
    media_type: str = ""
    state: int = BLOB_NOT_OWED
    held: bool = False
    """The whole file is in this site's blob store."""
    want: int | None = None
    """The offset the parent last asked for; None until it answered an offer."""
    sent: int = 0
    """Chunk bytes sent to the parent (all attempts)."""
    noted_ms: int = 0
    done_ms: int | None = None

    def to_value(self) -> bytes:
        return cbor2.dumps({0: self.size, 1: self.media_type, 2: self.held, 3: self.want,
                            4: self.sent, 5: self.noted_ms, 6: self.done_ms}, canonical=True)

    @classmethod
    def from_row(cls, key: str, value: bytes, counter: int) -> BlobRecord:
        m = cbor2.loads(value)
        return cls(sha256=key[len(BLOB_KEY_PREFIX):], size=int(m[0]), media_type=str(m[1]),
                   state=int(counter), held=bool(m[2]),
                   want=None if m[3] is None else int(m[3]), sent=int(m[4]),
                   noted_ms=int(m[5]), done_ms=None if m[6] is None else int(m[6]))


def blob_record(session: Session, sha256: str) -> BlobRecord | None:
    return blob_records_of(session, [sha256]).get(sha256)


def blob_records_of(session: Session, shas: Iterable[str]) -> dict[str, BlobRecord]:
    """The records of the blobs ``shas`` that this site knows, one query per thousand."""
    keys = sorted({BLOB_KEY_PREFIX + sha for sha in shas})
    found: dict[str, BlobRecord] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        rows = session.execute(select(SyncState.key, SyncState.value, SyncState.counter)
                               .where(SyncState.key.in_(keys[start:start + _IN_CHUNK])))
        for r in rows:
            record = BlobRecord.from_row(r.key, bytes(r.value), int(r.counter))
            found[record.sha256] = record
    return found


def add_blob_records(session: Session, records: Sequence[BlobRecord]) -> set[str]:
    """Insert the records of blobs not known yet (two hub processes may note the same scan at
    once: the second skips it); returns the hashes inserted."""
    rows = insert_rows(session, _STATE, [
        {"key": BLOB_KEY_PREFIX + r.sha256, "value": r.to_value(), "counter": r.state}
        for r in records], on_conflict=OnConflict(("key",)), returning=("key",))
    return {str(r.key)[len(BLOB_KEY_PREFIX):] for r in rows}


def save_blob_record(session: Session, record: BlobRecord) -> None:
    session.execute(
        update(SyncState).where(SyncState.key == BLOB_KEY_PREFIX + record.sha256)
        .values(value=record.to_value(), counter=record.state)
        .execution_options(synchronize_session=False)
    )


BLOB_CASE_PREFIX = "blobcase:"
"""``blobcase:<sha256>:<case id>``: a case whose events name the scan (one row each, kept in
``sync_state`` beside the blob's record), so an erasure keeps a scan another case still
lists, whichever site registered it (a relay holds other sites' cases)."""


def note_blob_cases(session: Session, pairs: Iterable[tuple[str, uuid.UUID]]) -> None:
    """Remember that each case of ``pairs`` names its scan (already known pairs are kept)."""
    keys = sorted({f"{BLOB_CASE_PREFIX}{sha}:{case_id}" for sha, case_id in pairs})
    insert_rows(session, _STATE, [{"key": k, "value": b"", "counter": 0} for k in keys],
                on_conflict=OnConflict(("key",)))


def blob_cases(session: Session, sha256: str) -> set[uuid.UUID]:
    """The cases known here to name the scan ``sha256`` (a range of the primary key)."""
    low = f"{BLOB_CASE_PREFIX}{sha256}:"
    keys = session.scalars(select(SyncState.key).where(
        SyncState.key >= low, SyncState.key < f"{BLOB_CASE_PREFIX}{sha256};"))
    return {uuid.UUID(str(k)[len(low):]) for k in keys}


def _blob_keys() -> Any:
    # a range on the primary key rather than LIKE, so the index serves it everywhere
    return (SyncState.key >= BLOB_KEY_PREFIX) & (SyncState.key < "blob;")


def blob_records(session: Session, state: int) -> list[BlobRecord]:
    """The blobs in ``state``, oldest noted first."""
    rows = session.execute(select(SyncState.key, SyncState.value, SyncState.counter)
                           .where(_blob_keys(), SyncState.counter == state))
    records = [BlobRecord.from_row(r.key, bytes(r.value), int(r.counter)) for r in rows]
    return sorted(records, key=lambda r: (r.noted_ms, r.sha256))


def count_blob_records(session: Session, state: int) -> int:
    return int(session.scalar(select(func.count()).select_from(SyncState)
                              .where(_blob_keys(), SyncState.counter == state)) or 0)
