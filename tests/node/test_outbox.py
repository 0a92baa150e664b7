"""The outbox seam: bounded batches in order, acks that keep rows and move the stage."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from node.db_session import app_session
from node.outbox import acknowledge, pending, pending_count
from tests.node.conftest import ID_LI, Clock, case_body, person, post_case


def test_batches_are_bounded_and_acks_move_the_stage(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    first = post_case(client, case_body(), key="a").get_json()
    second = post_case(client, case_body(applicant=person(id_number=ID_LI)), key="b").get_json()
    with app_session(app) as session:
        assert pending_count(session) == 2
        (only,) = pending(session, limit=1)
        outbox, event = only
        assert (event.type, event.seq) == ("registered", 1)
        assert outbox.destination == "parent" and outbox.acked_at is None
        assert acknowledge(session, [(event.origin, event.epoch, event.seq)], now=clock()) == 1
        assert acknowledge(session, [(event.origin, event.epoch, event.seq)], now=clock()) == 0
        session.commit()
        assert outbox.acked_at == clock()  # kept, marked: nothing is deleted on ack
        assert pending_count(session) == 1
        assert [e.seq for _, e in pending(session, limit=10)] == [2]
    shown = client.get(f"/api/v1/cases/{first['case_id']}").get_json()
    assert shown["stage"] == "sent_up"
    assert client.get(f"/api/v1/cases/{second['case_id']}").get_json()["stage"] == "queued_here"
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sanji_node_outbox_pending{site="431002001201"} 1' in text
