"""Working-day arithmetic against the real 2025 schedule, releases, overrides and pauses."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import CalendarMissing, InvalidInput, Problems
from shared.domain.working_days import (
    CALENDAR_DIR,
    CalendarOverrides,
    WorkingDayCalendar,
    YearCalendar,
    calendar_from_release,
    end_of_day,
    library_year,
    library_years,
    load_calendar_dir,
    load_calendar_file,
    local_date,
    overrides_from_dict,
)

SH = ZoneInfo("Asia/Shanghai")
PROPERTY = settings(max_examples=150, deadline=None)


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """A Shanghai wall-clock time as the aware UTC instant the code takes."""
    return datetime(y, m, d, hh, mm, tzinfo=SH).astimezone(UTC)


@pytest.fixture(scope="module")
def cal() -> WorkingDayCalendar:
    return WorkingDayCalendar.standard()


# -- the real 2025 schedule ---------------------------------------------------------


@pytest.mark.parametrize("day", [date(2025, 10, d) for d in range(1, 9)])
def test_national_day_2025_is_off(cal: WorkingDayCalendar, day: date) -> None:
    assert not cal.is_working_day(day)


@pytest.mark.parametrize("day", [date(2025, 9, 28), date(2025, 10, 11)])
def test_national_day_2025_adjusted_weekend_days_are_worked(
    cal: WorkingDayCalendar, day: date
) -> None:
    assert day.weekday() >= 5
    assert cal.is_working_day(day)
    assert cal.day_name(day) == "国庆节"


@pytest.mark.parametrize("day", [date(2025, 1, 28) + timedelta(days=i) for i in range(8)])
def test_spring_festival_2025_is_off(cal: WorkingDayCalendar, day: date) -> None:
    assert not cal.is_working_day(day)
    assert cal.day_name(day) == "春节"


@pytest.mark.parametrize("day", [date(2025, 1, 26), date(2025, 2, 8)])
def test_spring_festival_2025_adjusted_days_are_worked(cal: WorkingDayCalendar, day: date) -> None:
    assert cal.is_working_day(day)


def test_ordinary_days_follow_the_week(cal: WorkingDayCalendar) -> None:
    assert cal.is_working_day(date(2025, 9, 26))  # Friday
    assert not cal.is_working_day(date(2025, 9, 27))  # Saturday, not adjusted
    assert cal.day_name(date(2025, 9, 26)) is None


def test_the_acceptance_day_does_not_count(cal: WorkingDayCalendar) -> None:
    # Accepted on Monday 2025-09-22: one working day means Tuesday.
    assert cal.add_working_days(date(2025, 9, 22), 1) == date(2025, 9, 23)
    assert cal.add_working_days(date(2025, 9, 22), 0) == date(2025, 9, 22)


def test_counting_across_national_day(cal: WorkingDayCalendar) -> None:
    # Fri 09-26; then Sun 09-28 (worked), Mon 09-29, Tue 09-30, holiday, Thu 10-09, Fri 10-10.
    start = date(2025, 9, 26)
    got = [cal.add_working_days(start, n) for n in range(1, 7)]
    assert got == [
        date(2025, 9, 28),
        date(2025, 9, 29),
        date(2025, 9, 30),
        date(2025, 10, 9),
        date(2025, 10, 10),
        date(2025, 10, 11),
    ]
    assert cal.working_days_between(start, date(2025, 10, 10)) == 5
    assert cal.working_days_between(date(2025, 10, 10), start) == -5


def test_counting_across_spring_festival(cal: WorkingDayCalendar) -> None:
    # Fri 2025-01-24; Sun 01-26 worked, Mon 01-27, then off until Wed 02-05.
    assert cal.add_working_days(date(2025, 1, 24), 2) == date(2025, 1, 27)
    assert cal.add_working_days(date(2025, 1, 24), 3) == date(2025, 2, 5)
    assert cal.add_working_days(date(2025, 2, 7), 1) == date(2025, 2, 8)


def test_acceptance_on_a_holiday_counts_from_the_next_working_day(
    cal: WorkingDayCalendar,
) -> None:
    assert cal.add_working_days(date(2025, 10, 3), 1) == date(2025, 10, 9)


# -- deadlines ----------------------------------------------------------------------


def test_deadline_crossing_national_day(cal: WorkingDayCalendar) -> None:
    result = cal.deadline(at(2025, 9, 26, 10), 5)
    assert result.accepted_on == date(2025, 9, 26)
    assert result.due_date == date(2025, 10, 10)
    # End of 10-10 in Shanghai is 16:00 UTC that day.
    assert result.due_at == datetime(2025, 10, 10, 16, 0, tzinfo=UTC)
    assert result.due_at.tzinfo is UTC
    assert not result.paused
    assert not result.provisional


def test_deadline_uses_the_shanghai_date_of_acceptance(cal: WorkingDayCalendar) -> None:
    # 23:30 on Friday 09-26 in Shanghai vs 00:30 on Saturday 09-27 (both 26th in UTC).
    late_friday = cal.deadline(at(2025, 9, 26, 23, 30), 1)
    early_saturday = cal.deadline(at(2025, 9, 27, 0, 30), 1)
    assert late_friday.due_date == date(2025, 9, 28)
    assert early_saturday.due_date == date(2025, 9, 28)
    assert cal.deadline(at(2025, 9, 28, 0, 30), 1).due_date == date(2025, 9, 29)


def test_a_closed_pause_adds_its_working_days_back(cal: WorkingDayCalendar) -> None:
    accepted = at(2025, 9, 1, 9)  # Monday
    assert cal.deadline(accepted, 10).due_date == date(2025, 9, 15)
    # Supplement asked Wed 09-03, materials in Fri 09-05: Thu and Fri are stopped.
    result = cal.deadline(accepted, 10, [(at(2025, 9, 3, 15), at(2025, 9, 5, 11))])
    assert result.paused_working_days == 2
    assert result.due_date == date(2025, 9, 17)
    assert not result.paused


def test_a_same_day_pause_costs_nothing(cal: WorkingDayCalendar) -> None:
    accepted = at(2025, 9, 1, 9)
    result = cal.deadline(accepted, 10, [(at(2025, 9, 3, 9), at(2025, 9, 3, 16))])
    assert result.due_date == date(2025, 9, 15)
    assert result.paused_working_days == 0


def test_a_pause_over_national_day_counts_only_working_days(cal: WorkingDayCalendar) -> None:
    accepted = at(2025, 9, 22, 9)  # Mon; 5 days -> Sun 09-28 (adjusted working day)
    assert cal.deadline(accepted, 5).due_date == date(2025, 9, 28)
    # Paused Fri 09-26 .. Thu 10-09: Sun 09-28, 09-29, 09-30, 10-09 are stopped.
    result = cal.deadline(accepted, 5, [(at(2025, 9, 26), at(2025, 10, 9))])
    assert result.paused_working_days == 4
    # Four days used by Friday, one left: Friday 10-10.
    assert result.due_date == date(2025, 10, 10)


def test_an_open_pause_stops_the_clock(cal: WorkingDayCalendar) -> None:
    accepted = at(2025, 9, 1, 9)
    result = cal.deadline(accepted, 10, [(at(2025, 9, 3, 15), None)])
    assert result.paused
    assert result.due_at is None
    assert result.due_date is None
    assert result.remaining_when_paused == 8  # 09-04 .. 09-15
    assert not result.is_overdue(at(2026, 1, 1))


def test_several_pauses_then_an_open_one(cal: WorkingDayCalendar) -> None:
    accepted = at(2025, 9, 1, 9)
    pauses: list[tuple[datetime, datetime | None]] = [
        (at(2025, 9, 2), at(2025, 9, 3)),  # 1 day
        (at(2025, 9, 8), at(2025, 9, 10)),  # 2 days
        (at(2025, 9, 12), None),
    ]
    closed = cal.deadline(accepted, 10, pauses[:2])
    assert closed.paused_working_days == 3
    assert closed.due_date == date(2025, 9, 18)
    open_ = cal.deadline(accepted, 10, pauses)
    assert open_.paused and open_.paused_working_days == 3
    assert open_.remaining_when_paused == 4  # 09-15 .. 09-18


def test_a_pause_after_the_deadline_does_not_revive_it(cal: WorkingDayCalendar) -> None:
    accepted = at(2025, 9, 1, 9)
    plain = cal.deadline(accepted, 3)
    assert plain.due_date == date(2025, 9, 4)
    late = cal.deadline(accepted, 3, [(at(2025, 9, 8), at(2025, 9, 12))])
    assert late.due_date == date(2025, 9, 4)
    assert late.is_overdue(at(2025, 9, 12, 12))
    still_waiting = cal.deadline(accepted, 3, [(at(2025, 9, 8), None)])
    assert still_waiting.paused
    assert still_waiting.due_at == plain.due_at


def test_a_pause_on_the_due_day_moves_the_deadline(cal: WorkingDayCalendar) -> None:
    accepted = at(2025, 9, 1, 9)
    result = cal.deadline(accepted, 3, [(at(2025, 9, 4, 15), at(2025, 9, 8, 9))])
    # Fri 09-05 and Mon 09-08 stopped: the remaining day ends with Monday.
    assert result.due_date == date(2025, 9, 8)


@pytest.mark.parametrize(
    ("pauses", "key"),
    [
        ([(at(2025, 8, 29), at(2025, 9, 2))], "pauses[0].start"),
        ([(at(2025, 9, 3), at(2025, 9, 2))], "pauses[0].end"),
        ([(at(2025, 9, 2), None), (at(2025, 9, 4), at(2025, 9, 5))], "pauses[1]"),
        ([(at(2025, 9, 2), at(2025, 9, 5)), (at(2025, 9, 4), None)], "pauses[1].start"),
        ([(datetime(2025, 9, 2, 9), None)], "pauses[0].start"),
    ],
)
def test_inconsistent_pauses_are_refused(
    cal: WorkingDayCalendar, pauses: list[tuple[datetime, datetime | None]], key: str
) -> None:
    with pytest.raises(Problems) as err:
        cal.deadline(at(2025, 9, 1, 9), 10, pauses)
    assert key in err.value.fields


def test_naive_datetimes_and_negative_days_are_refused(cal: WorkingDayCalendar) -> None:
    with pytest.raises(InvalidInput) as err:
        cal.deadline(datetime(2025, 9, 1, 9), 5)
    assert err.value.field == "accepted_at"
    with pytest.raises(InvalidInput) as err:
        cal.deadline(at(2025, 9, 1), -1)
    assert err.value.field == "days"
    with pytest.raises(InvalidInput):
        cal.add_working_days(datetime(2025, 9, 1, tzinfo=UTC), 1)


def test_remaining_working_days_for_queues(cal: WorkingDayCalendar) -> None:
    due = cal.deadline(at(2025, 9, 26, 10), 5).due_at
    assert due is not None
    assert cal.remaining_working_days(due, at(2025, 9, 26, 11)) == 5
    assert cal.remaining_working_days(due, at(2025, 10, 3)) == 2  # 10-09, 10-10
    assert cal.remaining_working_days(due, at(2025, 10, 10, 17)) == 0  # due today
    assert cal.remaining_working_days(due, at(2025, 10, 11, 0, 0)) == -1  # Sat, worked
    assert cal.remaining_working_days(due, at(2025, 10, 12)) == -1  # Sun
    assert cal.remaining_working_days(due, at(2025, 10, 14)) == -3


# -- missing years, files, releases -------------------------------------------------


def test_a_year_without_data_is_an_error_naming_it(cal: WorkingDayCalendar) -> None:
    with pytest.raises(CalendarMissing) as err:
        cal.is_working_day(date(2040, 3, 1))
    assert "2040" in str(err.value)
    assert err.value.http_status == 409
    with pytest.raises(CalendarMissing, match="2028"):
        cal.add_working_days(date(2027, 12, 20), 20)
    with pytest.raises(CalendarMissing, match="2003"):
        cal.working_days_between(date(2003, 12, 1), date(2004, 1, 5))


def test_library_years_are_exposed() -> None:
    years = library_years()
    assert years[0] == 2004
    assert 2025 in years and 2026 in years
    assert years == tuple(range(years[0], years[-1] + 1))
    with pytest.raises(CalendarMissing, match="2040"):
        library_year(2040)


def test_the_shipped_2027_file_is_provisional_and_loaded(cal: WorkingDayCalendar) -> None:
    assert 2027 not in library_years()  # otherwise the file must go
    yc = load_calendar_file(CALENDAR_DIR / "2027.json")
    assert yc.provisional and yc.version == 0
    assert not yc.workdays  # no invented adjusted days
    assert cal.year_data(2027) == yc
    assert cal.provisional_years == (2027,)
    assert not cal.is_working_day(date(2027, 2, 8))  # Monday, Spring Festival
    assert not cal.is_working_day(date(2027, 10, 1))
    assert cal.is_working_day(date(2027, 10, 4))
    deadline = cal.deadline(at(2027, 2, 4), 1)
    assert deadline.due_date == date(2027, 2, 9)
    assert deadline.provisional


def test_a_calendar_file_for_a_new_year(tmp_path: Path) -> None:
    release = {
        "year": 2028,
        "holidays": [
            {"date": "2028-01-01", "name": "元旦"},
            {"date": "2028-01-24", "name": "春节"},
        ],
        "workdays": [{"date": "2028-01-22", "name": "春节"}],
        "source": "国务院办公厅通知",
        "version": 1,
    }
    (tmp_path / "2028.json").write_text(json.dumps(release, ensure_ascii=False), "utf-8")
    cal = WorkingDayCalendar.standard(calendar_dir=tmp_path)
    assert 2028 in cal.years and 2027 not in cal.years
    assert cal.is_working_day(date(2028, 1, 22))  # Saturday worked
    assert not cal.is_working_day(date(2028, 1, 24))
    assert cal.add_working_days(date(2027 + 1, 1, 21), 1) == date(2028, 1, 22)


def test_a_file_named_for_another_year_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "2029.json"
    path.write_text(json.dumps({"year": 2028, "source": "x", "version": 1}), "utf-8")
    with pytest.raises(InvalidInput, match=r"2028\.json"):
        load_calendar_dir(tmp_path)
    path.write_text("{not json", "utf-8")
    with pytest.raises(InvalidInput) as err:
        load_calendar_file(path)
    assert err.value.field == "2029.json"


def _release(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "year": 2028,
        "holidays": [{"date": "2028-01-01", "name": "元旦"}],
        "workdays": [],
        "source": "国务院办公厅通知",
        "version": 1,
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"holidays": [{"date": "2027-12-31", "name": "元旦"}]}, "holidays[0].date", "outside"),
        (
            {
                "holidays": [{"date": "2028-01-22", "name": "春节"}],
                "workdays": [{"date": "2028-01-22", "name": "春节"}],
            },
            "workdays[0].date",
            "both",
        ),
        ({"workdays": [{"date": "2028-01-19", "name": "春节"}]}, "workdays[0].date", "Saturday"),
        (
            {"holidays": [{"date": "2028-01-01", "name": "元旦"}] * 2},
            "holidays[1].date",
            "twice",
        ),
        ({"holidays": [{"date": "2028-1-1", "name": "元旦"}]}, "holidays[0].date", "YYYY-MM-DD"),
        ({"holidays": [{"date": "2028-01-01", "name": ""}]}, "holidays[0].name", "required"),
        ({"holidays": [{"date": "2028-01-01", "nom": "x"}]}, "holidays[0]", "unknown"),
        ({"holiday": []}, "holiday", "unknown"),
        ({"source": ""}, "source", "required"),
        ({"version": -1}, "version", "0 or more"),
        ({"version": "2"}, "version", "whole number"),
        ({"year": "2028"}, "year", "whole number"),
        ({"provisional": "yes"}, "provisional", "true or false"),
        ({"workdays": "2028-01-22"}, "workdays", "list"),
    ],
)
def test_release_validation_names_each_problem(
    changes: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(Problems) as err:
        calendar_from_release(_release(**changes))
    assert key in err.value.fields, err.value.fields
    assert words in err.value.fields[key]


def test_release_validation_lists_every_problem_at_once() -> None:
    with pytest.raises(Problems) as err:
        calendar_from_release(
            _release(
                holidays=[{"date": "2029-01-01", "name": "元旦"}],
                workdays=[{"date": "2028-01-19", "name": "春节"}],
                source="",
            )
        )
    assert set(err.value.fields) == {"holidays[0].date", "workdays[0].date", "source"}


def test_a_holiday_on_a_weekend_is_allowed() -> None:
    yc = calendar_from_release(_release(holidays=[{"date": "2028-01-23", "name": "春节"}]))
    assert date(2028, 1, 23) in yc.holidays


def test_year_calendars_cannot_be_built_inconsistent() -> None:
    with pytest.raises(Problems):
        YearCalendar(2028, {date(2028, 1, 22): "春节"}, {date(2028, 1, 22): "春节"}, "x")
    with pytest.raises(Problems):
        YearCalendar(2028, {}, {date(2028, 1, 19): "春节"}, "x")


def test_releases_replace_only_with_a_newer_version(cal: WorkingDayCalendar) -> None:
    official = calendar_from_release(
        {
            "year": 2027,
            "holidays": [{"date": "2027-02-05", "name": "春节"}],
            "workdays": [{"date": "2027-02-20", "name": "春节"}],
            "source": "国务院办公厅通知",
            "version": 1,
        }
    )
    newer = cal.with_release(official)
    assert newer.provisional_years == ()
    assert newer.is_working_day(date(2027, 2, 20))
    assert cal.year_data(2027).provisional  # the old calendar is unchanged
    assert newer.with_release(official) is newer  # the same release again is harmless
    stale = YearCalendar(2027, {}, {}, "国务院办公厅通知", version=1)
    with pytest.raises(InvalidInput) as err:
        newer.with_release(stale)
    assert err.value.field == "version"
    with pytest.raises(InvalidInput):
        newer.with_release(cal.year_data(2027))


def test_a_release_may_correct_a_library_year(cal: WorkingDayCalendar) -> None:
    library = cal.year_data(2025)
    fixed = YearCalendar(
        2025,
        {**library.holidays, date(2025, 12, 31): "测试假日"},
        library.workdays,
        "hub",
        version=1,
    )
    assert not cal.with_release(fixed).is_working_day(date(2025, 12, 31))
    assert cal.is_working_day(date(2025, 12, 31))
    assert WorkingDayCalendar.standard(releases=[fixed]).year_data(2025) == fixed


def test_release_round_trip_of_a_library_year() -> None:
    yc = library_year(2025)
    again = calendar_from_release(json.loads(json.dumps(yc.to_release_dict())))
    assert again == yc


# -- overrides ----------------------------------------------------------------------


def test_site_overrides_add_local_days(cal: WorkingDayCalendar) -> None:
    local = overrides_from_dict(
        {
            "site": "532901",
            "holidays": [{"date": "2025-04-11", "name": "三月街民族节"}],
            "workdays": [{"date": "2025-04-12", "name": "三月街民族节"}],
            "version": 3,
        }
    )
    site_cal = cal.with_overrides(local)
    assert not site_cal.is_working_day(date(2025, 4, 11))  # Friday off locally
    assert site_cal.is_working_day(date(2025, 4, 12))  # Saturday worked locally
    assert site_cal.day_name(date(2025, 4, 11)) == "三月街民族节"
    assert cal.is_working_day(date(2025, 4, 11))  # other sites unaffected
    assert site_cal.add_working_days(date(2025, 4, 10), 1) == date(2025, 4, 12)
    assert overrides_from_dict(local.to_dict()) == local


def test_overrides_never_make_an_unknown_year_known(cal: WorkingDayCalendar) -> None:
    site_cal = cal.with_overrides(CalendarOverrides("431002", {date(2040, 1, 2): "地方节日"}))
    with pytest.raises(CalendarMissing, match="2040"):
        site_cal.is_working_day(date(2040, 1, 3))


def test_inconsistent_overrides_are_refused() -> None:
    with pytest.raises(Problems) as err:
        overrides_from_dict(
            {
                "site": "431002",
                "holidays": [{"date": "2025-04-11", "name": "x"}],
                "workdays": [{"date": "2025-04-11", "name": "x"}],
                "extra": 1,
            }
        )
    assert set(err.value.fields) == {"workdays[0].date", "extra"}


# -- properties ---------------------------------------------------------------------

known_dates = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 6, 30))
days_n = st.integers(min_value=0, max_value=60)


@PROPERTY
@given(start=known_dates, n=st.integers(min_value=1, max_value=60))
def test_adding_lands_on_a_working_day(cal: WorkingDayCalendar, start: date, n: int) -> None:
    assert cal.is_working_day(cal.add_working_days(start, n))


@PROPERTY
@given(start=known_dates, n=days_n)
def test_between_inverts_add_and_add_is_monotone(
    cal: WorkingDayCalendar, start: date, n: int
) -> None:
    end = cal.add_working_days(start, n)
    assert cal.working_days_between(start, end) == n
    assert cal.add_working_days(start, n + 1) > end


@PROPERTY
@given(a=known_dates, b=known_dates.filter(lambda d: d.year >= 2005))
def test_between_is_consistent_with_add(cal: WorkingDayCalendar, a: date, b: date) -> None:
    if abs((b - a).days) > 400:
        b = a + timedelta(days=(b - a).days % 400)
    k = cal.working_days_between(a, b)
    assert cal.working_days_between(b, a) == -k
    lo, hi = min(a, b), max(a, b)
    reached = cal.add_working_days(lo, abs(k))
    assert reached <= hi
    if cal.is_working_day(hi) and hi > lo:
        assert reached == hi


@PROPERTY
@given(
    accepted=st.datetimes(
        min_value=datetime(2005, 1, 1), max_value=datetime(2026, 3, 1), timezones=st.just(UTC)
    ),
    n=st.integers(min_value=1, max_value=30),
    pause_offsets=st.lists(st.integers(min_value=0, max_value=20 * 24), min_size=2, max_size=6),
)
def test_pauses_never_shorten_a_deadline(
    cal: WorkingDayCalendar, accepted: datetime, n: int, pause_offsets: list[int]
) -> None:
    base = cal.deadline(accepted, n)
    assert base.due_at == end_of_day(cal.add_working_days(local_date(accepted), n))
    marks = sorted(accepted + timedelta(hours=h) for h in pause_offsets)
    pauses: list[tuple[datetime, datetime | None]] = [
        (marks[i], marks[i + 1]) for i in range(0, len(marks) - 1, 2)
    ]
    paused = cal.deadline(accepted, n, pauses)
    assert paused.due_at is not None and base.due_at is not None
    assert paused.due_at >= base.due_at
    assert paused.due_at.tzinfo is UTC


release_years = st.integers(min_value=2030, max_value=2035)


@st.composite
def year_releases(draw: st.DrawFn) -> dict[str, Any]:
    year = draw(release_years)
    days = draw(st.sets(st.dates(date(year, 1, 1), date(year, 12, 31)), max_size=20))
    weekends = [d for d in days if d.weekday() >= 5]
    workdays = set(draw(st.lists(st.sampled_from(weekends), unique=True))) if weekends else set()
    holidays = days - workdays
    names = st.text(alphabet="春节国庆元旦", min_size=1, max_size=4)
    return {
        "year": year,
        "holidays": [{"date": d.isoformat(), "name": draw(names)} for d in sorted(holidays)],
        "workdays": [{"date": d.isoformat(), "name": draw(names)} for d in sorted(workdays)],
        "source": "hub",
        "version": draw(st.integers(min_value=0, max_value=50)),
        "provisional": draw(st.booleans()),
    }


@PROPERTY
@given(release=year_releases())
def test_release_round_trip(release: dict[str, Any]) -> None:
    yc = calendar_from_release(release)
    out = yc.to_release_dict()
    assert calendar_from_release(out) == yc
    assert out["holidays"] == release["holidays"]
    assert out["workdays"] == release["workdays"]
