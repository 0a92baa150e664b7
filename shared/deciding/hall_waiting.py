"""Waiting times in the city hall (排队等候时长) for the period reports: of the queue
tickets first called in the period, how many, and the average and longest wait in minutes,
per service area and per window.

A ticket's wait is recorded when a window first calls it (:mod:`hub.hall_queue`): from the
slot's start for a booking, else from when the ticket was taken. A site without a hall (the
township and county nodes) reports none.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel

MINUTE_MS = 60_000


def _rows(session: Session, key: Any, tickets: Any, lo: int, hi: int, name: str
          ) -> list[dict[str, Any]]:
    query = (select(key, func.count(), func.avg(tickets.waited_ms), func.max(tickets.waited_ms))
             .where(tickets.called_ms >= lo, tickets.called_ms < hi,
                    tickets.waited_ms.is_not(None))
             .group_by(key).order_by(key))
    return [{name: code, "called": int(n),
             "average_minutes": round(float(avg or 0) / MINUTE_MS, 1),
             "max_minutes": round(float(longest or 0) / MINUTE_MS, 1)}
            for code, n, avg, longest in session.execute(query)]


def waiting_figures(session: Session, model: ProjectionModel, lo: int, hi: int
                    ) -> dict[str, list[dict[str, Any]]]:
    """``{"areas": [{"area", "called", "average_minutes", "max_minutes"}], "windows":
    [{"window", …}]}`` for tickets first called in ``[lo, hi)`` (epoch ms)."""
    tickets = model.hall_ticket_model
    if tickets is None:
        return {"areas": [], "windows": []}
    return {"areas": _rows(session, tickets.area, tickets, lo, hi, "area"),
            "windows": _rows(session, tickets.window, tickets, lo, hi, "window")}
