"""Village chains for the hub benchmarks: signed events as nodes author them, no real person.

Each village is a real :class:`SiteKey` authoring one chain (epoch 1). Registrations carry
the payload a node writes in ``node/intake.py`` (``_write_case``): acceptance number, query
code hash, item, catalogue version, kind, window, delivery, applicant, a form filled to the
item's own form definition (and checked with ``validate_form``, so the hub sees what a node
would send) and material references; follow-ups are ``material_added``,
``registration_corrected`` and a few ``withdrawn``, always on a case of the same village that
is still open, so the hub never has to answer with a ``refused`` event.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_UP, Decimal
from typing import Any

from bench.wire_data import GIVEN, SURNAMES, id_number, mobile
from shared.domain.catalogue import Catalogue, FieldType, FormField, ServiceItem
from shared.domain.form_validation import form_json_values, validate_form
from shared.domain.identity import USCC_CHARSET, uscc_check_char, validate_applicant
from sync_protocol import ChainHead, Event, SiteKey, append_event, generate_key

TODAY = date(2026, 12, 1)
FOLLOW_UP_SHARE = 0.4
"""Share of a village's events that follow up an earlier case (the rest register one)."""
TEXT = "家庭成员患重病医疗支出大生活困难申请救助本人年老体弱无劳动能力因灾导致房屋受损收入下降"


def uscc(r: random.Random) -> str:
    """A valid unified social credit code (GB 32100 check character)."""
    first17 = (r.choice("159") + r.choice("123") + "431002"
               + "".join(r.choice(USCC_CHARSET) for _ in range(9)))
    return first17 + uscc_check_char(first17)


def _text(r: random.Random, f: FormField) -> str:
    if f.pattern == "[0-9]{16,19}":
        return "".join(r.choice("0123456789") for _ in range(r.randint(16, 19)))
    if f.pattern is not None and f.pattern.startswith("[0-9]{17}"):
        return id_number(r) + str(r.randint(1, 7)) + str(r.randint(1, 4))
    low = f.min_length or 4
    high = min(f.max_length or 40, 40)
    start = r.randrange(len(TEXT) - high)
    return TEXT[start:start + r.randint(low, max(low, high))]


def _value(r: random.Random, f: FormField) -> object:
    if f.type is FieldType.TEXT:
        return _text(r, f)
    if f.type is FieldType.NUMBER:
        low = f.min_value if f.min_value is not None else Decimal(0)
        high = f.max_value if f.max_value is not None else low + 5000
        step = Decimal(1).scaleb(-f.decimals)
        number = Decimal(str(r.uniform(float(low), float(high)))).quantize(step, ROUND_UP)
        number = min(max(number, low.quantize(step, ROUND_UP)), high)
        return str(number) if f.decimals else int(number)
    if f.type is FieldType.DATE:
        return (TODAY - timedelta(days=r.randint(1, 900))).isoformat()
    if f.type is FieldType.CHOICE:
        return r.choice(f.choice_values())
    if f.type is FieldType.BOOLEAN:
        return r.choice(["true", "false"])
    if f.type is FieldType.ID_NUMBER:
        return id_number(r)
    if f.type is FieldType.PHONE:
        return mobile(r)
    return uscc(r)


def filled_form(r: random.Random, item: ServiceItem) -> dict[str, str | int | bool]:
    """A form for ``item`` that its own definition accepts (optional fields mostly filled;
    an optional field with a pattern, such as an area code, left empty)."""
    raw = {f.key: _value(r, f) for f in item.form.fields
           if f.required or (f.pattern is None and r.random() < 0.7)}
    return form_json_values(validate_form(item.form, raw, today=TODAY))


def applicant(r: random.Random) -> dict[str, Any]:
    name = r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.randint(1, 2)))
    data = {"kind": "person", "name": name, "id_number": id_number(r), "phone": mobile(r)}
    return validate_applicant(data, TODAY).to_dict()


def _sha(r: random.Random) -> str:
    return hashlib.sha256(r.getrandbits(256).to_bytes(32, "big")).hexdigest()


def _material(r: random.Random, item: ServiceItem) -> dict[str, Any]:
    code = r.choice(item.materials).code if item.materials else "OTHER"
    return {"code": code, "sha256": _sha(r), "size": r.randint(80_000, 2_000_000),
            "media_type": r.choice(["application/pdf", "image/jpeg"])}


@dataclass
class Village:
    """A village node: its key and the chain it has authored so far."""

    key: SiteKey
    township: str
    events: list[Event] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.key.site


@dataclass
class _Case:
    case_id: uuid.UUID
    item: ServiceItem


def author_chain(village: Village, count: int, catalogue: Catalogue, items: Sequence[str],
                 start: datetime, r: random.Random) -> None:
    """Append ``count`` signed events to ``village``'s chain, as its agents would."""
    head = ChainHead.genesis(village.code, 1)
    at = start
    open_cases: list[_Case] = []
    registered = 0
    for _ in range(count):
        at += timedelta(seconds=r.randint(20, 900))
        actor = f"agent:agent{r.randint(1, 3)}"
        if open_cases and r.random() < FOLLOW_UP_SHARE:
            case = r.choice(open_cases)
            kind = r.choices(["material_added", "registration_corrected", "withdrawn"],
                             [75, 20, 5])[0]
            payload: dict[str, Any]
            if kind == "material_added":
                payload = _material(r, case.item)
            elif kind == "registration_corrected":
                payload = {"changes": {"applicant.phone": mobile(r)},
                           "reason": "申请人更换了手机号码，按本人要求更正。"}
            else:
                payload = {"reason": "申请人书面申请撤回。"}
                open_cases.remove(case)
            event = append_event(head, village.key, case_id=case.case_id, actor=actor, at=at,
                                 type=kind, payload=payload)
        else:
            item = catalogue.item(r.choice(items))
            case_id = uuid.UUID(int=r.getrandbits(128), version=4)
            registered += 1
            local = at + timedelta(hours=8)
            form = filled_form(r, item)
            payload = {
                "case_id": str(case_id),
                "acceptance_no": f"{village.code}-{local:%Y%m%d}-{registered:04d}",
                "query_code_sha256": _sha(r),
                "item_code": item.code,
                "catalogue_version": catalogue.version,
                "kind": item.kind.value,
                "window": item.window,
                "delivery": r.choice(["village", "window", "courier"]),
                "applicant": applicant(r),
                "form": form,
                "materials": [_material(r, item) for _ in range(r.randint(1, 3))],
            }
            event = append_event(head, village.key, case_id=case_id, actor=actor, at=at,
                                 type="registered", payload=payload)
            open_cases.append(_Case(case_id, item))
        village.events.append(event)
        head = event.head


def site_codes(townships: int, villages: int) -> list[tuple[str, list[str]]]:
    """Township codes (9 digits) under county 431002 and their villages' codes (12 digits)."""
    return [(f"431002{t + 1:03d}", [f"431002{t + 1:03d}{200 + v + 1:03d}"
                                    for v in range(villages)])
            for t in range(townships)]


def make_villages(townships: int, villages: int, events: int, catalogue: Catalogue,
                  start: datetime, seed: int = 11) -> list[Village]:
    """Every village of the tree with its chain; ``events`` spread evenly over them."""
    r = random.Random(seed)
    items = [i.code for i in catalogue.items]
    made: list[Village] = []
    codes = site_codes(townships, villages)
    total = townships * villages
    for n, (township, village_codes) in enumerate(codes):
        for m, code in enumerate(village_codes):
            village = Village(generate_key(code), township)
            index = n * villages + m
            share = events // total + (1 if index < events % total else 0)
            author_chain(village, share, catalogue, items, start, r)
            made.append(village)
    return made

