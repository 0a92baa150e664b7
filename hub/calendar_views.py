"""The public working-day calendar (``/calendar``): a year's working days as twelve month
grids with its holidays and the weekend days worked in exchange (调休).

No login, like the service guide: applicants and agents count a time limit themselves. The
page sets its own caching (public, an hour); the hub's copy of every published year is shown
on top of the shipped data. The texts are :mod:`hub.i18n`'s: Chinese by default, English
with ``?lang=en``.
"""

from __future__ import annotations

import calendar as month_calendar
import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from hub.db_session import get_session
from hub.releases import published_years
from hub.services import services
from shared.domain.errors import InvalidInput
from shared.domain.working_days import WorkingDayCalendar, local_date
from shared.web.i18n import t
from shared.web.pages import no_store

bp = Blueprint("calendar", __name__)
bp.after_request(no_store)  # a held year keeps its public caching, a missing one is not stored


@dataclass(frozen=True, slots=True)
class DayCell:
    """One day of a month grid."""

    day: int
    kind: str
    """``work``, ``weekend``, ``holiday`` (off) or ``adjusted`` (a weekend day worked, 调休)."""
    name: str | None


@dataclass(frozen=True, slots=True)
class HolidayPeriod:
    """One named holiday as the table under the grids lists it."""

    name: str
    off: list[str]
    """Runs of days off, ``MM-DD – MM-DD``."""
    off_days: int
    worked: list[str]


def _holiday(name: str) -> str:
    """A holiday's name in this request's language (as the calendar data names it when the
    table does not know it)."""
    key = f"cal.h.{name}"
    text = t(key)
    return name if text == key else text


def _held_calendar(session: Session) -> WorkingDayCalendar:
    """The hub's calendar with every year it published on top (a published year newer than
    the shipped data replaces it)."""
    held = services().calendar
    for year in published_years(session):
        with contextlib.suppress(InvalidInput):  # not newer than the year already held
            held = held.with_release(year)
    return held


def _months(held: WorkingDayCalendar, year: int) -> list[tuple[int, list[list[DayCell | None]]]]:
    """Each month as weeks Monday to Sunday; days of the neighbouring months are blank."""
    months: list[tuple[int, list[list[DayCell | None]]]] = []
    grid = month_calendar.Calendar(firstweekday=0)
    for month in range(1, 13):
        weeks: list[list[DayCell | None]] = []
        for week in grid.monthdatescalendar(year, month):
            cells: list[DayCell | None] = []
            for day in week:
                if day.month != month:
                    cells.append(None)
                    continue
                working = held.is_working_day(day)
                weekend = day.weekday() >= 5
                name = held.day_name(day)
                if working:
                    kind = "adjusted" if weekend else "work"
                else:
                    kind = "holiday" if name or not weekend else "weekend"
                cells.append(DayCell(day.day, kind, name))
            weeks.append(cells)
        months.append((month, weeks))
    return months


def _runs(days: Sequence[date]) -> list[str]:
    """Consecutive days as ``MM-DD – MM-DD`` ranges (a single day alone)."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return [run[0].strftime("%m-%d") + (f" – {run[-1]:%m-%d}" if len(run) > 1 else "")
            for run in runs]


def _periods(held: WorkingDayCalendar, year: int) -> list[HolidayPeriod]:
    """Each named holiday with its days off and the weekend days worked in exchange."""
    data = held.year_data(year)
    off: dict[str, list[date]] = defaultdict(list)
    worked: dict[str, list[date]] = defaultdict(list)
    for day, name in data.holidays.items():
        off[name].append(day)
    for day, name in data.workdays.items():
        worked[name].append(day)
    names = sorted(off.keys() | worked.keys(), key=lambda n: min(off[n] or worked[n]))
    return [HolidayPeriod(name, _runs(off[name]), len(off[name]),
                          [f"{d:%m-%d}" for d in sorted(worked[name])])
            for name in names]


@bp.get("/calendar")
def calendar_now() -> ResponseReturnValue:
    """This year's calendar (Asia/Shanghai)."""
    return redirect(url_for(".calendar_year", year=local_date(services().clock()).year))


@bp.get("/calendar/<int:year>")
def calendar_year(year: int) -> ResponseReturnValue:
    """The working days of ``year`` as twelve month grids; public, like the service guide,
    so applicants and agents can count a time limit themselves."""
    held = _held_calendar(get_session())
    years = set(held.years)
    if year not in years:
        html = render_template("calendar.html", year=year, months=[], held=False,
                               holiday=_holiday,
                               prev_held=year - 1 in years, next_held=year + 1 in years,
                               years=sorted(years))
        return html, 404
    html = render_template(
        "calendar.html", year=year, held=True, data=held.year_data(year),
        months=_months(held, year), periods=_periods(held, year),
        weekdays=t("cal.weekdays").split(), month_names=t("cal.months").split(),
        holiday=_holiday,
        prev_held=year - 1 in years, next_held=year + 1 in years, years=sorted(years),
    )
    return html, 200, {"Cache-Control": "public, max-age=3600"}
