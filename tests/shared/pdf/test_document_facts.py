"""The signed facts of a result document: the canonical form and the code derived from its
digest are fixed (a document issued today must verify in ten years), and a code typed by
hand is read as printed."""

from __future__ import annotations

import dataclasses
import hashlib

from shared.pdf.document_facts import (
    DocumentFacts,
    canonical,
    facts_digest,
    grouped,
    normalise_code,
    verification_code,
    verify_url,
)

FACTS = DocumentFacts(acceptance_no="431000-20260302-0001", item_code="MZ-0520",
                      applicant_name="王𠮷祥", outcome="approved", decided_on="2026-03-02",
                      reason=None, reference="郴民社准字〔2026〕12号", authority=None,
                      deemed=False, refusal=None)


def test_the_canonical_form_digest_and_code_do_not_drift() -> None:
    assert canonical(FACTS).decode() == (
        '{"acceptance_no":"431000-20260302-0001","applicant_name":"王𠮷祥","authority":null,'
        '"decided_on":"2026-03-02","deemed":false,"item_code":"MZ-0520","outcome":"approved",'
        '"reason":null,"reference":"郴民社准字〔2026〕12号","refusal":null,"v":1}')
    digest = facts_digest(FACTS)
    assert digest == hashlib.sha256(canonical(FACTS)).hexdigest()
    assert digest == "bdc3c7bdbfbf26db46f25f74048abe90db18bf0308ff1246b9a7f51db7435945"
    assert grouped(verification_code(digest)) == "QQ1W-FFDZ-QWKD-PHQJ"


def test_the_code_is_the_first_80_bits_in_crockford_base32() -> None:
    digest = facts_digest(FACTS)
    bits = int.from_bytes(bytes.fromhex(digest)[:10], "big")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    expected = "".join(alphabet[(bits >> (75 - 5 * i)) & 31] for i in range(16))
    assert verification_code(digest) == expected


def test_a_typed_code_is_read_as_printed() -> None:
    assert normalise_code("qq1w ffdz-qwkd-phqj") == "QQ1WFFDZQWKDPHQJ"
    assert normalise_code("QQIW-FFDZ-QWKD-PHQJ") == "QQ1WFFDZQWKDPHQJ"  # I read as 1
    assert normalise_code("0o0O") == "0000"
    assert verify_url("https://zwfw.example/", "431000-20260302-0001", "QQ1WFFDZQWKDPHQJ") == (
        "https://zwfw.example/verify?acceptance_no=431000-20260302-0001"
        "&code=QQ1W-FFDZ-QWKD-PHQJ")


def test_every_fact_changes_the_digest() -> None:
    base = facts_digest(FACTS)
    changes = {"acceptance_no": "431000-20260302-0002", "item_code": "MZ-0521",
               "applicant_name": "王吉祥", "outcome": "rejected", "decided_on": "2026-03-03",
               "reason": "理由", "reference": "另一文号", "authority": "省厅", "deemed": True,
               "refusal": "not_permitted"}
    assert set(changes) == {f.name for f in dataclasses.fields(DocumentFacts)}
    for name, value in changes.items():
        assert facts_digest(dataclasses.replace(FACTS, **{name: value})) != base, name
