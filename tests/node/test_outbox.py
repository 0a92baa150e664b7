"""The outbox toward the parent: bounded batches in order, acks that keep rows and move the
stage, events signed into the node's hash chain."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from node.db_session import app_session
from node.services import NodeServices
from shared.storage.sync_store import ACKED, SyncOutbox, ack_up, count_pending_up, pending_up
from sync_protocol import KeyRing, verify_store
from sync_protocol.credentials import issue_certificate
from sync_protocol.keys import generate_key
from sync_protocol.times import to_ms
from tests.node.conftest import ID_LI, Clock, case_body, person, post_case


def test_batches_are_bounded_and_acks_move_the_stage(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    first = post_case(client, case_body(), key="a").get_json()
    second = post_case(client, case_body(applicant=person(id_number=ID_LI)), key="b").get_json()
    node: NodeServices = app.extensions["sanji_node"]
    site = node.sync_site
    with app_session(app) as session:
        assert count_pending_up(session) == 2
        (only,) = pending_up(session, site.sealer, limit=1)
        assert (only.type, only.seq) == ("registered", 1)
        cases = ack_up(session, {(only.origin, only.epoch): 1}, to_ms(clock()))
        assert cases == {only.case_id}
        assert ack_up(session, {(only.origin, only.epoch): 1}, to_ms(clock())) == set()
        site.hooks.cases_acked(session, cases, clock())
        session.commit()
        rows = session.scalars(select(SyncOutbox).order_by(SyncOutbox.event_id)).all()
        assert rows[0].state == ACKED  # kept, marked: nothing deleted on ack
        assert count_pending_up(session) == 1
        assert [e.seq for e in pending_up(session, site.sealer, limit=10)] == [2]
    shown = client.get(f"/api/v1/cases/{first['case_id']}").get_json()
    assert shown["stage"] == "sent_up"
    assert client.get(f"/api/v1/cases/{second['case_id']}").get_json()["stage"] == "queued_here"
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sanji_node_outbox_pending{site="431002001201"} 1' in text


def test_the_node_signs_its_events_into_one_verifiable_chain(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    for key in ("a", "b", "c"):
        post_case(client, case_body(), key=key)
    node: NodeServices = app.extensions["sanji_node"]
    site = node.sync_site
    hub = generate_key("431000")
    ring = KeyRing("431000", hub.public_raw)
    ring.add(issue_certificate(hub, site=site.code, parent="431002001", tier="village",
                               public_raw=site.key.public_raw, now=clock()))
    with app_session(app) as session:
        events = pending_up(session, site.sealer, limit=10)
    assert [e.seq for e in events] == [1, 2, 3]
    assert all(e.signature is not None for e in events)
    assert verify_store(events, ring).ok
    forged = [events[0], events[1].__class__(**{**_fields(events[1]), "actor": "agent:x"}),
              events[2]]
    report = verify_store(forged, ring)
    assert not report.ok and report.first is not None and report.first.seq == 2


def _fields(event: object) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__slots__}  # type: ignore[attr-defined]
