"""The certificate store's pure rules (shared/domain/certificates.py): what a case's log gives
its holder, for how long, and whether a later reference to it may be trusted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.case_events import EventType
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.certificates import (
    EXPIRED,
    ISSUED,
    NOT_ASKED,
    OTHER_HOLDER,
    RECEIVED,
    UNKNOWN_REF,
    Reuse,
    check_reuse,
    holder_number,
    holding_ref,
    holdings_of,
    is_valid,
    reuses_of,
    untrusted_reason,
)
from tests.shared.domain.test_case_state import AGENT, CITY, OP_A, OP_B, SYSTEM, VILLAGE, Log

SAMPLE = load_sample_catalogue()
ID = "11010519491231002X"
SCAN = "ab" * 32


def _registered(log: Log, item: str = "SJ-0205", **applicant: object) -> Log:
    log.add(VILLAGE, EventType.REGISTERED, AGENT, {
        "item_code": item, "kind": "immediate", "window": "W-SJ-11",
        "applicant": applicant or {"name": "王𠮷祥", "id_number": ID.lower()},
        "materials": [{"code": "ID_CARD", "sha256": SCAN, "size": 9, "media_type": "image/jpeg"},
                      {"code": "PREMISES_PROOF", "sha256": "cd" * 32, "size": 9,
                       "media_type": "application/pdf"}]})
    log.add(CITY, EventType.RECEIVED, SYSTEM, {"tier": "township"})
    log.add(CITY, EventType.ROUTED, SYSTEM, {"window": "W-SJ-11", "site": CITY})
    log.add(CITY, EventType.CLAIMED, OP_A)
    log.add(CITY, EventType.ACCEPTED, OP_A, {"kind": "immediate"})
    return log


def _approved_and_issued(log: Log) -> Log:
    log.add(CITY, EventType.REVIEWED, OP_A)
    log.add(CITY, EventType.CLAIMED, OP_B)
    log.add(CITY, EventType.CHECKED, OP_B)
    log.add(CITY, EventType.RESULT_ISSUED, OP_B, {"verification_code": "0123456789ABCDEF"})
    return log


def test_an_approval_issues_its_certificate_and_the_copies_handed_in_are_kept() -> None:
    log = _approved_and_issued(_registered(Log()))
    found = {h.material_code: h for h in holdings_of(log.events, SAMPLE)}
    # the ID card is reusable (valid_days 180), the premises proof is not
    assert set(found) == {"ID_CARD", "BUSINESS_LICENCE"}
    card, licence = found["ID_CARD"], found["BUSINESS_LICENCE"]
    assert (card.source, card.digest, card.id_number) == (RECEIVED, SCAN, ID)
    assert (licence.source, licence.digest) == (ISSUED, "0123456789ABCDEF")
    registered_day = datetime(2025, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    assert card.valid_until_ms is not None
    assert not is_valid(card.valid_until_ms, _ms(registered_day + timedelta(days=181)))
    assert is_valid(card.valid_until_ms, _ms(registered_day + timedelta(days=180)))
    decided = log.events[-2].at
    assert licence.valid_until_ms is not None  # through the day before the 20th anniversary
    assert is_valid(licence.valid_until_ms, _ms(decided + timedelta(days=365 * 20 - 2)))
    assert not is_valid(licence.valid_until_ms, _ms(decided + timedelta(days=365 * 20 + 5)))
    assert licence.ref == holding_ref(log.events[0].case_id, "BUSINESS_LICENCE",
                                      "0123456789ABCDEF")


def test_a_refusal_issues_nothing_and_an_unissued_approval_neither() -> None:
    refused = _registered(Log())
    refused.add(CITY, EventType.REJECTED, OP_A, {"reason": "经营场所不符合规定条件"})
    refused.add(CITY, EventType.RESULT_ISSUED, OP_A, {"verification_code": "X" * 16})
    assert [h.source for h in holdings_of(refused.events, SAMPLE)] == [RECEIVED]
    undecided = _registered(Log())
    assert [h.material_code for h in holdings_of(undecided.events, SAMPLE)] == ["ID_CARD"]


def test_the_holder_is_the_applicant_or_a_companys_legal_representative() -> None:
    assert holder_number({"id_number": " 11010519491231002x "}) == ID
    company = {"name": "某公司", "uscc": "91110000710925462X",
               "legal_representative": {"name": "李四", "id_number": ID}}
    assert holder_number(company) == ID
    assert holder_number({"name": "无证件"}) is None
    log = _registered(Log(), name="某公司", uscc="91110000710925462X",
                      proxy={"name": "代办", "id_number": "431002198001011239"})
    assert holdings_of(log.events, SAMPLE) == []  # a proxy holds nothing of the applicant's


def test_a_reference_is_trusted_only_for_its_holder_its_material_and_while_valid() -> None:
    item = SAMPLE.item("RS-3301")
    reuse = Reuse("BUSINESS_LICENCE", "f" * 32)
    assert untrusted_reason(reuse, item, "BUSINESS_LICENCE", True, None, 10) is None
    assert untrusted_reason(reuse, item, "BUSINESS_LICENCE", True, 11, 10) is None
    assert untrusted_reason(reuse, item, "BUSINESS_LICENCE", True, 10, 10) == EXPIRED
    assert untrusted_reason(reuse, item, "BUSINESS_LICENCE", False, None, 10) == OTHER_HOLDER
    assert untrusted_reason(reuse, item, None, True, None, 10) == UNKNOWN_REF
    assert untrusted_reason(reuse, item, "ID_CARD", True, None, 10) == UNKNOWN_REF
    assert untrusted_reason(Reuse("ID_CARD", "f" * 32), item, "ID_CARD", True, None,
                            10) == NOT_ASKED


@pytest.mark.parametrize(("entries", "consent", "uploaded", "field"), [
    ([{"material_code": "BUSINESS_LICENCE", "ref": "f" * 32}], False, (), "reuse_consent"),
    ([{"material_code": "NOPE", "ref": "f" * 32}], True, (), "reuse.0.material_code"),
    ([{"material_code": "BUSINESS_LICENCE", "ref": "xyz"}], True, (), "reuse.0.ref"),
    ([{"material_code": "BUSINESS_LICENCE", "ref": "f" * 32}] * 2, True, (),
     "reuse.1.material_code"),
    ([{"material_code": "BUSINESS_LICENCE", "ref": "f" * 32}], True, ("BUSINESS_LICENCE",),
     "reuse.0.material_code"),
])
def test_each_bad_reuse_entry_is_named(entries: list[dict[str, str]], consent: bool,
                                       uploaded: tuple[str, ...], field: str) -> None:
    _, problems = check_reuse(SAMPLE.item("RS-3301"), entries, consent, uploaded)
    assert field in problems, problems


def test_a_good_reuse_passes_and_is_read_back_from_the_payload() -> None:
    entries = [{"material_code": "BUSINESS_LICENCE", "ref": "f" * 32}]
    found, problems = check_reuse(SAMPLE.item("RS-3301"), entries, True)
    assert problems == {} and found == [Reuse("BUSINESS_LICENCE", "f" * 32)]
    assert check_reuse(SAMPLE.item("RS-3301"), [], False) == ([], {})
    payload = {"materials": [{"code": "RULES", "sha256": SCAN},
                             {"code": "BUSINESS_LICENCE", "reused": {"ref": "f" * 32}}]}
    assert reuses_of(payload) == found


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
