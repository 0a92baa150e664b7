"""Who decides a newly arrived case is read from the item as the catalogue release the case
was accepted under has it: a release that moves an item from the township to the city does
not take from the township a case accepted before it."""

from __future__ import annotations

import dataclasses

from sqlalchemy.engine import Engine

from shared.deciding.case_projection import DecidingHooks
from shared.domain.catalogue import Catalogue, DecidingTier
from tests.shared.deciding.test_case_projection import Desk, WindowCase
from tests.shared.deciding.test_case_work import CATALOGUE, CITY, TOWNSHIP, TOWNSHIP_ITEM


class Held:
    """The releases the hub holds: the one the village registered under."""

    def version(self, number: int) -> Catalogue | None:
        return CATALOGUE if number == CATALOGUE.version else None

    def oldest(self) -> Catalogue | None:
        return CATALOGUE


def _moved_to_the_city() -> Catalogue:
    items = tuple(dataclasses.replace(i, tier=DecidingTier.CITY) if i.code == TOWNSHIP_ITEM
                  else i for i in CATALOGUE.items)
    return dataclasses.replace(CATALOGUE, version=CATALOGUE.version + 1, items=items)


def _hub_with(engine: Engine, versions: Held | None) -> Desk:
    hub = Desk(engine)
    hub.catalogue = _moved_to_the_city()
    hub.hooks = DecidingHooks(site=lambda: hub.site, catalogue=lambda: hub.catalogue,
                              tier=hub.tier, model=WindowCase, owner=hub.owner,
                              versions=versions)
    return hub


def test_the_owner_follows_the_release_the_case_was_accepted_under(db_engine: Engine) -> None:
    hub = _hub_with(db_engine, Held())
    case_id = hub.register(TOWNSHIP_ITEM)
    row = hub.row(case_id)
    assert row is not None and row.owner_site == TOWNSHIP  # as v1 says: not routed here
    assert row.catalogue_version == CATALOGUE.version


def test_without_versions_the_newest_release_decides(db_engine: Engine) -> None:
    hub = _hub_with(db_engine, None)
    row = hub.row(hub.register(TOWNSHIP_ITEM))
    assert row is not None and row.owner_site == CITY
