"""The supervisor's live counts: open cases, clock stopped, due within a day, overdue and
carded, by deciding tier, department, window and item.

One grouped query over the open, undecided cases of the projection (by owner site, window and
item: at most sites x windows x items rows, whatever the number of cases), then folded in
memory into the four views through the catalogue (an item names its department and the tier
that decides it). At the hub every deciding site's cases are counted (the hub's projection
holds the whole city); at a township or county, its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.deciding.supervision_reports import DAY_MS
from shared.domain.catalogue import Catalogue
from shared.domain.errors import NotFound

CARDS = ("yellow_card", "red_card")
UNKNOWN = "?"
"""The department or tier of an item the catalogue no longer lists."""


@dataclass
class Counts:
    """One row of a view."""

    key: str
    open: int = 0
    paused: int = 0
    near: int = 0
    overdue: int = 0
    carded: int = 0

    def add(self, other: Counts) -> None:
        self.open += other.open
        self.paused += other.paused
        self.near += other.near
        self.overdue += other.overdue
        self.carded += other.carded


@dataclass
class LiveCounts:
    """The four views, each sorted by its key; ``windows`` keys are ``site/window``."""

    tiers: list[Counts] = field(default_factory=list)
    departments: list[Counts] = field(default_factory=list)
    windows: list[Counts] = field(default_factory=list)
    items: list[Counts] = field(default_factory=list)
    total: Counts = field(default_factory=lambda: Counts("total"))


def live_counts(session: Session, model: ProjectionModel, catalogue: Catalogue, *,
                site: str, every_site: bool, now_ms: int) -> LiveCounts:
    """The counts of the open, undecided cases ``site`` decides (``every_site``: all)."""
    m = model
    running = m.paused == 0
    query = (
        select(m.owner_site, m.window, m.item_code, func.count(), func.sum(m.paused),
               func.sum(case(((m.due_ms >= now_ms) & (m.due_ms < now_ms + DAY_MS) & running,
                              1), else_=0)),
               func.sum(case(((m.due_ms < now_ms) & running, 1), else_=0)),
               func.sum(case((m.signal.in_(CARDS), 1), else_=0)))
        .where(m.open == 1, m.decided_ms.is_(None))
        .group_by(m.owner_site, m.window, m.item_code))
    if not every_site:
        query = query.where(m.owner_site == site)
    rows = [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), r[4], r[5], r[6], r[7])
            for r in session.execute(query)]
    return fold_counts(rows, catalogue)


def fold_counts(rows: Iterable[tuple[str, str, str, int, int | None, int | None, int | None,
                                     int | None]],
                catalogue: Catalogue) -> LiveCounts:
    """Fold grouped rows ``(owner site, window, item, open, paused, near, overdue, carded)``
    into the four views."""
    views: dict[str, dict[str, Counts]] = {"tier": {}, "department": {}, "window": {},
                                           "item": {}}
    out = LiveCounts()
    for owner, window, item_code, n, paused, near, overdue, carded in rows:
        row = Counts("", int(n), int(paused or 0), int(near or 0), int(overdue or 0),
                     int(carded or 0))
        try:
            item = catalogue.item(item_code)
            tier, department = str(item.tier), item.department
        except NotFound:
            tier = department = UNKNOWN
        for view, key in (("tier", tier), ("department", department),
                          ("window", f"{owner}/{window}"), ("item", item_code)):
            views[view].setdefault(key, Counts(key)).add(row)
        out.total.add(row)
    out.tiers, out.departments, out.windows, out.items = (
        [views[v][k] for k in sorted(views[v])] for v in ("tier", "department", "window", "item"))
    return out
