"""The facts a result document prints, their digest and the verification code printed on
it (验证码), so that anyone holding the paper can ask any site whether it is genuine and
unaltered.

When the deciding site issues the result (``result_issued``), it records in the event's
payload the SHA-256 of a canonical JSON of the facts (:func:`facts_digest`), the code
derived from it (:func:`verification_code`: its first 80 bits in Crockford base32, 16
characters, printed in groups of four) and the id of the key that signs its events. The
event is part of the site's signed chain, so the digest is signed by the issuing site. The
facts are those of the case's log before the ``result_issued`` event (with the reference
that event gives), so they can be worked out again from the log at any site that holds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from shared.domain.case_events import CaseEvent, EventDraft, EventType
from shared.domain.case_state import fold

SHANGHAI = ZoneInfo("Asia/Shanghai")
FACTS_VERSION = 1
CODE_LENGTH = 16
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
DIGEST_FIELD, CODE_FIELD, KEY_FIELD = "facts_digest", "verification_code", "issuer_key_id"
"""The ``result_issued`` payload's fields (absent in events issued before they existed)."""

NOT_ACCEPTED, NOT_PERMITTED = "not_accepted", "not_permitted"
"""A refusal before acceptance (不予受理) and after it or by a higher authority (不予许可)."""


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What a result document states; ``decided_on`` is the date in Beijing time."""

    acceptance_no: str
    item_code: str
    applicant_name: str
    outcome: str
    decided_on: str
    reason: str | None
    reference: str | None
    authority: str | None
    deemed: bool
    refusal: str | None
    """:data:`NOT_ACCEPTED` or :data:`NOT_PERMITTED` for a refusal, else None."""


@dataclass(frozen=True, slots=True)
class IssueMark:
    """What a ``result_issued`` event recorded about its document."""

    site: str
    key_id: str
    digest: str
    code: str


def document_facts(events: Sequence[CaseEvent], reference: str | None = None) -> DocumentFacts:
    """The facts of a decided case's log (``reference``: the one the issue gives, used
    when no higher authority's decision names one); :class:`ValueError` when undecided."""
    state = fold(events)
    if state.outcome is None or state.decided_at is None:
        raise ValueError("the case has no decision yet")
    first = events[0].payload
    applicant = first.get("applicant", {})
    external = authority = None
    for event in events:
        if event.type is EventType.EXTERNAL_DECISION_RECORDED:
            external = str(event.payload.get("reference") or "") or None
            authority = str(event.payload.get("authority") or "") or None
    refusal = None
    if state.outcome.value == "rejected":
        refusal = NOT_PERMITTED if state.accepted_at is not None or authority else NOT_ACCEPTED
    return DocumentFacts(
        acceptance_no=str(first.get("acceptance_no", "")), item_code=state.item_code or "",
        applicant_name=str(applicant.get("name") or applicant.get("company_name") or ""),
        outcome=state.outcome.value,
        decided_on=state.decided_at.astimezone(SHANGHAI).date().isoformat(),
        reason=state.reason if state.outcome.value != "approved" else None,
        reference=external or (reference or None), authority=authority,
        deemed=state.deemed, refusal=refusal)


def canonical(facts: DocumentFacts) -> bytes:
    """The facts as sorted, compact UTF-8 JSON with the version: the bytes the digest is of."""
    body = {"v": FACTS_VERSION, **asdict(facts)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def facts_digest(facts: DocumentFacts) -> str:
    """SHA-256 of :func:`canonical`, hex."""
    return hashlib.sha256(canonical(facts)).hexdigest()


def verification_code(digest_hex: str) -> str:
    """The first 80 bits of the digest as 16 Crockford base32 characters."""
    bits = int(digest_hex[:20], 16)
    return "".join(_CROCKFORD[(bits >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH)))


def grouped(code: str) -> str:
    """``ABCD-EFGH-JKMN-PQRS``: easy to read aloud and to type."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise_code(text: str) -> str:
    """A typed code as stored: case, spaces and hyphens ignored, O read as 0, I and L as 1."""
    return "".join(c for c in text.upper() if c not in " -\t").translate(_READ_AS)


def issue_fields(events: Sequence[CaseEvent], payload: Mapping[str, Any],
                 key_id: bytes) -> dict[str, Any]:
    """The ``result_issued`` payload with the document's digest, code and signing key (as
    it is for a log without a decision, which the workflow does not let issue a result)."""
    try:
        digest = facts_digest(document_facts(events, _text(payload.get("reference"))))
    except ValueError:
        return dict(payload)
    return {**payload, DIGEST_FIELD: digest, CODE_FIELD: verification_code(digest),
            KEY_FIELD: key_id.hex()}


def with_issue_fields(draft: EventDraft, events: Sequence[CaseEvent],
                      key_id: bytes) -> EventDraft:
    """A ``result_issued`` draft with :func:`issue_fields` (``events``: the log before it);
    any other draft as it is."""
    if draft.type is not EventType.RESULT_ISSUED:
        return draft
    return dataclasses.replace(draft, payload=issue_fields(events, draft.payload, key_id))


def issue_mark(events: Sequence[CaseEvent]) -> tuple[int, IssueMark] | None:
    """The position of the case's ``result_issued`` event and what it recorded, when it
    recorded a verification code (None for a case not issued, or issued before codes)."""
    for index, event in enumerate(events):
        if event.type is not EventType.RESULT_ISSUED:
            continue
        p = event.payload
        if not all(isinstance(p.get(f), str) for f in (DIGEST_FIELD, CODE_FIELD, KEY_FIELD)):
            return None
        return index, IssueMark(site=event.origin, key_id=str(p[KEY_FIELD]),
                                digest=str(p[DIGEST_FIELD]), code=str(p[CODE_FIELD]))
    return None


def issued_facts(events: Sequence[CaseEvent], index: int) -> DocumentFacts:
    """The facts of the document issued by ``events[index]``, worked out from the log."""
    return document_facts(events[:index], _text(events[index].payload.get("reference")))


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str) and value.strip() else None


def verify_url(public_base_url: str, acceptance_no: str, code: str) -> str:
    """The public verify page filled in for this document: the document's QR code holds it."""
    query = urlencode({"acceptance_no": acceptance_no, "code": grouped(code)})
    return f"{public_base_url.rstrip('/')}/verify?{query}"


def status_page_url(public_base_url: str, acceptance_no: str) -> str:
    """The public status page with the acceptance number filled in (the query code is the
    applicant's to type: a letter that is not the receipt does not carry it)."""
    return f"{public_base_url.rstrip('/')}/status?{urlencode({'acceptance_no': acceptance_no})}"
