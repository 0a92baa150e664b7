"""The signals of electronic supervision (电子监察) as a deciding site lists and counts them.

Every signal is an event on its case (``signalled``: a warning, a yellow or a red card;
``urged``: 催办), signed and sent like any other; the site also keeps one row per such event
in its signals table (``hub_case_signals``, ``node_case_signals``), written whenever the
case's projection is, so the supervisor's list, the counts against each window and the
reports read one indexed table instead of every case's log. The row's key is the event's
``(origin, epoch, seq)``: writing it again changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import BigInteger, Index, Integer, String, Table, Uuid, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.domain.case_events import CaseEvent, EventDraft, EventType
from shared.storage.bulk_insert import OnConflict, insert_rows
from sync_protocol.times import to_ms

MAX_LIST = 500
"""Signals one list answer holds at most, newest first."""


class CaseSignalColumns:
    """The columns of a signals table (mixed into each app's model)."""

    origin: Mapped[str] = mapped_column(String(15), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    owner_site: Mapped[str] = mapped_column(String(15))
    window: Mapped[str] = mapped_column(String(40))
    acceptance_no: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    """``warning``, ``yellow_card``, ``red_card`` or ``urge``."""
    rule: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(2000))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="standing")
    """``standing``, ``appealed`` (the window contests it), ``upheld`` or ``withdrawn``."""


SignalModel = type[CaseSignalColumns]


def signal_index(table: str) -> Index:
    """The list reads a site's signals newest first."""
    return Index(f"ix_{table}_site_at", "owner_site", "at_ms")


def card_statuses(events: Sequence[CaseEvent | EventDraft]) -> dict[tuple[str, int, int], str]:
    """Each contested card's status by its key: ``appealed``, then the ruling (``upheld``
    or ``withdrawn``); a card not listed stands."""
    status: dict[tuple[str, int, int], str] = {}
    for event in events:  # appeals and rulings name the card they are about
        if event.type in (EventType.CARD_APPEALED, EventType.CARD_RULED):
            card = event.payload["card"]
            status[(card["origin"], card["epoch"], card["seq"])] = (
                "appealed" if event.type is EventType.CARD_APPEALED
                else str(event.payload["ruling"]))
    return status


def signal_rows(case_id: uuid.UUID, events: Sequence[CaseEvent | EventDraft],
                values: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the case's stored ``signalled`` and ``urged`` events (drafts, not yet
    stamped, are written when they come back as events)."""
    status = card_statuses(events)
    rows = []
    for event in events:
        if not isinstance(event, CaseEvent) or event.type not in (
                EventType.SIGNALLED, EventType.URGED):
            continue
        urge = event.type is EventType.URGED
        rows.append({
            "origin": event.origin, "epoch": event.epoch, "seq": event.seq,
            "case_id": case_id, "owner_site": values["owner_site"],
            "window": values["window"], "acceptance_no": values["acceptance_no"],
            "kind": "urge" if urge else str(event.payload["kind"]),
            "rule": "urge" if urge else str(event.payload["rule"]),
            "reason": str(event.payload["reason"]), "at_ms": to_ms(event.at),
            "status": status.get(event.key, "standing"),
        })
    return rows


def write_signals(session: Session, model: SignalModel, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows not held yet; a held row takes the new status (an appeal or a
    ruling arrived) and reason (replaced when the case was erased)."""
    if rows:
        table = cast(Table, model.__table__)  # type: ignore[attr-defined]
        insert_rows(session, table, rows,
                    on_conflict=OnConflict(("origin", "epoch", "seq"), ("status", "reason")))


@dataclass(frozen=True, slots=True)
class SignalFilter:
    kind: str | None = None
    window: str | None = None
    since_ms: int | None = None
    status: str | None = None


def list_signals(session: Session, model: SignalModel, site: str,
                 where: SignalFilter = SignalFilter(), limit: int = MAX_LIST
                 ) -> list[CaseSignalColumns]:
    """The site's signals, newest first."""
    m = model
    query = select(m).where(m.owner_site == site)
    if where.kind:
        query = query.where(m.kind == where.kind)
    if where.window:
        query = query.where(m.window == where.window)
    if where.status:
        query = query.where(m.status == where.status)
    if where.since_ms is not None:
        query = query.where(m.at_ms >= where.since_ms)
    return list(session.scalars(query.order_by(m.at_ms.desc(), m.seq.desc()).limit(limit)))


def counts_by_window(session: Session, model: SignalModel, site: str, from_ms: int,
                     to_ms_: int) -> dict[tuple[str, str], int]:
    """Signals raised in ``[from_ms, to_ms_)`` counted against each window, by kind."""
    m = model
    rows = session.execute(
        select(m.window, m.kind, func.count())
        .where(m.owner_site == site, m.at_ms >= from_ms, m.at_ms < to_ms_)
        .group_by(m.window, m.kind))
    return {(window, kind): int(n) for window, kind, n in rows}
