"""Whether a result document is genuine and unaltered, from this site's copy of its case:
the answer behind the public verify page (:mod:`shared.web.document_check`).

A document is *genuine* when the case's ``result_issued`` event recorded the code printed
on it (:mod:`shared.pdf.document_facts`). It is *unaltered* when, in addition, the facts
worked out again now from the case's log give the digest that event recorded, and the
event is covered by its issuing site's signature: its own, or (where a relay kept one
signature per run) that of a later event of the same chain, every link in between checked.
Where this site does not know the issuing site's key, it says so instead of guessing.
"""

from __future__ import annotations

import contextlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.domain.case_events import EventType
from shared.domain.identity import mask_name
from shared.exchange.site import SyncSite
from shared.pdf.document_facts import (
    DocumentFacts,
    IssueMark,
    facts_digest,
    issue_mark,
    issued_facts,
    normalise_code,
    verification_code,
)
from shared.storage import sync_store
from sync_protocol import Event, KeyRevoked, KeyUnknown, SignatureInvalid
from sync_protocol.keys import verify

MAX_WALK = 5_000
"""Events walked along a chain to the next signature, at most."""


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """``verified``: True or False, None when this site cannot tell (key or signature not
    held here); ``key_id`` the key that checked it (hex)."""

    verified: bool | None
    key_id: str | None
    note: str

    def body(self) -> dict[str, Any]:
        return {"verified": self.verified, "key_id": self.key_id, "note": self.note}


@dataclass(frozen=True, slots=True)
class DocumentCheck:
    """A genuine document's answer."""

    mark: IssueMark
    issued_at: datetime
    facts: DocumentFacts | None
    """The facts worked out now from the log (None: they no longer can be, as once the
    case's personal data were erased at the end of its retention period)."""
    facts_match: bool
    signature: SignatureCheck

    @property
    def unaltered(self) -> bool:
        return self.facts_match and self.signature.verified is True


def check_document(session: Session, site: SyncSite, case_id: uuid.UUID,
                   code: str) -> DocumentCheck | None:
    """The check of the document of ``case_id`` carrying ``code``; None when its case has
    no issued document with that code here (the caller says only "not found")."""
    events = case_work.case_events(session, site, case_id)
    marked = issue_mark(events)
    if marked is None:
        return None
    index, mark = marked
    if not hmac.compare_digest(mark.code.encode(), normalise_code(code).encode()):
        return None
    issued = events[index]
    facts: DocumentFacts | None = None
    if not any(e.type is EventType.ERASED for e in events):  # erased: nothing to compare
        with contextlib.suppress(ValueError):
            facts = issued_facts(events, index)
    matches = (facts is not None and facts_digest(facts) == mark.digest
               and verification_code(mark.digest) == mark.code)
    signature = check_signature(session, site, issued.origin, issued.epoch, issued.seq)
    return DocumentCheck(mark=mark, issued_at=issued.at, facts=facts, facts_match=matches,
                         signature=signature)


def check_signature(session: Session, site: SyncSite, origin: str, epoch: int,
                    seq: int) -> SignatureCheck:
    """Whether the stored event ``(origin, epoch, seq)`` is as its origin signed it."""
    rows = session.scalars(
        select(sync_store.SyncEvent)
        .where(sync_store.SyncEvent.origin == origin, sync_store.SyncEvent.epoch == epoch,
               sync_store.SyncEvent.seq >= seq)
        .order_by(sync_store.SyncEvent.seq).limit(MAX_WALK))
    previous: Event | None = None
    for row in rows:
        event = sync_store.as_event(row, site.sealer)
        if previous is None and event.seq != seq:
            return SignatureCheck(None, None, "the issuing event is not held here")
        if event.computed_hash() != event.hash:
            return SignatureCheck(False, None, "an event's content does not match its hash")
        if previous is not None and (event.seq != previous.seq + 1
                                     or event.prev_hash != previous.hash):
            return SignatureCheck(None, None, "the chain to its signature is not held here")
        if event.signature is not None:
            return _verified(session, site, event)
        previous = event
    return SignatureCheck(None, None, "no signature of the issuing site is held here yet")


def _verified(session: Session, site: SyncSite, event: Event) -> SignatureCheck:
    assert event.signature is not None
    key_id = event.signature.key_id
    unknown = SignatureCheck(None, key_id.hex(), "the issuing site's key is not known here")
    own = event.origin == site.code and key_id == site.key.key_id
    if not own and not site.hub_site:  # not enrolled yet: it believes no key but its own
        return unknown
    try:
        if own:
            public = site.key.private.public_key()
        else:
            ring = sync_store.build_keyring(session, site.hub_site, site.hub_public_raw)
            public = ring.for_event(key_id, event.origin, event.epoch, event.seq).public
    except KeyUnknown:
        return unknown
    except KeyRevoked:
        return SignatureCheck(False, key_id.hex(), "the key was revoked before it signed")
    try:
        verify(public, event.signature.value, event.head.statement(), field="signature")
    except SignatureInvalid:
        return SignatureCheck(False, key_id.hex(), "the signature does not verify")
    return SignatureCheck(True, key_id.hex(), f"signed by {event.origin}")


def public_facts(facts: DocumentFacts, item_name: str) -> dict[str, Any]:
    """The facts a reader compares with the paper; the applicant's name masked as on the
    status pages of a station."""
    return {
        "applicant_name": mask_name(facts.applicant_name), "item_code": facts.item_code,
        "item_name": item_name, "outcome": facts.outcome, "decision_date": facts.decided_on,
        "reference": facts.reference, "authority": facts.authority, "deemed": facts.deemed,
        "refusal": facts.refusal,
    }
