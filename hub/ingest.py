"""What the hub does with the events the exchange stored: keep every case's projection
(``hub_cases``) and route the cases it decides.

A case's deciding site is found from the registry (:func:`hub.sites.path_up`) and the item's
tier (:func:`shared.deciding.case_work.owner_of`); cases a township or county decides are only
projected: the hub supervises every case of the city. Every case's registration reaches the
hub through :meth:`HubHooks.events_arrived`, which also fills the blind index of ID numbers
(:mod:`hub.privacy.id_indexing`) and the certificate store (:mod:`hub.privacy.certificates`)
in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.consultation_ledger import keep as keep_consultations
from hub.models import HubCase
from hub.privacy.archive import refuse_if_archived
from hub.privacy.certificates import record_events
from hub.privacy.erasure import erase_again
from hub.privacy.id_indexing import index_events
from hub.sites import paths_up
from shared.deciding import case_work
from shared.deciding.case_projection import DecidingHooks, ProjectionStore
from shared.domain.case_events import EventType
from shared.domain.catalogue import Catalogue, ServiceItem
from shared.domain.catalogue_versions import CatalogueVersions
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite
from shared.storage.sealing import DataKeys
from sync_protocol import Event

HUB_TIER = "city"


class HubHooks(DecidingHooks):
    """The deciding hooks, and the blind index of the ID numbers the events carry."""

    def __init__(self, keys: Callable[[], DataKeys], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._keys = keys

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        # the touched cases' logs are read once, by the projection, for every hook below
        arrival = self.project(session, events, now)
        index_events(session, self._keys(), events)
        # the certificate store: what the cases give their holders, the references checked
        record_events(session, self._keys(), self._catalogue(), self._site().sealer, events,
                      logs=arrival.logs_now(), items=arrival.items)
        # an erased case's events that come up again are erased at once (and unindexed)
        erase_again(session, self._site(), events, self._keys(), erased={
            case_id for case_id, log in arrival.logs.items()
            if any(e.type is EventType.ERASED for e in log)})
        # consultations and complaints (咨询投诉) recorded or answered anywhere
        keep_consultations(session, events, self._calendar() if self._calendar is not None
                           else WorkingDayCalendar.standard())


def hub_hooks(site: Callable[[], SyncSite], catalogue: Callable[[], Catalogue],
              keys: Callable[[], DataKeys],
              versions: CatalogueVersions | None = None, *,
              calendar: Callable[[], WorkingDayCalendar] | None = None,
              warning_share: float = DEFAULT_WARNING_SHARE) -> DecidingHooks:
    def owner(session: Session, cases: Sequence[tuple[str, ServiceItem]]) -> list[str]:
        # the registry's paths of the origins, read once per transaction (a batch holds
        # many cases of few origins)
        paths: dict[str, list[tuple[str, str]]] = session.info.setdefault("path_up", {})
        missing = {origin for origin, _ in cases if origin not in paths}
        if missing:
            paths.update(paths_up(session, missing))
        hub_path = [(site().code, HUB_TIER)]
        return [case_work.owner_of(item, paths.get(origin) or hub_path)
                for origin, item in cases]

    return HubHooks(keys, site=site, catalogue=catalogue, tier=HUB_TIER, model=HubCase,
                    owner=owner, versions=versions, calendar=calendar,
                    warning_share=warning_share)


class HubWindowStore(ProjectionStore):
    """The hub's window queues, read from ``hub_cases``. A window action on an archived case
    is refused here, after it was drafted and before the commit, so nothing of it stays."""

    def __init__(self, site: Callable[[], SyncSite]) -> None:
        super().__init__(HubCase, site)

    def refresh(self, session: Session, case_id: uuid.UUID, now: datetime) -> None:
        refuse_if_archived(session, case_id)
        super().refresh(session, case_id, now)
