"""The supervision scan (电子监察) of a deciding site: warnings and cards as deadlines pass.

The projection keeps, for each open case whose clock runs, when its next signal falls due
(``next_signal_ms``: the warning, then the promised deadline, then the legal one). A run
reads only the rows past it, through a partial index, so it costs in proportion to the cases
at or past a threshold, not to all cases. It claims them with ``FOR UPDATE SKIP LOCKED``
(PostgreSQL; SQLite serialises writers), so two hub processes scanning at once never signal
a case twice: the second waits on nothing and skips what the first holds, and finds the
signal in the case's log afterwards.

For each claimed case it raises the gravest signal now due — a red card once the legal
deadline has passed (``legal_passed``), a yellow card once the promised one has
(``promised_passed``), else the warning (the share of the promised time used, or one
working day left) — as a ``signalled`` event of the site's ``system`` actor, sent down to
the case's origin and up to the hub like any window action. A graver signal stands for the
lesser ones it passed over, so a case is warned, carded yellow and carded red at most once
each.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.deciding.case_deadlines import accepted_days
from shared.deciding.case_projection import WARNING_RULES, ProjectionModel, refresh
from shared.domain.case_events import EventActor, EventDraft, EventType, Role
from shared.domain.case_state import fold
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE, warning_days
from shared.exchange.site import SyncSite
from sync_protocol.times import to_ms

LOG = logging.getLogger("sanji.supervision")
BATCH = 200
"""Cases one run signals at most; the next run (a minute later) takes the rest."""



@dataclass(frozen=True, slots=True)
class ScanRun:
    """What one run did: cases claimed and signals raised."""

    examined: int
    raised: int


@dataclass(frozen=True, slots=True)
class Due:
    """A signal due on a case: its kind, rule and reason."""

    kind: str
    rule: str
    reason: str


def due_signal(raised: set[str], warn_ms: int | None, due_ms: int | None,
               legal_ms: int | None, now_ms: int, share_rule: str) -> Due | None:
    """The gravest deadline signal due at ``now_ms`` whose rule, or a graver one, was not
    raised yet (``raised``: the rules of the case's signals; a supervisor's card for a
    violation does not count)."""
    if "legal_passed" in raised:
        return None
    if legal_ms is not None and now_ms >= legal_ms:
        return Due("red_card", "legal_passed", "法定办结时限已过 the legal deadline has passed")
    if "promised_passed" in raised:
        return None
    if due_ms is not None and now_ms >= due_ms:
        return Due("yellow_card", "promised_passed",
                   "承诺办结时限已过 the promised deadline has passed")
    if raised & WARNING_RULES:
        return None
    if warn_ms is not None and now_ms >= warn_ms:
        text = ("剩余一个工作日 one working day is left" if share_rule == "one_day_left"
                else "承诺时限已用去大半 most of the promised time is used")
        return Due("warning", share_rule, text)
    return None


def _share_rule(promised_days: int | None, share: float) -> str:
    """Which warning rule a case's warning time came from."""
    if promised_days is None or promised_days <= 1:
        return "one_day_left"
    return ("time_share" if warning_days(promised_days, share) < promised_days - 1
            else "one_day_left")


def claim_query(model: ProjectionModel, site: str, now_ms: int) -> Select[uuid.UUID]:
    """The cases due a signal, one batch, locked for this run (skipping those another
    process holds): read through the partial index on ``next_signal_ms``."""
    m = model
    return (
        select(m.case_id)
        .where(m.owner_site == site, m.open == 1, m.paused == 0,
               m.next_signal_ms.is_not(None), m.next_signal_ms <= now_ms)
        .order_by(m.next_signal_ms)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )


def _claim(session: Session, model: ProjectionModel, site: str, now_ms: int
           ) -> list[uuid.UUID]:
    return list(session.scalars(claim_query(model, site, now_ms)))


def run_signal_scan(session_factory: Callable[[], Session], site: SyncSite,
                    model: ProjectionModel, now: datetime, *,
                    warning_share: float = DEFAULT_WARNING_SHARE) -> ScanRun:
    """Raise every signal that has come due (at most :data:`BATCH` cases per call)."""
    now_ms = to_ms(now)
    examined = raised = 0
    system = EventActor(case_work.SYSTEM_USER, Role.SYSTEM)
    with session_factory() as session:
        for case_id in _claim(session, model, site.code, now_ms):
            examined += 1
            row = session.get(model, case_id)
            if row is None:
                continue
            events = case_work.case_events(session, site, case_id)
            state = fold(events)  # the log, read after the claim: the truth about signals
            days = accepted_days(events)
            due = due_signal({rule for _, rule, _ in state.signals}, row.warn_ms, row.due_ms,
                             row.legal_due_ms, now_ms,
                             _share_rule(days[0] if days else None, warning_share))
            if due is not None:
                draft = EventDraft(EventType.SIGNALLED, system, now,
                                   {"kind": due.kind, "rule": due.rule, "reason": due.reason})
                case_work.append_drafts(session, site, case_id, [draft], now,
                                        state.origin_site)
                raised += 1
            refresh(session, model, site, case_id, row.owner_site, now)
        session.commit()  # releases the row locks taken by SKIP LOCKED
    if raised:
        LOG.info("signals raised", extra={"fields": {"raised": raised, "examined": examined}})
    return ScanRun(examined, raised)
