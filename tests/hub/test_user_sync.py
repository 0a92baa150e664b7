"""User sync over the real exchange glue, in one process: the hub, a township and two villages,
each on its own SQLite database made by its own migrations, enrolled through the real path,
their exchanges passed from ``sync_with_parent`` to ``answer_child`` without HTTP.

An account changed at the hub after the villages enrolled reaches its own village only,
signed by the hub: the township relays it without taking it in, the other village never
holds it, a forged or altered copy is never taken in, a cut before the commit applies
nothing, and the next exchange applies it once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cbor2
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hub.db_session import MIGRATIONS as HUB_MIGRATIONS
from hub.sites import add_site, enrol, register_hub
from hub.user_sync import publish_account
from node.db_session import upgrade_database
from node.sync_setup import NodeHooks
from shared.exchange.account_events import ACCOUNT_EVENT, account_stream
from shared.exchange.child import SyncOutcome, sync_with_parent
from shared.exchange.enrolment import decode_grant, request_bytes
from shared.exchange.parent import answer_child
from shared.exchange.site import SyncSite
from shared.exchange.tree import send_down
from shared.storage import sync_store
from shared.storage.accounts import (
    NotAuthenticated,
    UserAccount,
    add_user,
    authenticate,
    import_credentials,
    set_active,
    set_password,
)
from shared.storage.db import make_engine
from sync_protocol import Event, SiteKey, generate_key

HUB, TOWNSHIP, VILLAGE, OTHER = "431000", "431002001", "431002001201", "431002001202"
PASSWORD = "village-pass-2026"
NEW_PASSWORD = "a-new-pass-2027"
ADMIN = "admin:city-admin"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Place:
    """One site: its database and its view of the tree."""

    engine: Engine
    site: SyncSite

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)


@dataclass
class Tree:
    hub: Place
    nodes: dict[str, Place] = field(default_factory=dict)

    def transport(self, url: str, data: bytes) -> bytes:
        parent = self.hub if url == HUB else self.nodes[url]
        with parent.session() as session:
            return answer_child(session, parent.site, data, now()).data

    def sync(self, *codes: str) -> list[SyncOutcome]:
        outcomes = []
        for code in codes:
            with self.nodes[code].session() as session:
                outcome = sync_with_parent(session, self.nodes[code].site, self.transport, now)
            assert outcome.ok, outcome.error
            outcomes.append(outcome)
        return outcomes

    def change(self, username: str, apply: str = "add", **values: object) -> None:
        """Change an account at the hub and publish it, as the admin page does."""
        with self.hub.session() as session:
            if apply == "add":
                user = add_user(session, username=username, password=PASSWORD, role="agent",
                                site=str(values["site"]), now=now())
            elif apply == "disable":
                user = set_active(session, username, False)
            else:
                user = set_password(session, username, NEW_PASSWORD)
            publish_account(session, self.hub.site, user, actor=ADMIN, now=now())
            session.commit()


def _node(tmp_path: Path, hub: Place, hub_key: SiteKey, code: str, enrol_code: str,
          parent: str) -> Place:
    key = generate_key(code)
    with hub.session() as session:
        data = enrol(session, hub_key, request_bytes(key, enrol_code, now()), releases=[],
                     now=now())
        session.commit()
    grant = decode_grant(data)
    engine = make_engine(f"sqlite:///{tmp_path / code}.sqlite")
    upgrade_database(engine)
    with Session(engine) as session:
        import_credentials(session, grant.users)
        session.commit()
    site = SyncSite(key=key, hub_site=HUB, hub_public_raw=hub_key.public_raw,
                    sealer=sync_store.PlainPayloads(), parent=parent, parent_url=parent,
                    own_credentials=(grant.certificate,), hooks=NodeHooks(code, hub_site=HUB))
    return Place(engine, site)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    hub_engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    HUB_MIGRATIONS.upgrade(hub_engine)
    hub_key = generate_key(HUB)
    hub = Place(hub_engine, SyncSite(key=hub_key, hub_site=HUB, hub_public_raw=hub_key.public_raw,
                                     sealer=sync_store.PlainPayloads(), root=True))
    with hub.session() as session:
        register_hub(session, HUB, "郴州市政务服务中心", now())
        codes = {
            TOWNSHIP: add_site(session, code=TOWNSHIP, name="良田镇", tier="township",
                               parent=HUB, now=now()).code,
            VILLAGE: add_site(session, code=VILLAGE, name="吉村", tier="village",
                              parent=TOWNSHIP, now=now()).code,
            OTHER: add_site(session, code=OTHER, name="新村", tier="village",
                            parent=TOWNSHIP, now=now()).code,
        }
        add_user(session, username="first-agent", password=PASSWORD, role="agent",
                 site=VILLAGE, now=now())
        session.commit()
    built = Tree(hub)
    built.nodes[TOWNSHIP] = _node(tmp_path, hub, hub_key, TOWNSHIP, codes[TOWNSHIP], HUB)
    for village in (VILLAGE, OTHER):
        built.nodes[village] = _node(tmp_path, hub, hub_key, village, codes[village], TOWNSHIP)
    yield built
    for place in (hub, *built.nodes.values()):
        place.engine.dispose()


def _account(place: Place, username: str) -> UserAccount | None:
    with place.session() as session:
        return session.get(UserAccount, username)


def _signs_in(place: Place, username: str, password: str = PASSWORD) -> bool:
    with place.session() as session:
        try:
            authenticate(session, username, password, None, now())
        except NotAuthenticated:
            return False
        return True


def _account_events(place: Place, username: str) -> int:
    with place.session() as session:
        return int(session.scalar(select(func.count()).select_from(sync_store.SyncEvent).where(
            sync_store.SyncEvent.case_id == account_stream(username))) or 0)


def test_a_user_added_after_enrolment_signs_in_at_their_village_only(tree: Tree) -> None:
    assert _signs_in(tree.nodes[VILLAGE], "first-agent")  # came with the grant
    tree.change("new-agent", site=VILLAGE)
    assert not _signs_in(tree.nodes[VILLAGE], "new-agent")  # nothing travels by itself

    # the villages have never talked to the township: the way down comes with the copy
    tree.sync(TOWNSHIP)
    down = tree.sync(VILLAGE)[0]
    tree.sync(OTHER)
    assert _signs_in(tree.nodes[VILLAGE], "new-agent")
    assert down.received == 1
    print(f"one account copy down to the village: {down.bytes_down} bytes")
    assert down.bytes_down < 1500  # the argon2 hash and a few names, signed
    # the township relays it without taking it in; the other village never holds it
    assert _account(tree.nodes[TOWNSHIP], "new-agent") is None
    assert _account_events(tree.nodes[TOWNSHIP], "new-agent") == 1
    assert _account(tree.nodes[OTHER], "new-agent") is None
    assert _account_events(tree.nodes[OTHER], "new-agent") == 0
    copy = _account(tree.nodes[VILLAGE], "new-agent")
    assert copy is not None and copy.totp_secret is None and copy.revision == 1

    tree.sync(TOWNSHIP, VILLAGE, TOWNSHIP, VILLAGE)  # rounds with nothing new change nothing
    assert _account_events(tree.nodes[VILLAGE], "new-agent") == 1


def test_disabling_and_a_new_password_stop_the_old_sign_in_after_the_next_sync(
    tree: Tree,
) -> None:
    tree.change("first-agent", "password")
    tree.sync(TOWNSHIP, VILLAGE)
    assert not _signs_in(tree.nodes[VILLAGE], "first-agent", PASSWORD)
    assert _signs_in(tree.nodes[VILLAGE], "first-agent", NEW_PASSWORD)

    tree.change("first-agent", "disable")
    assert _signs_in(tree.nodes[VILLAGE], "first-agent", NEW_PASSWORD)  # offline: as it was
    tree.sync(TOWNSHIP, VILLAGE)
    assert not _signs_in(tree.nodes[VILLAGE], "first-agent", NEW_PASSWORD)
    copy = _account(tree.nodes[VILLAGE], "first-agent")
    assert copy is not None and copy.active is False and copy.revision == 3


def test_a_cut_before_the_commit_applies_nothing_and_the_next_exchange_applies_once(
    tree: Tree, monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree.change("new-agent", site=VILLAGE)
    tree.sync(TOWNSHIP)
    village = tree.nodes[VILLAGE]
    hooks = village.site.hooks

    def power_cut(session: Session, events: Sequence[Event], at: datetime) -> None:
        NodeHooks.events_arrived(hooks, session, events, at)  # type: ignore[arg-type]
        raise OSError("power cut")

    monkeypatch.setattr(hooks, "events_arrived", power_cut)
    with village.session() as session, pytest.raises(OSError):
        sync_with_parent(session, village.site, tree.transport, now)
    assert _account(village, "new-agent") is None
    assert _account_events(village, "new-agent") == 0
    monkeypatch.undo()

    tree.sync(VILLAGE, VILLAGE)
    assert _signs_in(village, "new-agent")
    assert _account_events(village, "new-agent") == 1


def _queue_forgery(tree: Tree, payload: dict[str, object]) -> None:
    """The township, turned bad, signs an account copy of its own toward the village."""
    township = tree.nodes[TOWNSHIP]
    with township.session() as session:
        row = sync_store.author_event(
            session, township.site.key, township.site.sealer, epoch=1,
            case_id=account_stream(str(payload["username"])), actor="admin:mallory",
            type=ACCOUNT_EVENT, payload=payload, at_ms=0, up=False, now_ms=0)
        assert send_down(session, township.site, sync_store.as_event(row, township.site.sealer),
                         VILLAGE, now())
        session.commit()


def test_a_relay_can_neither_forge_nor_alter_an_account(tree: Tree) -> None:
    tree.sync(VILLAGE)  # the village introduces itself to the township
    with tree.hub.session() as session:
        stolen = session.get(UserAccount, "first-agent")
        assert stolen is not None
        forged: dict[str, object] = {
            "username": "mallory", "password_hash": stolen.password_hash, "role": "agent",
            "site": VILLAGE, "window": None, "department": None, "active": True,
            "revision": 99}
    _queue_forgery(tree, forged)
    tree.sync(VILLAGE)
    assert _account(tree.nodes[VILLAGE], "mallory") is None  # signed, but not by the hub

    tree.change("first-agent", "disable")
    tree.sync(TOWNSHIP)
    township = tree.nodes[TOWNSHIP]
    with township.session() as session:  # the township re-enables the agent on the way down
        item = session.scalars(select(sync_store.SyncDown).where(
            sync_store.SyncDown.child == VILLAGE).order_by(sync_store.SyncDown.id.desc())).first()
        assert item is not None
        wire = cbor2.loads(item.item)  # [link epoch, link seq, kind, event fields]
        fields = wire[3]
        assert fields[6] == ACCOUNT_EVENT
        fields[7] = {**fields[7], "active": True}
        item.item = cbor2.dumps(wire, canonical=True)
        session.commit()
    outcome = tree.sync(VILLAGE)[0]
    assert outcome.received == 0
    copy = _account(tree.nodes[VILLAGE], "first-agent")
    assert copy is not None and copy.active is True and copy.revision == 1  # not taken in
