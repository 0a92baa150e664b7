"""Handing the result over (送达): in person, to a proxy, or by courier (快递送达).

One payload for the ``result_handed_over`` event wherever it is recorded (the village's
hand-over form, a window's ``hand_over`` action): a courier hand-over names the carrier,
the tracking number and the address it was sent to. The public lookup shows the carrier,
the tracking number and the day (:func:`courier_of`), never the address; erasure drops the
address and the tracking number with the case's other personal data.

An applicant who chooses the courier when applying online gives the address the result is
to be sent to (:func:`courier_address`: the recipient's name and mobile, the area's
administrative division code and the street address), checked with the same name and phone
rules as the applicant; it travels with the case in a ``courier_address_given`` event
(:func:`check_courier_address`), shown to whoever hands the result over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from shared.domain.errors import InvalidInput, Problems
from shared.domain.identity import PROVINCE_CODES, validate_name, validate_phone
from shared.domain.sites import validate_site_code
from sync_protocol.payload_digest import is_erased

HANDOVER_METHODS = ("in_person", "proxy", "courier")
CARRIERS: Mapping[str, tuple[str, str]] = {
    "ems": ("中国邮政EMS", "China Post EMS"),
    "sf": ("顺丰速运", "SF Express"),
    "jd": ("京东物流", "JD Logistics"),
    "zto": ("中通快递", "ZTO Express"),
    "yto": ("圆通速递", "YTO Express"),
    "sto": ("申通快递", "STO Express"),
    "yunda": ("韵达快递", "Yunda Express"),
}
"""The carriers a result may go by (the 政务 EMS contract first), code -> (zh, en)."""
TRACKING_NO = re.compile(r"[A-Z0-9]{8,30}")
MAX_ADDRESS = 120
MAX_RECEIVER = 100
MIN_STREET = 4
COURIER_FIELDS = ("name", "phone", "area", "address")
"""What a courier address holds: the recipient, their mobile, the administrative division
code of the place (6, 9 or 12 digits) and the street address within it."""


def handover_payload(method: object, receiver_name: object, *, carrier: object = None,
                     tracking_no: object = None, address: object = None) -> dict[str, Any]:
    """The ``result_handed_over`` payload, or :class:`Problems` naming every bad field."""
    problems: dict[str, str] = {}
    if method not in HANDOVER_METHODS:
        problems["method"] = f"one of {', '.join(HANDOVER_METHODS)}"
    receiver = receiver_name.strip() if isinstance(receiver_name, str) else ""
    if not receiver or len(receiver) > MAX_RECEIVER:
        problems["receiver_name"] = f"required, at most {MAX_RECEIVER} characters"
    payload: dict[str, Any] = {"method": method, "receiver_name": receiver}
    if method == "courier":
        if carrier not in CARRIERS:
            problems["carrier"] = f"one of {', '.join(CARRIERS)}"
        number = tracking_no.strip().upper() if isinstance(tracking_no, str) else ""
        if not TRACKING_NO.fullmatch(number):
            problems["tracking_no"] = "8-30 letters and digits"
        place = address.strip() if isinstance(address, str) else ""
        if not place or len(place) > MAX_ADDRESS:
            problems["address"] = f"required, at most {MAX_ADDRESS} characters"
        payload.update(carrier=carrier, tracking_no=number, address=place)
    if problems:
        raise Problems(problems, "the hand-over is not complete")
    return payload


def check_handover(payload: Mapping[str, Any]) -> None:
    """The event's rule: a payload :func:`handover_payload` would make (an erased one keeps
    only its method and carrier)."""
    if is_erased(payload):
        if payload.get("method") not in HANDOVER_METHODS:
            raise Problems({"payload.method": f"one of {', '.join(HANDOVER_METHODS)}"})
        return
    handover_payload(payload.get("method"), payload.get("receiver_name", "-") or "-",
                     carrier=payload.get("carrier"), tracking_no=payload.get("tracking_no"),
                     address=payload.get("address"))


def courier_of(events: Iterable[tuple[str, Mapping[str, Any], datetime]]
               ) -> dict[str, str] | None:
    """The courier the result went by, as the public lookup shows it: carrier, tracking
    number and when, from the case's ``(type, payload, at)`` in order (None when it was not
    sent by courier)."""
    found = None
    for kind, payload, at in events:
        if kind == "result_handed_over" and payload.get("method") == "courier":
            found = {"carrier": str(payload.get("carrier", "")),
                     "tracking_no": str(payload.get("tracking_no", "")),
                     "at": at.isoformat()}
    return found


def _area_code(value: object, field: str) -> str:
    text = value.strip() if isinstance(value, str) else value
    code = validate_site_code(text, field)
    if code[:2] not in PROVINCE_CODES:
        raise InvalidInput(field, f"{code} is not an administrative division code: "
                                  f"no province {code[:2]}")
    return code


def _street(value: object, field: str) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(field, "required")
    if len(text) < MIN_STREET or len(text) > MAX_ADDRESS:
        raise InvalidInput(field, f"{MIN_STREET} to {MAX_ADDRESS} characters")
    if any(not ch.isprintable() for ch in text):
        raise InvalidInput(field, "contains a control or invisible character")
    return text


_COURIER_CHECKS = {"name": validate_name, "phone": validate_phone, "area": _area_code,
                   "address": _street}


def courier_address(value: object, prefix: str = "courier") -> dict[str, str]:
    """The address a result is sent to by courier, tidied; :class:`Problems` naming every bad
    field (``courier.name``, ``courier.phone``, ``courier.area``, ``courier.address``)."""
    given = value if isinstance(value, Mapping) else {}
    problems: dict[str, str] = {}
    address: dict[str, str] = {}
    for key, check in _COURIER_CHECKS.items():
        field = f"{prefix}.{key}"
        try:
            address[key] = check(given.get(key, ""), field)
        except InvalidInput as exc:
            problems[field] = exc.reason
    unknown = sorted(str(k) for k in given if k not in _COURIER_CHECKS)
    for key in unknown:
        problems[f"{prefix}.{key}"] = "unknown field"
    if problems:
        raise Problems(problems, "the courier address is not complete")
    return address


def check_courier_address(payload: Mapping[str, Any]) -> None:
    """The ``courier_address_given`` event's rule: its ``recipient`` is a courier address
    (an erased payload keeps none)."""
    if is_erased(payload):
        return
    courier_address(payload.get("recipient"), "payload.recipient")


def latest_courier_address(events: Iterable[tuple[str, Mapping[str, Any]]]
                           ) -> dict[str, str] | None:
    """The address the result is to go to: the last one given among the case's
    ``(type, payload)`` in order (refused events left out by the caller); None when none was
    given or it was erased."""
    found: dict[str, str] | None = None
    for kind, payload in events:
        if kind == "courier_address_given":
            recipient = payload.get("recipient")
            found = ({k: str(recipient.get(k, "")) for k in COURIER_FIELDS}
                     if isinstance(recipient, Mapping) else None)
    return found
