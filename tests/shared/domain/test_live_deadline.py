"""The live deadlines on real dates of 2026: the Labour Day holiday (1-5 May off) and the
adjusted working Saturday 9 May, with and without the applicant's supplement wait."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.domain.errors import InvalidInput
from shared.domain.live_deadline import check_warning_share, live_deadline, warning_days
from shared.domain.working_days import SHANGHAI, WorkingDayCalendar, end_of_day

CALENDAR = WorkingDayCalendar.standard()


def cst(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def test_the_holiday_does_not_count_and_the_adjusted_saturday_does() -> None:
    live = live_deadline(CALENDAR, cst(4, 30), promised_days=5, legal_days=8)
    # 30 April accepted; 6, 7, 8, Sat 9, 11 May are the five working days
    assert live.promised.due_at == end_of_day(date(2026, 5, 11))
    assert live.legal is not None and live.legal.due_at == end_of_day(date(2026, 5, 14))
    # the warning after 4 working days (0.8 of 5): the end of Saturday 9 May
    assert live.warn_at == end_of_day(date(2026, 5, 9))


def test_a_supplement_wait_moves_both_deadlines_by_the_working_days_waited() -> None:
    waited = [(cst(4, 30, 15), cst(5, 9))]  # asked on 30 April, given on Saturday 9 May
    live = live_deadline(CALENDAR, cst(4, 29), 5, 8, waited)
    # 29 April: day 0; 30 April counts (day 1); 6, 7, 8, 9 May were waited (4 days);
    # then 11, 12, 13, 14 May are days 2-5
    assert live.promised.due_at == end_of_day(date(2026, 5, 14))
    assert live.promised.paused_working_days == 4
    assert live.legal is not None and live.legal.due_at == end_of_day(date(2026, 5, 19))


def test_while_the_applicant_has_not_answered_the_clock_is_stopped() -> None:
    live = live_deadline(CALENDAR, cst(4, 29), 5, 8, [(cst(4, 30, 15), None)])
    assert live.paused and live.promised.due_at is None and live.warn_at is None
    assert live.payload()["deadline"] is None


@pytest.mark.parametrize(("days", "share", "expected"), [
    (20, 0.8, 16), (5, 0.8, 4), (1, 0.8, 0), (2, 0.8, 1), (10, 0.95, 9), (10, 0.5, 5)])
def test_the_warning_falls_on_the_share_used_or_one_day_before_the_last(
        days: int, share: float, expected: int) -> None:
    assert warning_days(days, share) == expected


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.2, True, "0.8"])
def test_a_warning_share_outside_zero_to_one_is_refused(share: object) -> None:
    with pytest.raises(InvalidInput):
        check_warning_share(share)


def test_a_supplement_wait_and_a_special_procedure_that_overlap_are_counted_once() -> None:
    from shared.domain.case_state import CaseState

    def at(day: int) -> datetime:
        return datetime(2026, 6, day, 10, tzinfo=UTC)

    state = CaseState(pauses=((at(1), at(5)),),
                      procedures=(("hearing", at(3), at(10)), ("public_notice", at(15), None)))
    assert state.clock_stops == ((at(1), at(10)), (at(15), None))
    assert state.clock_stopped and state.open_procedure == "public_notice"
    inside = CaseState(pauses=((at(1), at(12)),), procedures=(("inspection", at(2), at(4)),))
    assert inside.clock_stops == ((at(1), at(12)),)


def test_a_hearing_over_the_holiday_counts_the_adjusted_saturday_it_took() -> None:
    from shared.domain.case_state import CaseState

    # accepted 29 April; a hearing from 30 April 15:00 to Monday 11 May. As for a supplement
    # wait, the day it starts still runs and the day it ends is left out: it took 6, 7, 8,
    # Saturday 9 (an adjusted working day) and 11 May, five working days; 1-5 May are the
    # holiday and were never working days
    state = CaseState(procedures=(("hearing", cst(4, 30, 15), cst(5, 11)),))
    live = live_deadline(CALENDAR, cst(4, 29), 5, 8, state.clock_stops)
    assert live.promised.paused_working_days == 5
    # 30 April is day 1; 12, 13, 14, 15 May are days 2-5
    assert live.promised.due_at == end_of_day(date(2026, 5, 15))
    assert live.legal is not None and live.legal.due_at == end_of_day(date(2026, 5, 20))


def test_an_approved_extension_adds_its_days_to_both_limits() -> None:
    from shared.deciding.case_deadlines import current_deadline
    from shared.domain.case_state import CaseState

    accepted = cst(4, 30)
    before = current_deadline(CaseState(accepted_at=accepted), (5, 8), CALENDAR)
    after = current_deadline(CaseState(accepted_at=accepted, extension_requested=10,
                                       extension_approved=True, extension_days=10),
                             (5, 8), CALENDAR)
    assert before is not None and after is not None
    assert before.promised.due_at == end_of_day(date(2026, 5, 11))  # 6, 7, 8, Sat 9, 11
    # ten more working days: 12-15, 18-22, 25 May
    assert after.promised.due_at == end_of_day(date(2026, 5, 25))
    assert before.legal is not None and after.legal is not None
    assert before.legal.due_at == end_of_day(date(2026, 5, 14))
    assert after.legal.due_at == end_of_day(date(2026, 5, 28))  # 14 May + 10 working days
