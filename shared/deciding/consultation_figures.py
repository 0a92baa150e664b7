"""The period report's figures of consultations and complaints (咨询投诉), per department
that owes the answer, from the site's ledger of them (the hub's ``hub_consultations``; a site
without one reports none).

- ``received``: recorded in the period, at any tier and by any channel;
- ``answered``: answered in the period; ``answered_on_time``: of those, by their deadline;
- ``overdue``: answered in the period after their deadline, plus those still unanswered at
  the end of the period whose deadline had passed by then.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.domain.consultations import CONSULTATION_FIGURES


def consultation_figures(session: Session, model: ProjectionModel, lo: int, hi: int
                         ) -> list[dict[str, Any]]:
    """One row per department with any figure in ``[lo, hi)`` (epoch ms), by department;
    each row has ``department``, ``consultations`` and ``complaints`` (the figures of each
    kind)."""
    ledger = getattr(model, "consultation_model", None)
    if ledger is None:
        return []
    c = ledger
    rows: dict[str, dict[str, Any]] = {}

    def row(department: str, kind: str) -> dict[str, int]:
        entry = rows.setdefault(department, {
            "department": department,
            "consultations": dict.fromkeys(CONSULTATION_FIGURES, 0),
            "complaints": dict.fromkeys(CONSULTATION_FIGURES, 0)})
        figures: dict[str, int] = entry["complaints" if kind == "complaint" else
                                        "consultations"]
        return figures

    received = (select(c.department, c.kind, func.count())
                .where(c.recorded_ms >= lo, c.recorded_ms < hi).group_by(c.department, c.kind))
    for department, kind, n in session.execute(received):
        row(department, kind)["received"] = int(n)
    late = c.answered_ms > c.due_ms
    answered = (select(c.department, c.kind, func.count(),
                       func.sum(case((late, 0), else_=1)), func.sum(case((late, 1), else_=0)))
                .where(c.answered_ms >= lo, c.answered_ms < hi).group_by(c.department, c.kind))
    for department, kind, n, on_time, overdue in session.execute(answered):
        figures = row(department, kind)
        figures.update(answered=int(n), answered_on_time=int(on_time or 0),
                       overdue=int(overdue or 0))
    unanswered = (select(c.department, c.kind, func.count())
                  .where(((c.answered_ms.is_(None)) | (c.answered_ms >= hi)),
                         c.due_ms < hi, c.recorded_ms < hi)
                  .group_by(c.department, c.kind))
    for department, kind, n in session.execute(unanswered):
        row(department, kind)["overdue"] += int(n)
    return [rows[d] for d in sorted(rows)]

