"""What the hub does with the events the exchange stored: keep every case's projection
(``hub_cases``) and route the cases it decides.

A case's deciding site is found from the registry (:func:`hub.sites.path_up`) and the item's
tier (:func:`shared.case_work.owner_of`); cases a township or county decides are only
projected: the hub supervises every case of the city.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.sites import path_up
from shared import case_work
from shared.case_projection import DecidingHooks, ProjectionStore
from shared.catalogue import Catalogue, ServiceItem
from shared.exchange import SyncSite

HUB_TIER = "city"


def hub_hooks(site: Callable[[], SyncSite], catalogue: Callable[[], Catalogue]) -> DecidingHooks:
    def owner(session: Session, origin: str, item: ServiceItem) -> str:
        # the registry's path of an origin, read once per transaction (a batch holds many
        # cases of few origins)
        paths: dict[str, list[tuple[str, str]]] = session.info.setdefault("path_up", {})
        if origin not in paths:
            paths[origin] = path_up(session, origin) or [(site().code, HUB_TIER)]
        return case_work.owner_of(item, paths[origin])

    return DecidingHooks(site=site, catalogue=catalogue, tier=HUB_TIER, model=HubCase,
                         owner=owner)


class HubWindowStore(ProjectionStore):
    """The hub's window queues, read from ``hub_cases``."""

    def __init__(self, site: Callable[[], SyncSite]) -> None:
        super().__init__(HubCase, site)
