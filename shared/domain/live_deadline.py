"""A case's live deadlines: the promised one (承诺时限) and the legal one (法定时限), as they
stand after every pause, and when the supervision warning falls due.

Both count working days from the first acceptance by the deciding window, on the site's
working-day calendar (holidays and adjusted working days, with the site's overrides); the
days the case waited for the applicant's supplement are not counted
(:meth:`WorkingDayCalendar.deadline`). The warning falls due when a share of the promised
time is used (0.8 unless the site says otherwise) or when one working day is left, whichever
comes first. Pure rules: the deciding site computes them and records the result on the case
(``accepted``, then ``deadline_set`` whenever a pause ends), so every site below shows the
same dates without a calendar of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.errors import InvalidInput
from shared.domain.working_days import Deadline, WorkingDayCalendar

DEFAULT_WARNING_SHARE = 0.8
"""The share of the promised time after which a case is warned about."""

Pause = tuple[datetime, datetime | None]


def check_warning_share(value: object, field_name: str = "warning_share") -> float:
    """A share strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise InvalidInput(field_name, "a share between 0 and 1, e.g. 0.8")
    return float(value)


def warning_days(days: int, share: float) -> int:
    """Working days after acceptance at whose end the warning falls due: the share of the
    promised days used, and never later than the day before the last one."""
    return max(0, min(math.floor(days * share + 1e-9), days - 1))


@dataclass(frozen=True, slots=True)
class LiveDeadline:
    """The deadlines as they stand; ``promised.due_at`` is None while the clock is stopped."""

    promised: Deadline
    legal: Deadline | None
    warn_at: datetime | None

    @property
    def paused(self) -> bool:
        return self.promised.paused

    def payload(self) -> dict[str, Any]:
        """The fields an ``accepted`` or ``deadline_set`` event records."""
        legal = self.legal.due_at if self.legal is not None else None
        return {
            "deadline": _iso(self.promised.due_at),
            "legal_deadline": _iso(legal),
            "warn_at": _iso(self.warn_at),
        }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def live_deadline(calendar: WorkingDayCalendar, accepted_at: datetime, promised_days: int,
                  legal_days: int | None, pauses: Sequence[Pause] = (),
                  warning_share: float = DEFAULT_WARNING_SHARE) -> LiveDeadline:
    """The case's deadlines after ``pauses``: every span the clock stood still since
    acceptance, supplement waits and special procedures (特别程序) alike, merged so an
    overlap counts once (``CaseState.clock_stops``). An approved extension (延期) is not a
    pause: the caller adds its days to ``promised_days`` and ``legal_days``, since it
    lengthens both limits rather than stopping the clock."""
    promised = calendar.deadline(accepted_at, promised_days, pauses)
    legal = (calendar.deadline(accepted_at, max(legal_days, promised_days), pauses)
             if legal_days is not None else None)
    warn = calendar.deadline(accepted_at, warning_days(promised_days, warning_share), pauses)
    return LiveDeadline(promised, legal, warn.due_at if promised.due_at is not None else None)
