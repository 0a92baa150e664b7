"""The courier address a result is sent to: tidied when good, every bad field named."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.case_events import EventActor, EventDraft, EventType, Role
from shared.domain.delivery import courier_address, latest_courier_address
from shared.domain.errors import InvalidInput, Problems
from shared.domain.retention import erased_payload
from tests.shared.domain.test_case_state import T0

GOOD = {"name": "欧阳 娜娜", "phone": "+86 139-1234-5678", "area": " 431002001 ",
        "address": "良田镇  中心街 8 号"}


def test_a_good_address_is_tidied() -> None:
    assert courier_address(GOOD) == {"name": "欧阳 娜娜", "phone": "13912345678",
                                     "area": "431002001", "address": "良田镇 中心街 8 号"}


@pytest.mark.parametrize(("given", "bad"), [
    ({}, {"courier.name", "courier.phone", "courier.area", "courier.address"}),
    ({**GOOD, "name": "王3"}, {"courier.name"}),
    ({**GOOD, "phone": "0731-1234567"}, {"courier.phone"}),
    ({**GOOD, "area": "4310020"}, {"courier.area"}),  # 7 digits: no division code
    ({**GOOD, "area": "991002"}, {"courier.area"}),  # no province 99
    ({**GOOD, "address": "8号"}, {"courier.address"}),
    ({**GOOD, "address": "良田镇\u200b中心街"}, {"courier.address"}),
    ({**GOOD, "floor": "3"}, {"courier.floor"}),
    ({"name": "王3", "phone": "1", "area": "x", "address": "x" * 121},
     {"courier.name", "courier.phone", "courier.area", "courier.address"}),
])
def test_every_bad_field_is_named(given: dict[str, Any], bad: set[str]) -> None:
    with pytest.raises(Problems) as raised:
        courier_address(given)
    assert set(raised.value.fields) == bad


def test_the_event_carries_a_checked_address_and_loses_it_when_erased() -> None:
    actor = EventActor("online-1", Role.APPLICANT)
    with pytest.raises(InvalidInput):
        EventDraft(EventType.COURIER_ADDRESS_GIVEN, actor, T0,
                   {"recipient": {**GOOD, "phone": "123"}})
    first = EventDraft(EventType.COURIER_ADDRESS_GIVEN, actor, T0,
                       {"recipient": courier_address(GOOD)})
    moved = {**courier_address(GOOD), "address": "华塘镇新村路 3 号"}
    erased = erased_payload("courier_address_given", {"recipient": moved})
    assert "recipient" not in erased
    EventDraft(EventType.COURIER_ADDRESS_GIVEN, actor, T0, erased)  # still a valid event
    log = [("registered", {}), ("courier_address_given", first.payload),
           ("courier_address_given", {"recipient": moved})]
    assert latest_courier_address(log) == moved
    assert latest_courier_address([*log, ("courier_address_given", erased)]) is None
    assert latest_courier_address(log[:1]) is None
