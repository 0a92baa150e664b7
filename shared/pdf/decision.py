"""What a result document says, worked out from the case's log (:func:`result_document`),
and the verification block every issued one prints (:func:`verification`): the signed facts
(:mod:`shared.pdf.document_facts`), the issuing site and its key, and a QR code to the
public verify page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.case_events import CaseEvent, EventType
from shared.domain.case_state import fold
from shared.pdf.document_facts import (
    DocumentFacts,
    IssueMark,
    document_facts,
    grouped,
    issue_mark,
    issued_facts,
    status_page_url,
    verify_url,
)
from shared.pdf.letter import Letter


@dataclass(frozen=True, slots=True)
class ResultDocument:
    """What the document says: the facts, and who signed them once issued."""

    site_name: str
    facts: DocumentFacts
    item_name: str
    applied_at: datetime | None
    reviewer: str | None
    checker: str | None
    mark: IssueMark | None = None
    """The issue's verification code and signer (None: not issued yet, or issued before
    documents carried a code)."""

    @property
    def acceptance_no(self) -> str:
        return self.facts.acceptance_no

    @property
    def outcome(self) -> str:
        return self.facts.outcome

    @property
    def decided_on(self) -> str:
        """The decision's date as printed."""
        year, month, day = self.facts.decided_on.split("-")
        return f"{year}年{month}月{day}日"

    @property
    def item(self) -> str:
        return f"{self.item_name}（{self.facts.item_code}）"


def result_document(events: Sequence[CaseEvent], *, site_name: str,
                    item_name: str) -> ResultDocument:
    """The document of a decided case; :class:`ValueError` when it is not decided yet."""
    marked = issue_mark(events)
    if marked is not None:
        facts = issued_facts(events, marked[0])
    else:
        issued = next((e for e in events if e.type is EventType.RESULT_ISSUED), None)
        reference = issued.payload.get("reference") if issued is not None else None
        facts = document_facts(events, reference if isinstance(reference, str) else None)
    state = fold(events)
    return ResultDocument(site_name=site_name, facts=facts, item_name=item_name,
                          applied_at=state.registered_at, reviewer=state.reviewer,
                          checker=state.checker, mark=marked[1] if marked else None)


def verification(letter: Letter, doc: ResultDocument, public_base_url: str) -> None:
    """The issued document's verification block (code, issuing site and key) and its QR
    code to the verify page; before the issue, a QR code to the status page."""
    if doc.mark is None:
        letter.qr(status_page_url(public_base_url, doc.acceptance_no),
                  "扫码查询办理进度（需输入查询码）")
        return
    letter.paragraph("", gap=0.5)
    letter.rows([("验证码", grouped(doc.mark.code)), ("签发单位", doc.mark.site),
                 ("签名密钥", doc.mark.key_id)])
    address = f"{public_base_url.rstrip('/')}/verify"
    letter.qr(verify_url(public_base_url, doc.acceptance_no, doc.mark.code),
              f"扫码或访问 {address}，输入受理编号和验证码，核验本文书真伪")
