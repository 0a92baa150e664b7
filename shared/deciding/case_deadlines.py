"""The deciding site keeps a case's recorded deadline true: when the clock resumes after the
applicant's supplement or a special procedure (特别程序), and when the department head grants
an extension (延期), it appends ``deadline_set`` with the deadlines moved (by the working days
the clock stood still, or by the days granted), so the window, the supervisor's scan and the
village that registered the case (which holds no calendar of its own) all read the same
dates from the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.domain.case_events import CaseEvent, EventActor, EventDraft, EventType, Role
from shared.domain.case_state import CaseState
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE, LiveDeadline, live_deadline
from shared.domain.working_days import WorkingDayCalendar

SYSTEM = EventActor("system", Role.SYSTEM)
Logged = Sequence[CaseEvent | EventDraft]


def recorded_deadline(events: Logged) -> str | None:
    """The promised deadline the log records last (ISO time), or None."""
    recorded = None
    for event in events:
        value = event.payload.get("deadline")
        if isinstance(value, str):
            recorded = value
    return recorded


def accepted_days(events: Logged) -> tuple[int, int | None] | None:
    """The promised and legal days the first acceptance recorded (None before it, or for an
    acceptance that recorded no days)."""
    for event in events:
        if event.type is EventType.ACCEPTED:
            payload = event.payload
            promised = payload.get("promised_days")
            legal = payload.get("legal_days")
            if isinstance(promised, int) and not isinstance(promised, bool):
                return promised, legal if isinstance(legal, int) else None
    return None


def current_deadline(state: CaseState, days: tuple[int, int | None],
                     calendar: WorkingDayCalendar,
                     warning_share: float = DEFAULT_WARNING_SHARE) -> LiveDeadline | None:
    """The case's deadlines now, or None before acceptance."""
    if state.accepted_at is None:
        return None
    extra = state.extension_days  # an approved extension adds to both limits
    return live_deadline(calendar, state.accepted_at, days[0] + extra,
                         days[1] + extra if days[1] is not None else None, state.clock_stops,
                         warning_share)


def deadline_draft(state: CaseState, events: Logged,
                   calendar: WorkingDayCalendar, now: datetime,
                   warning_share: float = DEFAULT_WARNING_SHARE) -> EventDraft | None:
    """``deadline_set`` when the running clock's deadline differs from the one recorded
    (after a supplement wait or a special procedure ends, or an extension is granted); None
    while the clock is stopped, before acceptance, once decided, or when the recorded one is
    right."""
    if state.outcome is not None or state.clock_stopped:
        return None
    days = accepted_days(events)
    if days is None:
        return None
    live = current_deadline(state, days, calendar, warning_share)
    if live is None or live.promised.due_at is None:
        return None
    fields = live.payload()
    if fields["deadline"] == recorded_deadline(events):
        return None
    return EventDraft(EventType.DEADLINE_SET, SYSTEM, now,
                      {**{k: v for k, v in fields.items() if v is not None},
                       "cause": _cause(events),
                       "paused_working_days": live.promised.paused_working_days,
                       "extension_days": state.extension_days})


_CAUSES = {EventType.SUPPLEMENT_PROVIDED: "supplement_provided",
           EventType.SPECIAL_PROCEDURE_ENDED: "special_procedure_ended",
           EventType.EXTENSION_DECIDED: "extension_granted"}


def _cause(events: Logged) -> str:
    """What moved the deadline: the last event that restarts or lengthens the clock."""
    last = next((e.type for e in reversed(events) if e.type in _CAUSES),
                EventType.SUPPLEMENT_PROVIDED)
    return _CAUSES[last]
