"""The citizens' ratings (好差评) of a period, counted per window, department and item.

One grouped query over the site's window projection (``hub_cases`` / ``node_window_cases``):
the cases this site decided in the period (``decided_ms``, read through the reports' index),
grouped by window, item and rating, so it costs at most windows x items x 6 rows whatever
the number of cases; then folded in memory through the catalogue into the three views.

What is counted, for the cases decided in the period (the projection keeps the rating but
not when it was given, so a case counts in the period of its decision, and a period's
figures grow while its cases are still being rated):

- ``decided``: cases decided (approved, rejected, deemed approved);
- each of the five levels of the national scheme (:data:`shared.domain.rating.RATINGS`);
- ``rated``: of the decided cases, those rated (one rating per case);
- ``rated_share``: ``rated / decided`` (None when nothing was decided);
- ``satisfaction_rate``: the share of the rated cases rated 非常满意, 满意 or 基本满意, as
  the national scheme counts satisfaction (None when none was rated) — the same rule as the
  reports' ``satisfaction_rate``.

A window's department is the catalogue's for that window (else its item's); a window or item
the catalogue no longer lists is counted under its code, its department as unknown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.deciding.supervision_reports import SATISFIED, Period, period_of
from shared.domain.catalogue import Catalogue
from shared.domain.csv_cells import safe_cell
from shared.domain.errors import NotFound
from shared.domain.rating import RATINGS

UNKNOWN = "?"
"""The department of a window and item the catalogue no longer lists."""
VIEWS = ("window", "department", "item")
CSV_COLUMNS = ("view", "key", "decided", "rated", "rated_share", "satisfaction_rate",
               *RATINGS)
"""The CSV's columns: one row per window, department and item, then the total."""


@dataclass
class RatingRow:
    """The figures of one window, department or item (or the site's total)."""

    key: str
    decided: int = 0
    levels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))

    @property
    def rated(self) -> int:
        return sum(self.levels.values())

    @property
    def rated_share(self) -> float | None:
        return round(self.rated / self.decided, 4) if self.decided else None

    @property
    def satisfaction_rate(self) -> float | None:
        rated = self.rated
        satisfied = sum(self.levels[level] for level in SATISFIED)
        return round(satisfied / rated, 4) if rated else None

    def add(self, decided: int, rating: str | None) -> None:
        self.decided += decided
        if rating in self.levels:
            self.levels[rating] += decided


@dataclass
class RatingFigures:
    """The period's figures in the three views, each sorted by its key, and the total."""

    period: Period
    site: str
    windows: list[RatingRow]
    departments: list[RatingRow]
    items: list[RatingRow]
    total: RatingRow

    def view(self, name: str) -> list[RatingRow]:
        return {"window": self.windows, "department": self.departments,
                "item": self.items}[name]


def rating_figures(session: Session, model: ProjectionModel, catalogue: Catalogue, site: str,
                   kind: str, day: date) -> RatingFigures:
    """The figures of the ``kind`` period (day, week, month, year) holding ``day``, for the
    cases ``site`` decided in it."""
    period = period_of(kind, day)
    m = model
    query = (select(m.window, m.item_code, m.rating, func.count())
             .where(m.owner_site == site, m.decided_ms >= period.from_ms,
                    m.decided_ms < period.to_ms)
             .group_by(m.window, m.item_code, m.rating))
    rows = [(str(w), str(i), r, int(n)) for w, i, r, n in session.execute(query)]
    return fold_figures(rows, catalogue, period, site)


def fold_figures(rows: Iterable[tuple[str, str, str | None, int]], catalogue: Catalogue,
                 period: Period, site: str) -> RatingFigures:
    """Fold grouped rows ``(window, item, rating or None, cases)`` into the three views."""
    views: dict[str, dict[str, RatingRow]] = {view: {} for view in VIEWS}
    total = RatingRow("")
    for window, item_code, rating, n in rows:
        keys = {"window": window, "department": _department(catalogue, window, item_code),
                "item": item_code}
        for view, key in keys.items():
            views[view].setdefault(key, RatingRow(key)).add(n, rating)
        total.add(n, rating)
    windows, departments, items = ([views[v][k] for k in sorted(views[v])] for v in VIEWS)
    return RatingFigures(period, site, windows, departments, items, total)


def _department(catalogue: Catalogue, window: str, item_code: str) -> str:
    """The department whose window it is (the item's when the window is not listed)."""
    try:
        return catalogue.window(window).department
    except NotFound:
        pass
    try:
        return catalogue.item(item_code).department
    except NotFound:
        return UNKNOWN


def csv_text(figures: RatingFigures) -> str:
    """Every view's rows and the total as CSV (:data:`CSV_COLUMNS`), rates as fractions."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for view in VIEWS:
        _write(writer, view, figures.view(view))
    _write(writer, "total", [figures.total])
    return out.getvalue()


def _write(writer: Any, view: str, rows: Sequence[RatingRow]) -> None:
    for row in rows:
        cells = [view, row.key, row.decided, row.rated, row.rated_share,
                 row.satisfaction_rate, *(row.levels[level] for level in RATINGS)]
        writer.writerow([safe_cell(c) for c in cells])  # None: an empty cell
