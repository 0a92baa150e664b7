"""Working days for time limits: Chinese public holidays and adjusted working days as data.

Time limits (法定时限, 承诺时限) are counted in working days. Which days are working days
is decided each year by the State Council (public holidays and adjusted working days,
调休), so it is data, not a rule: a :class:`YearCalendar` per year, seeded from the
``chinese_calendar`` package for the years it knows and from calendar releases (JSON,
published by the hub) for the others, plus a per-site :class:`CalendarOverrides` layer.
A date in a year without data raises :class:`~shared.domain.errors.CalendarMissing`; nothing is
ever guessed from weekdays alone.

Counting rule: a time limit of *n* working days counts from the first working day after
the acceptance day (the acceptance day itself is day 0), and ends when the *n*-th such
working day ends (24:00 Asia/Shanghai). Datetimes in and out are aware and UTC; the
calendar logic runs on the Asia/Shanghai date.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

from shared.domain.errors import CalendarMissing, InvalidInput, Problems

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR_DIR = Path(__file__).with_name("data") / "calendar"
"""Calendar files shipped with the software (years the library does not know)."""

RELEASE_KEYS = frozenset(
    {"year", "holidays", "workdays", "source", "version", "provisional", "note"}
)
OVERRIDE_KEYS = frozenset({"site", "holidays", "workdays", "version", "note"})
_DAY_KEYS = frozenset({"date", "name"})
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# The library names holidays in English; the product speaks Chinese.
_LIBRARY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}

_ONE_MICROSECOND = timedelta(microseconds=1)


def _frozen(days: Mapping[date, str]) -> Mapping[date, str]:
    return MappingProxyType(dict(sorted(days.items())))


def _year_problems(
    year: int,
    holidays: Mapping[date, str],
    workdays: Mapping[date, str],
) -> dict[str, str]:
    """The consistency rules one year's data must satisfy (keys name the bad entry)."""
    problems: dict[str, str] = {}
    for kind, days in (("holidays", holidays), ("workdays", workdays)):
        for d, name in days.items():
            key = f"{kind}.{d.isoformat()}"
            if d.year != year:
                problems[key] = f"{d.isoformat()} is outside the year {year}"
            if not name.strip():
                problems[key] = "a name is required"
    for d in workdays:
        key = f"workdays.{d.isoformat()}"
        if d in holidays:
            problems[key] = f"{d.isoformat()} is listed both as a holiday and as a working day"
        elif d.weekday() < 5:
            problems[key] = (
                f"{d.isoformat()} is a {_WEEKDAY_NAMES[d.weekday()]}, already a working day; "
                "an adjusted working day must fall on a Saturday or Sunday"
            )
    return problems


@dataclass(frozen=True)
class YearCalendar:
    """One year's public holidays and adjusted working days, as published.

    ``holidays`` may include weekend days inside a holiday period; ``workdays`` are the
    weekend days worked in exchange (调休). Both map a date to the holiday's name.
    ``version`` only ever grows; ``provisional`` marks data that a published release
    is expected to replace.
    """

    year: int
    holidays: Mapping[date, str]
    workdays: Mapping[date, str]
    source: str
    version: int = 0
    provisional: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", _frozen(self.holidays))
        object.__setattr__(self, "workdays", _frozen(self.workdays))
        problems = _year_problems(self.year, self.holidays, self.workdays)
        if not self.source.strip():
            problems["source"] = "a source is required"
        if self.version < 0:
            problems["version"] = "must be 0 or more"
        if problems:
            raise Problems(problems, f"inconsistent calendar for {self.year}")

    def to_release_dict(self) -> dict[str, Any]:
        """The release form (JSON-ready, dates sorted); :func:`calendar_from_release` reads it."""
        out: dict[str, Any] = {
            "year": self.year,
            "holidays": [{"date": d.isoformat(), "name": n} for d, n in self.holidays.items()],
            "workdays": [{"date": d.isoformat(), "name": n} for d, n in self.workdays.items()],
            "source": self.source,
            "version": self.version,
        }
        if self.provisional:
            out["provisional"] = True
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class CalendarOverrides:
    """A site's own additions: a local holiday, or a local working day.

    They take precedence over the national data, but only for years that have national
    data: overrides never make an unknown year known.
    """

    site: str = ""
    holidays: Mapping[date, str] = field(default_factory=dict)
    workdays: Mapping[date, str] = field(default_factory=dict)
    version: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", _frozen(self.holidays))
        object.__setattr__(self, "workdays", _frozen(self.workdays))
        problems: dict[str, str] = {}
        for kind, days in (("holidays", self.holidays), ("workdays", self.workdays)):
            for d, name in days.items():
                if not name.strip():
                    problems[f"{kind}.{d.isoformat()}"] = "a name is required"
        for d in self.workdays:
            if d in self.holidays:
                problems[f"workdays.{d.isoformat()}"] = (
                    f"{d.isoformat()} is listed both as a local holiday and as a local working day"
                )
        if self.version < 0:
            problems["version"] = "must be 0 or more"
        if problems:
            raise Problems(problems, "inconsistent calendar overrides")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :func:`overrides_from_dict` reads it."""
        out: dict[str, Any] = {
            "site": self.site,
            "holidays": [{"date": d.isoformat(), "name": n} for d, n in self.holidays.items()],
            "workdays": [{"date": d.isoformat(), "name": n} for d, n in self.workdays.items()],
            "version": self.version,
        }
        if self.note:
            out["note"] = self.note
        return out


NO_OVERRIDES = CalendarOverrides()


@dataclass(frozen=True)
class Deadline:
    """A case's time limit as it stands.

    ``due_at`` is the instant the limit runs out (the end of ``due_date`` in Asia/Shanghai,
    as aware UTC); both are ``None`` exactly while an open pause stops the clock with time
    still left, and then ``remaining_when_paused`` says how many working days were left
    when the pause began. ``paused`` is true while any pause is open.
    ``paused_working_days`` is what the closed pauses added. ``provisional`` is true when a
    provisional calendar year was used, so the date may still move.
    """

    accepted_on: date
    days: int
    due_date: date | None
    due_at: datetime | None
    paused: bool = False
    paused_working_days: int = 0
    remaining_when_paused: int | None = None
    provisional: bool = False

    def is_overdue(self, now: datetime) -> bool:
        """True once the limit has run out (never while the clock is stopped)."""
        return self.due_at is not None and _aware(now, "now") >= self.due_at


def _aware(at: datetime, field_name: str) -> datetime:
    if not isinstance(at, datetime):
        raise InvalidInput(field_name, "must be a datetime")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(field_name, "must be timezone-aware (UTC)")
    return at


def local_date(at: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware instant."""
    return _aware(at, "at").astimezone(SHANGHAI).date()


def end_of_day(day: date) -> datetime:
    """The instant ``day`` ends in Asia/Shanghai (24:00, i.e. next day 00:00), as UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)


def due_day(due: datetime) -> date:
    """The calendar day a deadline falls on: the inverse of :func:`end_of_day`."""
    return local_date(due - timedelta(microseconds=1))


def _plain_date(d: date, field_name: str) -> date:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise InvalidInput(field_name, "must be a date (convert an instant with local_date)")
    return d


def _whole_number(n: int, field_name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidInput(field_name, "must be a whole number")
    if n < 0:
        raise InvalidInput(field_name, "must be 0 or more")
    return n


class WorkingDayCalendar:
    """Answers working-day questions from per-year data plus one site's overrides.

    Immutable: :meth:`with_release` and :meth:`with_overrides` return new calendars, so a
    node can swap in a new release atomically and keep the old one if it is refused.
    """

    def __init__(
        self,
        years: Iterable[YearCalendar],
        overrides: CalendarOverrides = NO_OVERRIDES,
    ) -> None:
        held: dict[int, YearCalendar] = {}
        for yc in years:
            if yc.year in held:
                raise InvalidInput("years", f"the year {yc.year} is given twice")
            held[yc.year] = yc
        self._years: Mapping[int, YearCalendar] = MappingProxyType(dict(sorted(held.items())))
        # Counts between two days never change for an immutable calendar; a queue asks the
        # same few (today, due day) pairs for every row, so they are kept (bounded).
        self._between: dict[tuple[date, date], int] = {}
        self._overrides = overrides

    @classmethod
    def standard(
        cls,
        releases: Iterable[YearCalendar] = (),
        overrides: CalendarOverrides = NO_OVERRIDES,
        calendar_dir: Path | None = CALENDAR_DIR,
    ) -> WorkingDayCalendar:
        """The library's years, then shipped files, then ``releases``; newest version wins.

        For one year, a higher ``version`` replaces a lower one; at equal versions a
        non-provisional year replaces a provisional one, otherwise the first is kept.
        """
        held: dict[int, YearCalendar] = {y: library_year(y) for y in library_years()}
        shipped = load_calendar_dir(calendar_dir) if calendar_dir is not None else []
        for yc in [*shipped, *releases]:
            old = held.get(yc.year)
            if old is None or _supersedes(yc, old):
                held[yc.year] = yc
        return cls(held.values(), overrides)

    # -- what is held ---------------------------------------------------------------

    @property
    def years(self) -> tuple[int, ...]:
        """Every year with data, ascending."""
        return tuple(self._years)

    @property
    def provisional_years(self) -> tuple[int, ...]:
        """Years whose data is marked provisional."""
        return tuple(y for y, yc in self._years.items() if yc.provisional)

    @property
    def overrides(self) -> CalendarOverrides:
        return self._overrides

    def year_data(self, year: int) -> YearCalendar:
        """The data held for ``year``; :class:`CalendarMissing` if there is none."""
        yc = self._years.get(year)
        if yc is None:
            raise CalendarMissing(
                "year",
                f"no working-day calendar for the year {year} "
                f"(calendars held: {_describe_years(self.years)})",
            )
        return yc

    def with_release(self, yc: YearCalendar) -> WorkingDayCalendar:
        """This calendar with a published year added or replaced.

        A release must carry a higher version than the year held (or replace a
        provisional year at the same version); the same release again is accepted and
        changes nothing, anything else raises :class:`InvalidInput` on ``version``.
        """
        old = self._years.get(yc.year)
        if old is not None and not _supersedes(yc, old):
            if old == yc:
                return self
            raise InvalidInput(
                "version",
                f"calendar {yc.year} version {yc.version} is not newer than the version "
                f"{old.version} held",
            )
        held = dict(self._years)
        held[yc.year] = yc
        return WorkingDayCalendar(held.values(), self._overrides)

    def with_overrides(self, overrides: CalendarOverrides) -> WorkingDayCalendar:
        """This calendar seen from a site with its own local days."""
        return WorkingDayCalendar(self._years.values(), overrides)

    # -- single days ----------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day: site overrides, then national data, then weekday."""
        d = _plain_date(d, "date")
        yc = self.year_data(d.year)
        if d in self._overrides.workdays:
            return True
        if d in self._overrides.holidays:
            return False
        if d in yc.workdays:
            return True
        if d in yc.holidays:
            return False
        return d.weekday() < 5

    def day_name(self, d: date) -> str | None:
        """The holiday a day belongs to (off, or worked in exchange), or ``None``."""
        d = _plain_date(d, "date")
        yc = self.year_data(d.year)
        for days in (self._overrides.workdays, self._overrides.holidays, yc.workdays, yc.holidays):
            if d in days:
                return days[d]
        return None

    # -- counting -------------------------------------------------------------------

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start``; ``start`` itself never counts.

        ``start`` is the acceptance day: with ``n`` = 1 the result is the next working
        day. ``n`` = 0 returns ``start`` unchanged (its year must still be known).
        """
        d = _plain_date(start, "start")
        n = _whole_number(n, "days")
        self.year_data(d.year)
        while n > 0:
            d += timedelta(days=1)
            if self.is_working_day(d):
                n -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """The working days ``d`` with ``a < d <= b``; the negative count when ``b < a``.

        So ``working_days_between(s, add_working_days(s, n)) == n`` for every ``n``.
        """
        a = _plain_date(a, "a")
        b = _plain_date(b, "b")
        if b < a:
            return -self.working_days_between(b, a)
        known = self._between.get((a, b))
        if known is not None:
            return known
        count = self._count_between(a, b)
        if len(self._between) > 50_000:
            self._between.clear()
        self._between[(a, b)] = count
        return count

    def _count_between(self, a: date, b: date) -> int:
        self.year_data(a.year)
        count = 0
        d = a
        while d < b:
            d += timedelta(days=1)
            if self.is_working_day(d):
                count += 1
        return count

    def deadline(
        self,
        accepted_at: datetime,
        days: int,
        pauses: Sequence[tuple[datetime, datetime | None]] = (),
    ) -> Deadline:
        """The deadline of a limit of ``days`` working days from acceptance at ``accepted_at``.

        ``pauses`` are the intervals the case waited for the applicant's supplement, in
        order, not overlapping, the last one possibly still open (end ``None``). A pause
        from day P to day R stops the clock for the working days in (P, R]: the day it
        begins still counts, the day the materials arrive does not (counting resumes the
        next working day, as after an acceptance). A pause that begins after the limit
        has already run out does not revive it.
        """
        accepted_at = _aware(accepted_at, "accepted_at")
        days = _whole_number(days, "days")
        _check_pauses(accepted_at, pauses)
        accepted_on = local_date(accepted_at)
        added = 0
        due = self.add_working_days(accepted_on, days)
        for start, end in pauses:
            due_at = end_of_day(due)
            if start >= due_at:
                # Already overdue when the applicant was asked: the clock had run out.
                if end is None:
                    return self._result(accepted_on, days, due, added, paused=True)
                continue
            if end is None:
                remaining = self.working_days_between(local_date(start), due)
                return Deadline(
                    accepted_on=accepted_on,
                    days=days,
                    due_date=None,
                    due_at=None,
                    paused=True,
                    paused_working_days=added,
                    remaining_when_paused=remaining,
                    provisional=self._any_provisional(accepted_on, due),
                )
            added += self.working_days_between(local_date(start), local_date(end))
            due = self.add_working_days(accepted_on, days + added)
        return self._result(accepted_on, days, due, added, paused=False)

    def remaining_working_days(self, deadline: datetime, now: datetime) -> int:
        """Working days left before ``deadline``, for "time left" in queues.

        Positive: working days after today up to the due day; 0: due today; negative
        once the deadline has passed: minus the working days since the due day, and at
        least -1 (so an overdue case never shows 0).
        """
        deadline = _aware(deadline, "deadline")
        now = _aware(now, "now")
        due_day = local_date(deadline - _ONE_MICROSECOND)
        today = local_date(now)
        if now >= deadline:
            return -max(1, self.working_days_between(due_day, today))
        return self.working_days_between(today, due_day)

    # -- internals ------------------------------------------------------------------

    def _result(
        self, accepted_on: date, days: int, due: date, added: int, *, paused: bool
    ) -> Deadline:
        return Deadline(
            accepted_on=accepted_on,
            days=days,
            due_date=due,
            due_at=end_of_day(due),
            paused=paused,
            paused_working_days=added,
            provisional=self._any_provisional(accepted_on, due),
        )

    def _any_provisional(self, first: date, last: date) -> bool:
        return any(
            self._years[y].provisional for y in range(first.year, last.year + 1) if y in self._years
        )


def _supersedes(new: YearCalendar, old: YearCalendar) -> bool:
    if new.version != old.version:
        return new.version > old.version
    return old.provisional and not new.provisional


def _describe_years(years: Sequence[int]) -> str:
    if not years:
        return "none"
    runs: list[str] = []
    first = prev = years[0]
    for y in [*years[1:], None]:
        if y is not None and y == prev + 1:
            prev = y
            continue
        runs.append(str(first) if first == prev else f"{first}-{prev}")
        if y is not None:
            first = prev = y
    return ", ".join(runs)


def _check_pauses(
    accepted_at: datetime, pauses: Sequence[tuple[datetime, datetime | None]]
) -> None:
    problems: dict[str, str] = {}
    previous_end: datetime | None = accepted_at
    for i, pause in enumerate(pauses):
        key = f"pauses[{i}]"
        try:
            start, end = pause
            start = _aware(start, f"{key}.start")
            if end is not None:
                end = _aware(end, f"{key}.end")
        except InvalidInput as exc:
            problems[exc.field] = exc.reason
            continue
        except (TypeError, ValueError):
            problems[key] = "must be a (start, end) pair"
            continue
        if previous_end is None:
            problems[key] = "only the last pause may still be open"
        elif start < previous_end:
            problems[f"{key}.start"] = (
                "begins before acceptance" if i == 0 else "begins before the previous pause ended"
            )
        if end is not None and end < start:
            problems[f"{key}.end"] = "ends before it begins"
        previous_end = end
    if problems:
        raise Problems(problems, "inconsistent pauses")


# -- the library's years ------------------------------------------------------------


@cache
def library_years() -> tuple[int, ...]:
    """The years the installed ``chinese_calendar`` package has data for."""
    known = {d.year for d in chinese_calendar.holidays}
    known |= {d.year for d in chinese_calendar.workdays}
    return tuple(range(min(known), max(known) + 1)) if known else ()


def library_year(year: int) -> YearCalendar:
    """One year from the ``chinese_calendar`` package, as a :class:`YearCalendar` (version 0)."""
    if year not in library_years():
        raise CalendarMissing(
            "year",
            f"chinese_calendar has no data for the year {year} "
            f"(it knows {_describe_years(library_years())})",
        )

    def pick(days: Mapping[date, str]) -> dict[date, str]:
        return {d: _LIBRARY_NAMES.get(str(n), str(n)) for d, n in days.items() if d.year == year}

    return YearCalendar(
        year=year,
        holidays=pick(chinese_calendar.holidays),
        workdays=pick(chinese_calendar.workdays),
        source=f"chinese_calendar {chinese_calendar.__version__}",
        version=0,
    )


# -- releases and files -------------------------------------------------------------


def _parse_days(
    raw: object, key: str, problems: dict[str, str], year: int | None
) -> dict[date, str]:
    days: dict[date, str] = {}
    if not isinstance(raw, list):
        problems[key] = "must be a list of {date, name}"
        return days
    for i, entry in enumerate(raw):
        ekey = f"{key}[{i}]"
        if not isinstance(entry, Mapping):
            problems[ekey] = "must be an object with date and name"
            continue
        unknown = sorted(set(entry) - _DAY_KEYS)
        if unknown:
            problems[ekey] = f"unknown field(s): {', '.join(map(str, unknown))}"
        text, name = entry.get("date"), entry.get("name")
        if not isinstance(name, str) or not name.strip():
            problems[f"{ekey}.name"] = "a name is required"
            name = ""
        if not isinstance(text, str):
            problems[f"{ekey}.date"] = "must be a date written YYYY-MM-DD"
            continue
        try:
            d = date.fromisoformat(text)
            if len(text) != 10:
                raise ValueError(text)
        except ValueError:
            problems[f"{ekey}.date"] = f"{text!r} is not a date written YYYY-MM-DD"
            continue
        if year is not None and d.year != year:
            problems[f"{ekey}.date"] = f"{text} is outside the year {year}"
        elif d in days:
            problems[f"{ekey}.date"] = f"{text} is listed twice"
        else:
            days[d] = name
    return days


def calendar_from_release(data: Mapping[str, Any]) -> YearCalendar:
    """Read and check one year's calendar release; every problem is reported at once.

    Raises :class:`Problems` with keys such as ``holidays[3].date`` or ``workdays[0].date``.
    """
    problems: dict[str, str] = {}
    if not isinstance(data, Mapping):
        raise InvalidInput("calendar", "must be an object")
    for k in sorted(set(data) - RELEASE_KEYS, key=str):
        problems[str(k)] = "unknown field"
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int):
        problems["year"] = "must be a whole number"
        year = None
    elif not 1900 <= year <= 2999:
        problems["year"] = f"{year} is not a plausible year"
        year = None
    holidays = _parse_days(data.get("holidays", []), "holidays", problems, year)
    workdays = _parse_days(data.get("workdays", []), "workdays", problems, year)
    index = {d: i for i, d in enumerate(workdays)}
    for d in workdays:
        key = f"workdays[{_position(data.get('workdays'), d, index[d])}].date"
        if d in holidays:
            problems[key] = f"{d.isoformat()} is listed both as a holiday and as a working day"
        elif d.weekday() < 5:
            problems[key] = (
                f"{d.isoformat()} is a {_WEEKDAY_NAMES[d.weekday()]}, already a working day; "
                "an adjusted working day must fall on a Saturday or Sunday"
            )
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        problems["source"] = "a source is required (who published these dates)"
        source = ""
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        problems["version"] = "must be a whole number, 0 or more"
        version = 0
    provisional = data.get("provisional", False)
    if not isinstance(provisional, bool):
        problems["provisional"] = "must be true or false"
        provisional = False
    note = data.get("note", "")
    if not isinstance(note, str):
        problems["note"] = "must be text"
        note = ""
    if problems or year is None:
        label = f"calendar {year}" if year is not None else "calendar"
        raise Problems(problems, f"invalid {label} release")
    return YearCalendar(year, holidays, workdays, source, version, provisional, note)


def _position(raw: object, d: date, fallback: int) -> int:
    """Index of ``d`` in the raw list, so a problem names the entry the author wrote."""
    if isinstance(raw, list):
        for i, entry in enumerate(raw):
            if isinstance(entry, Mapping) and entry.get("date") == d.isoformat():
                return i
    return fallback


def overrides_from_dict(data: Mapping[str, Any]) -> CalendarOverrides:
    """Read and check a site's overrides (``{"site", "holidays", "workdays", "version"}``)."""
    problems: dict[str, str] = {}
    if not isinstance(data, Mapping):
        raise InvalidInput("overrides", "must be an object")
    for k in sorted(set(data) - OVERRIDE_KEYS, key=str):
        problems[str(k)] = "unknown field"
    site = data.get("site", "")
    if not isinstance(site, str):
        problems["site"] = "must be a site code"
        site = ""
    holidays = _parse_days(data.get("holidays", []), "holidays", problems, None)
    workdays = _parse_days(data.get("workdays", []), "workdays", problems, None)
    for i, d in enumerate(workdays):
        if d in holidays:
            key = f"workdays[{_position(data.get('workdays'), d, i)}].date"
            problems[key] = f"{d.isoformat()} is listed both as a holiday and as a working day"
    version = data.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        problems["version"] = "must be a whole number, 0 or more"
        version = 0
    note = data.get("note", "")
    if not isinstance(note, str):
        problems["note"] = "must be text"
        note = ""
    if problems:
        raise Problems(problems, "invalid calendar overrides")
    return CalendarOverrides(site, holidays, workdays, version, note)


def load_calendar_file(path: Path) -> YearCalendar:
    """Read one calendar JSON file; the file name must be ``<year>.json``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(path.name, f"cannot read calendar file: {exc}")
    if not isinstance(data, Mapping):
        raise InvalidInput(path.name, "a calendar file holds one JSON object")
    yc = calendar_from_release(data)
    if path.stem != str(yc.year):
        raise InvalidInput(path.name, f"holds the year {yc.year}; name it {yc.year}.json")
    return yc


def load_calendar_dir(directory: Path) -> list[YearCalendar]:
    """Every ``<year>.json`` in ``directory`` (none if it does not exist), by year."""
    if not directory.is_dir():
        return []
    return [load_calendar_file(p) for p in sorted(directory.glob("[0-9][0-9][0-9][0-9].json"))]
