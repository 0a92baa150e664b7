"""The tree as the certificates a site holds draw it (:mod:`shared.exchange.tree`): each
site's parent (a moved site's newest certificate wins), a site's children, and the way down
to a case's origin, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.exchange.site import BlobSettings, SyncSite
from shared.exchange.tree import children_of, send_all_down, send_down, site_parents
from shared.storage import sync_store as store
from shared.storage.db import Base
from sync_protocol import (
    Certificate,
    ChainHead,
    Event,
    LinkPosition,
    Receipt,
    SiteKey,
    append_event,
    generate_key,
    issue_certificate,
    issue_receipt,
)
from sync_protocol.times import to_ms

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HUB = "431000"
COUNTY = "431020"
TOWNSHIP = "431002001"
OTHER_TOWNSHIP = "431002002"
VILLAGE = "431002001201"
SIBLING = "431002001202"
FAR_VILLAGE = "431002002201"
UNKNOWN = "431009009901"
"""A site no certificate held here names."""


@pytest.fixture
def hub_key() -> SiteKey:
    return generate_key(HUB)


@pytest.fixture
def session(db_engine: Engine, hub_key: SiteKey) -> Iterator[Session]:
    """A site's database holding the certificates of a small tree:
    hub → township → (village, sibling); hub → other township → far village."""
    Base.metadata.create_all(db_engine,
                             tables=[cast(Table, t.__table__) for t in store.SYNC_TABLES])
    with Session(db_engine) as s:
        store.add_credentials(s, [
            certify(hub_key, TOWNSHIP, HUB, "township"),
            certify(hub_key, OTHER_TOWNSHIP, HUB, "township"),
            certify(hub_key, VILLAGE, TOWNSHIP, "village"),
            certify(hub_key, SIBLING, TOWNSHIP, "village"),
            certify(hub_key, FAR_VILLAGE, OTHER_TOWNSHIP, "village"),
        ], forward=False)
        s.commit()
        yield s


def certify(hub_key: SiteKey, code: str, parent: str | None, tier: str,
            at: datetime = NOW) -> Certificate:
    """A hub-signed certificate of a fresh key of ``code``."""
    return issue_certificate(hub_key, site=code, parent=parent, tier=tier,
                             public_raw=generate_key(code).public_raw, now=at)


def sync_site(code: str, hub_key: SiteKey, *, root: bool = False) -> SyncSite:
    """``code`` as the exchange glue sees it."""
    key = hub_key if code == HUB else generate_key(code)
    return SyncSite(key=key, hub_site=HUB, hub_public_raw=hub_key.public_raw,
                    sealer=store.PlainPayloads(), root=root, blob_settings=BlobSettings())


def registered_at(code: str) -> Event:
    """The signed first event of ``code``'s chain: a case registered there."""
    return append_event(ChainHead.genesis(code, 1), generate_key(code), case_id=uuid.uuid4(),
                        actor="agent:wang", at=NOW, type="registered", payload={})


def receipt(hub_key: SiteKey, origin: str) -> Receipt:
    return issue_receipt(hub_key, origin=origin, epoch=1, through_seq=1, now=NOW)


def label(item: Event | Receipt) -> tuple[object, ...]:
    """What names a down item (an event's hash does not travel down: the child recomputes
    it)."""
    if isinstance(item, Receipt):
        return ("receipt", item.origin, item.epoch, item.through_seq, item.signature)
    return ("event", item.origin, item.epoch, item.seq, item.case_id, item.signature)


def stream(session: Session, child: str) -> list[tuple[object, ...]]:
    """The items queued toward ``child``, in link order."""
    return [label(d.item) for d in store.down_after(session, child, LinkPosition(), 100)]


def streams(session: Session) -> dict[str, int]:
    rows = session.execute(select(store.SyncDown.child, func.count())
                           .group_by(store.SyncDown.child))
    return {str(child): int(n) for child, n in rows}


def test_parents_and_children_come_from_the_certificates_held(session: Session) -> None:
    assert site_parents(session) == {TOWNSHIP: HUB, OTHER_TOWNSHIP: HUB, VILLAGE: TOWNSHIP,
                                     SIBLING: TOWNSHIP, FAR_VILLAGE: OTHER_TOWNSHIP}
    assert children_of(session, HUB) == {TOWNSHIP, OTHER_TOWNSHIP}
    assert children_of(session, TOWNSHIP) == {VILLAGE, SIBLING}
    assert children_of(session, VILLAGE) == set()
    assert children_of(session, UNKNOWN) == set()


def test_a_moved_sites_newest_certificate_wins(session: Session, hub_key: SiteKey) -> None:
    assert children_of(session, TOWNSHIP) == {VILLAGE, SIBLING}  # read (and kept) first
    store.add_credentials(session, [certify(hub_key, VILLAGE, OTHER_TOWNSHIP, "village",
                                            at=NOW + timedelta(days=30))], forward=False)
    session.commit()

    assert site_parents(session)[VILLAGE] == OTHER_TOWNSHIP
    assert children_of(session, TOWNSHIP) == {SIBLING}
    assert children_of(session, OTHER_TOWNSHIP) == {VILLAGE, FAR_VILLAGE}


def test_items_go_toward_the_child_on_the_way_to_their_origin(
    session: Session, hub_key: SiteKey,
) -> None:
    """At the hub: a village's receipt goes to its township, not to the village; items for
    the hub itself and for sites not below it stay; the count says what was queued."""
    hub = sync_site(HUB, hub_key, root=True)
    to_village = receipt(hub_key, VILLAGE)
    to_far = receipt(hub_key, FAR_VILLAGE)
    to_township = receipt(hub_key, TOWNSHIP)
    decided = store.author_events(
        session, hub_key, hub.sealer,
        [store.OwnEvent(uuid.uuid4(), "window:li", "decided", {}, to_ms(NOW))],
        epoch=1, up=False, now_ms=to_ms(NOW))[0]

    queued = send_all_down(session, hub, [
        (to_village, VILLAGE), (decided, HUB), (to_far, FAR_VILLAGE),
        (receipt(hub_key, UNKNOWN), UNKNOWN), (to_township, TOWNSHIP),
    ], NOW)
    session.commit()

    assert queued == 3
    assert stream(session, TOWNSHIP) == [label(to_village), label(to_township)]
    assert stream(session, OTHER_TOWNSHIP) == [label(to_far)]
    assert streams(session) == {TOWNSHIP: 2, OTHER_TOWNSHIP: 1}


def test_an_event_without_an_origin_goes_toward_the_site_that_registered_its_case(
    session: Session, hub_key: SiteKey,
) -> None:
    hub = sync_site(HUB, hub_key, root=True)
    registered = registered_at(SIBLING)
    store.store_received_many(session, hub.sealer, [registered], up=False,
                              now_ms=to_ms(NOW))
    decided = store.author_events(
        session, hub_key, hub.sealer,
        [store.OwnEvent(registered.case_id, "window:li", "decided", {}, to_ms(NOW)),
         store.OwnEvent(uuid.uuid4(), "window:li", "decided", {}, to_ms(NOW))],
        epoch=1, up=False, now_ms=to_ms(NOW))

    queued = send_all_down(session, hub, [(decided[0], None), (decided[1], None)], NOW)
    session.commit()

    assert queued == 1  # the second case was registered nowhere this site knows
    assert stream(session, TOWNSHIP) == [label(decided[0])]
    assert streams(session) == {TOWNSHIP: 1}


def test_a_township_sends_down_only_to_its_own_villages(
    session: Session, hub_key: SiteKey,
) -> None:
    township = sync_site(TOWNSHIP, hub_key)
    mine, sibling = receipt(hub_key, VILLAGE), receipt(hub_key, SIBLING)

    assert send_down(session, township, mine, VILLAGE, NOW)
    assert not send_down(session, township, receipt(hub_key, FAR_VILLAGE), FAR_VILLAGE, NOW)
    assert not send_down(session, township, receipt(hub_key, HUB), HUB, NOW)  # above it
    assert not send_down(session, township, receipt(hub_key, TOWNSHIP), TOWNSHIP, NOW)
    assert send_all_down(session, township, [(sibling, SIBLING)], NOW) == 1
    session.commit()

    assert stream(session, VILLAGE) == [label(mine)]
    assert stream(session, SIBLING) == [label(sibling)]
    assert streams(session) == {VILLAGE: 1, SIBLING: 1}
    # each child's stream counts from 1 in this site's epoch
    assert [d.position for d in store.down_after(session, SIBLING, LinkPosition(), 10)] \
        == [LinkPosition(1, 1)]


def test_a_deeper_tree_is_walked_to_the_child_below(session: Session, hub_key: SiteKey) -> None:
    """A county between the hub and a township: the hub sends a village's items to the
    county, the county to the township."""
    store.add_credentials(session, [
        certify(hub_key, COUNTY, HUB, "county"),
        certify(hub_key, TOWNSHIP, COUNTY, "township", at=NOW + timedelta(days=1)),
    ], forward=False)
    session.commit()
    item = receipt(hub_key, VILLAGE)

    assert send_down(session, sync_site(HUB, hub_key, root=True), item, VILLAGE, NOW)
    assert send_down(session, sync_site(COUNTY, hub_key), item, VILLAGE, NOW)
    session.commit()

    assert stream(session, COUNTY) == [label(item)]
    assert stream(session, TOWNSHIP) == [label(item)]
    assert streams(session) == {COUNTY: 1, TOWNSHIP: 1}
