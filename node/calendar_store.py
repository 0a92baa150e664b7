"""The working-day calendar a township or county node counts its deadlines with: the shipped
years plus every calendar release that came down from the hub (a new year needs no software
upgrade), with the site's own overrides (``calendar_overrides.json``). Re-read only when a
new calendar release has arrived."""

from __future__ import annotations

from collections.abc import Callable

import cbor2
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.domain.release_content import CALENDAR, calendar_from_release_content
from shared.domain.working_days import (
    NO_OVERRIDES,
    CalendarOverrides,
    WorkingDayCalendar,
    YearCalendar,
)
from shared.storage.sync_store import SyncRelease
from sync_protocol.releases import release_from_wire


class HeldCalendar:
    """The calendar of this node's releases, rebuilt when their number changes."""

    def __init__(self, session_factory: Callable[[], Session],
                 overrides: CalendarOverrides = NO_OVERRIDES) -> None:
        self._sessions = session_factory
        self._overrides = overrides
        self._stamp: tuple[int, int] | None = None
        self._calendar: WorkingDayCalendar | None = None

    def current(self) -> WorkingDayCalendar:
        with self._sessions() as session:
            count, newest = session.execute(
                select(func.count(), func.max(SyncRelease.version))
                .where(SyncRelease.kind == CALENDAR)
            ).one()
            stamp = (int(count or 0), int(newest or 0))
            if self._calendar is None or stamp != self._stamp:
                years: list[YearCalendar] = []
                for wire in session.scalars(select(SyncRelease.wire)
                                            .where(SyncRelease.kind == CALENDAR)
                                            .order_by(SyncRelease.version)):
                    release = release_from_wire(cbor2.loads(wire))
                    years.append(calendar_from_release_content(release.content))
                self._calendar = WorkingDayCalendar.standard(releases=years,
                                                             overrides=self._overrides)
                self._stamp = stamp
        return self._calendar
