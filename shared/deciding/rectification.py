"""差评整改: a rating of 不满意 or 非常不满意 opens a rectification at the site that decided the
case. The deciding site appends ``rectification_opened`` as soon as it holds the bad rating
(given at its own window, at the village on hand-over, or online: the rating travels to it),
naming the department of the item's deciding window and the day its answer is due, 15
working days on by the site's calendar. The department answers (``rectification_answered``),
someone calls the applicant back (``callback_recorded``), and the events travel down to the
village and up to the hub like every other event of the case, so each tier counts the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.domain.case_events import CaseEvent, EventActor, EventDraft, EventType, Role
from shared.domain.case_state import CaseState
from shared.domain.errors import CalendarMissing
from shared.domain.rating import BAD_RATINGS
from shared.domain.working_days import WorkingDayCalendar, end_of_day, local_date

RECTIFICATION_DAYS = 15
"""Working days the department has to answer a bad rating (the national 好差评 rules)."""
_SYSTEM = EventActor("system", Role.SYSTEM)


def rectification_due(calendar: WorkingDayCalendar, rated_at: datetime) -> datetime:
    """The end of the 15th working day after the rating's day; where the calendar has no
    release for that year yet, three calendar weeks (15 days of a Monday-Friday week)."""
    try:
        return end_of_day(calendar.add_working_days(local_date(rated_at), RECTIFICATION_DAYS))
    except CalendarMissing:
        return end_of_day(local_date(rated_at) + timedelta(days=21))


def rectification_draft(state: CaseState, events: Sequence[CaseEvent | EventDraft],
                        department: str, calendar: WorkingDayCalendar,
                        now: datetime) -> EventDraft | None:
    """``rectification_opened`` when the case holds a bad rating and no rectification yet
    (None otherwise). Only the deciding site calls it."""
    if (state.rating is None or state.rating.value not in BAD_RATINGS
            or state.rectification is not None):
        return None
    rated_at = next((e.at for e in reversed(events) if e.type is EventType.RATED), now)
    return EventDraft(EventType.RECTIFICATION_OPENED, _SYSTEM, now, {
        "department": department, "rating": state.rating.value,
        "due": rectification_due(calendar, rated_at).isoformat()})
