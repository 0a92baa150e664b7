"""The supervisor's figures for a period (日清周结月评年报) and for the hall board, counted by
aggregate SQL over the site's window projection and its signals table: a report costs what
the period's rows cost, read through the indexes on registration and decision times.

What each figure counts, per window (the deciding window the case is routed to):

- ``received``: cases registered in the period (the day the applicant came);
- ``completed``: cases decided in the period (approved, rejected, deemed approved);
- ``on_time``: of those, decided by their promised deadline (a case without one, decided
  on the spot, counts as on time); ``early``: decided a day or more before it;
- ``overdue``: decided in the period after their promised deadline, plus cases still
  undecided at the end of the period whose deadline had passed (and whose clock ran);
- ``average_days``: calendar days from acceptance to decision of the completed cases;
- ``satisfaction_rate``: of the completed cases the applicant rated, the share rated
  satisfied or better (very satisfied, satisfied, basically satisfied); null when none was;
- ``warnings``, ``yellow_cards``, ``red_cards``, ``urges``: signals raised in the period;
- ``materials_reused``: materials the period's registrations took from the certificate
  store (证照库) instead of a scan, and that the store vouched for (a site without the store
  counts none);
- ``rectifications``: bad ratings' rectifications (差评整改) whose answer fell due in the
  period; ``rectified_on_time``: of those, answered by then; ``rectifications_overdue``:
  answered late, or unanswered with the due time passed before the period's end;
  ``callbacks_satisfied``: of those, the applicant said on the call-back they were satisfied.

``waiting`` gives the hall's waiting times (排队等候) of the tickets called in the period, per
service area and per window (:mod:`shared.deciding.hall_waiting`; empty at a site without a
hall).

``rectifications_by_site`` counts the same per deciding site over every case the site holds,
so the hub, which holds the cases decided below it too, sees each township's loop.

``consultations`` counts the consultations and complaints (咨询投诉) per department that owes
the answer: received, answered, answered on time, overdue
(:mod:`shared.deciding.consultation_figures`; empty at a site that keeps no ledger of them);
the CSV gives each department a line of its own after the windows' and the PDF a table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.deciding.case_signals import SignalModel, counts_by_window
from shared.deciding.consultation_figures import consultation_figures
from shared.deciding.hall_waiting import waiting_figures
from shared.deciding.one_form_figures import one_form_figures
from shared.domain.catalogue import Catalogue
from shared.domain.consultations import CONSULTATION_COLUMNS, flat_figures
from shared.domain.csv_cells import safe_cell
from shared.domain.working_days import SHANGHAI
from sync_protocol.times import to_ms

PERIODS = ("day", "week", "month", "year")
SATISFIED = ("very_satisfied", "satisfied", "basically_satisfied")
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Period:
    """A report's period: its kind and its first and last day (in Shanghai)."""

    kind: str
    first: date
    last: date

    @property
    def from_ms(self) -> int:
        return to_ms(datetime.combine(self.first, time(0), SHANGHAI))

    @property
    def to_ms(self) -> int:
        return to_ms(datetime.combine(self.last + timedelta(days=1), time(0), SHANGHAI))


def period_of(kind: str, day: date) -> Period:
    """The day, ISO week (Monday to Sunday), month or year holding ``day``."""
    if kind == "day":
        return Period(kind, day, day)
    if kind == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(kind, monday, monday + timedelta(days=6))
    if kind == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(kind, first, following - timedelta(days=1))
    if kind == "year":
        return Period(kind, date(day.year, 1, 1), date(day.year, 12, 31))
    raise ValueError(f"unknown period {kind!r}")


RECTIFICATION_FIGURES = ("rectifications", "rectified_on_time", "rectifications_overdue",
                         "callbacks_satisfied")
FIGURES = ("received", "completed", "on_time", "early", "overdue", "average_days",
           "satisfaction_rate", "warnings", "yellow_cards", "red_cards", "urges",
           *RECTIFICATION_FIGURES, "materials_reused")
_SIGNAL_FIGURES = {"warning": "warnings", "yellow_card": "yellow_cards",
                   "red_card": "red_cards", "urge": "urges"}


def _blank(window: str) -> dict[str, Any]:
    return {"window": window, **dict.fromkeys(FIGURES, 0), "average_days": None,
            "satisfaction_rate": None}


def report_rows(session: Session, model: ProjectionModel, signals: SignalModel | None,
                site: str, period: Period) -> list[dict[str, Any]]:
    """One row per window with any figure in the period, by window code."""
    m, lo, hi = model, period.from_ms, period.to_ms
    rows: dict[str, dict[str, Any]] = {}

    def row(window: str) -> dict[str, Any]:
        return rows.setdefault(window, _blank(window))

    received = select(m.window, func.count()).where(
        m.owner_site == site, m.registered_ms >= lo, m.registered_ms < hi).group_by(m.window)
    for window, n in session.execute(received):
        row(window)["received"] = int(n)
    late = (m.due_ms.is_not(None)) & (m.decided_ms > m.due_ms)
    rated = m.rating.is_not(None)
    decided = select(
        m.window, func.count(),
        func.sum(case((late, 0), else_=1)),
        func.sum(case(((m.due_ms.is_not(None)) & (m.decided_ms <= m.due_ms - DAY_MS), 1),
                      else_=0)),
        func.sum(case((late, 1), else_=0)),
        func.avg(case((m.accepted_ms.is_not(None), m.decided_ms - m.accepted_ms))),
        func.sum(case((rated, 1), else_=0)),
        func.sum(case((m.rating.in_(SATISFIED), 1), else_=0)),
    ).where(m.owner_site == site, m.decided_ms >= lo, m.decided_ms < hi).group_by(m.window)
    for window, n, on_time, early, overdue, average, n_rated, n_satisfied in session.execute(
            decided):
        r = row(window)
        r.update(completed=int(n), on_time=int(on_time or 0), early=int(early or 0),
                 overdue=int(overdue or 0))
        if average is not None:
            r["average_days"] = round(float(average) / DAY_MS, 1)
        if n_rated:
            r["satisfaction_rate"] = round(int(n_satisfied or 0) / int(n_rated), 4)
    still_open = select(m.window, func.count()).where(
        m.owner_site == site, m.open == 1, m.decided_ms.is_(None), m.paused == 0,
        m.due_ms.is_not(None), m.due_ms < hi).group_by(m.window)
    for window, n in session.execute(still_open):
        row(window)["overdue"] += int(n)
    for window, *figures in session.execute(
            _rectifications(m, hi, m.window).where(m.owner_site == site,
                                                   m.rect_due_ms >= lo, m.rect_due_ms < hi)):
        row(window).update(zip(RECTIFICATION_FIGURES, (int(n or 0) for n in figures),
                               strict=True))
    if signals is not None:
        for (window, kind), n in counts_by_window(session, signals, site, lo, hi).items():
            if kind in _SIGNAL_FIGURES:
                row(window)[_SIGNAL_FIGURES[kind]] += n
    reuses = getattr(model, "reuse_model", None)
    if reuses is not None:
        for window, n in session.execute(_reused(m, reuses, site, lo, hi)):
            row(window)["materials_reused"] = int(n)
    return [rows[w] for w in sorted(rows)]


def _reused(m: ProjectionModel, reuses: Any, site: str, lo: int, hi: int
            ) -> Select[str, int]:
    """The materials registrations in the period took from the certificate store and the
    site trusted, per window (``reuses``: the site's table of them, at the hub)."""
    return (select(m.window, func.count()).join(reuses, reuses.case_id == m.case_id)
            .where(m.owner_site == site, reuses.trusted == 1, reuses.recorded_ms >= lo,
                   reuses.recorded_ms < hi).group_by(m.window))


def _rectifications(m: ProjectionModel, hi: int, key: Any) -> Select[Any]:
    """The rectification figures grouped by ``key`` (the caller bounds the due times)."""
    answered = m.rect_answered_ms.is_not(None)
    on_time = answered & (m.rect_answered_ms <= m.rect_due_ms)
    late = (answered & (m.rect_answered_ms > m.rect_due_ms)) | (
        m.rect_answered_ms.is_(None) & (m.rect_due_ms < hi))
    return select(key, func.count(), func.sum(case((on_time, 1), else_=0)),
                  func.sum(case((late, 1), else_=0)),
                  func.sum(case((m.rect_outcome == "satisfied", 1), else_=0))).group_by(key)


def rectifications_by_site(session: Session, model: ProjectionModel, period: Period
                           ) -> list[dict[str, Any]]:
    """The rectification figures of every deciding site whose cases this site holds."""
    m = model
    query = _rectifications(m, period.to_ms, m.owner_site).where(
        m.rect_due_ms >= period.from_ms, m.rect_due_ms < period.to_ms)
    return [{"site": site, **dict(zip(RECTIFICATION_FIGURES, (int(n or 0) for n in figures),
                                      strict=True))}
            for site, *figures in session.execute(query.order_by(m.owner_site))]


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The site's figures over all windows (rates weighted by the windows' counts)."""
    total = _blank("")
    for r in rows:
        for figure in FIGURES:
            if figure not in ("average_days", "satisfaction_rate"):
                total[figure] += r[figure]
    completed = [(r["completed"], r["average_days"]) for r in rows if r["average_days"]]
    if completed:
        weight = sum(n for n, _ in completed)
        total["average_days"] = round(sum(n * d for n, d in completed) / weight, 1)
    rated = [(r["completed"], r["satisfaction_rate"]) for r in rows
             if r["satisfaction_rate"] is not None]
    if rated and sum(n for n, _ in rated):
        total["satisfaction_rate"] = round(
            sum(n * s for n, s in rated) / sum(n for n, _ in rated), 4)
    return total


def report(session: Session, model: ProjectionModel, site: str, kind: str,
           day: date, catalogue: Catalogue) -> dict[str, Any]:
    """The report of ``kind`` holding ``day``, as the API answers it."""
    period = period_of(kind, day)
    rows = report_rows(session, model, model.signal_model, site, period)
    return {"period": kind, "from": period.first.isoformat(), "to": period.last.isoformat(),
            "site": site, "rows": rows, "total": totals(rows),
            "rectifications_by_site": rectifications_by_site(session, model, period),
            "one_forms": one_form_figures(session, model, catalogue, period.from_ms,
                                          period.to_ms),
            "consultations": consultation_figures(session, model, period.from_ms,
                                                  period.to_ms),
            "waiting": waiting_figures(session, model, period.from_ms, period.to_ms)}


def csv_text(rows: list[dict[str, Any]],
             consultations: Sequence[Mapping[str, Any]] = ()) -> str:
    """The rows as CSV, one line per window, the figures in :data:`FIGURES` order; then
    one line per department with its consultations' and complaints' figures in the
    columns after them (:data:`CONSULTATION_COLUMNS`; empty on a window's line, as the
    window's columns are on a department's)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["window", *FIGURES, *CONSULTATION_COLUMNS],
                            lineterminator="\n")
    writer.writeheader()
    for row in [*rows, *flat_figures(consultations)]:
        writer.writerow({k: safe_cell(v) for k, v in row.items()})
    return out.getvalue()


def closed_periods(now: datetime) -> list[tuple[str, date]]:
    """The last day, week, month and year that have ended by ``now`` (in Shanghai), each
    named by its first day: what the scheduled reports write once."""
    yesterday = now.astimezone(SHANGHAI).date() - timedelta(days=1)
    today = yesterday + timedelta(days=1)
    last_week = today - timedelta(days=today.weekday() + 7)
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return [("day", yesterday), ("week", last_week), ("month", last_month),
            ("year", date(today.year - 1, 1, 1))]


@dataclass(frozen=True, slots=True)
class BoardFigures:
    """Today's figures for the hall board (no case, no person)."""

    day: date
    received: int
    completed: int
    on_time_rate: float | None
    open_cases: int
    overdue_now: int
    satisfaction_rate: float | None


def board_figures(session: Session, model: ProjectionModel, site: str, now: datetime
                  ) -> BoardFigures:
    """What the hall board shows: today's received and completed, the on-time rate of
    today's decisions, what is open now and how much of it is past its deadline."""
    today = now.astimezone(SHANGHAI).date()
    rows = report_rows(session, model, None, site, period_of("day", today))
    total = totals(rows)
    m = model
    open_now, overdue_now = session.execute(
        select(func.count(), func.sum(case(((m.due_ms < to_ms(now)) & (m.paused == 0), 1),
                                           else_=0)))
        .where(m.owner_site == site, m.open == 1, m.decided_ms.is_(None))).one()
    completed = int(total["completed"])
    on_time = int(total["on_time"])
    return BoardFigures(
        day=today, received=int(total["received"]), completed=completed,
        on_time_rate=round(on_time / completed, 4) if completed else None,
        open_cases=int(open_now or 0), overdue_now=int(overdue_now or 0),
        satisfaction_rate=total["satisfaction_rate"])
