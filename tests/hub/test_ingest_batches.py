"""The hub takes a child's request as one batch: a case whose registration and later events
arrive together is folded from them, a case registered earlier is read back, and each case
is routed at most once, whatever the mix."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from hub.db_session import app_session
from hub.models import HubCase
from shared.storage import sync_store
from sync_protocol import ChainHead, Event, append_event, generate_key
from tests.hub.conftest import HUB, ID_NUMBER, ITEM, WINDOW, Hub, User
from tests.integration.test_three_tiers import FORM

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
VILLAGE = "431002001201"


def _registration(case_id: uuid.UUID, number: int) -> dict[str, Any]:
    return {
        "case_id": str(case_id), "acceptance_no": f"{VILLAGE}-20260302-{number:04d}",
        "item_code": ITEM, "kind": "promised", "window": WINDOW, "delivery": "window",
        "applicant": {"kind": "person", "name": "李四", "id_number": ID_NUMBER,
                      "phone": "13800138000"},
        "form": FORM, "materials": [],
    }


def test_a_batch_mixing_new_and_known_cases_is_folded_and_routed_once(
        make_hub: Callable[[datetime, list[User]], Hub]) -> None:
    hub = make_hub(NOW, [])
    site = hub.services.sync_site
    village = generate_key(VILLAGE)
    head = ChainHead.genesis(VILLAGE, 1)
    known, fresh, withdrawn = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def author(case_id: uuid.UUID, type_: str, payload: dict[str, Any]) -> Event:
        nonlocal head
        event = append_event(head, village, case_id=case_id, actor="agent:wang", at=NOW,
                             type=type_, payload=payload)
        head = event.head
        return event

    def arrive(events: list[Event]) -> None:
        with app_session(hub.app) as session:
            stored = sync_store.store_received_many(session, site.sealer, events, up=False,
                                                    now_ms=0)
            assert stored == events
            site.hooks.events_arrived(session, stored, NOW)
            session.commit()

    arrive([author(known, "registered", _registration(known, 1))])
    arrive([
        author(fresh, "registered", _registration(fresh, 2)),
        author(known, "material_added", {"code": "APPLICATION"}),  # read back: known here
        author(withdrawn, "registered", _registration(withdrawn, 3)),
        author(fresh, "material_added", {"code": "APPLICATION"}),
        author(withdrawn, "withdrawn", {"reason": "申请人撤回"}),
    ])
    with app_session(hub.app) as session:
        cases = {c.case_id: (c.state, c.open, c.window)
                 for c in session.scalars(select(HubCase))}
        routed = session.scalar(select(func.count()).select_from(sync_store.SyncEvent).where(
            sync_store.SyncEvent.origin == HUB, sync_store.SyncEvent.type == "routed"))
        known_log = [r.type for r in sync_store.case_rows(session, known)]
    assert cases == {known: ("routed", 1, WINDOW), fresh: ("routed", 1, WINDOW),
                     withdrawn: ("withdrawn", 0, WINDOW)}
    assert routed == 2  # the withdrawn case never reached a queue
    assert known_log == ["registered", "received", "routed", "material_added"]
