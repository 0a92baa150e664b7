"""The result document of a decided case (准予/不予决定书), drawn by the deciding site.

Built from the case's events only (the same fold as everywhere): who applied for what, the
decision and its date, the written reason of a refusal (退回件: a clear answer), the deciding
window and its two operators (一审一核), and the reference of a higher authority's decision
for a reported-up case. fpdf2 with the CJK fonts of :mod:`shared.pdf.fonts` (imported only
when a document is drawn, as the receipts are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.domain.case_events import CaseEvent, EventType
from shared.domain.case_state import fold
from shared.pdf.a4_letter import a4_letter, labelled_rows
from shared.pdf.fonts import PdfFonts

SHANGHAI = ZoneInfo("Asia/Shanghai")
_OUTCOME = {"approved": "准予", "rejected": "不予（退回）", "withdrawn": "已撤件"}


@dataclass(frozen=True, slots=True)
class ResultDocument:
    """What the document says (``None`` fields are left out)."""

    site_name: str
    acceptance_no: str
    item_code: str
    item_name: str
    applicant_name: str
    outcome: str
    decided_at: datetime
    reason: str | None
    reviewer: str | None
    checker: str | None
    reference: str | None
    authority: str | None
    deemed: bool = False
    """Approved by the rule (超时默认许可): undecided when the legal time limit ran out."""


DEEMED_TEXT = "法定期限届满未作出决定，依法视为准予许可（超时默认许可）"


def result_document(events: Sequence[CaseEvent], *, site_name: str,
                    item_name: str) -> ResultDocument:
    """The document of a decided case; :class:`ValueError` when it is not decided yet."""
    state = fold(events)
    if state.outcome is None or state.decided_at is None:
        raise ValueError("the case has no decision yet")
    first = events[0].payload
    applicant = first.get("applicant", {})
    name = str(applicant.get("name") or applicant.get("company_name") or "")
    reference = authority = None
    for event in events:
        if event.type is EventType.EXTERNAL_DECISION_RECORDED:
            reference = str(event.payload.get("reference") or "") or None
            authority = str(event.payload.get("authority") or "") or None
    return ResultDocument(
        site_name=site_name, acceptance_no=str(first.get("acceptance_no", "")),
        item_code=state.item_code or "", item_name=item_name, applicant_name=name,
        outcome=state.outcome.value, decided_at=state.decided_at, reason=state.reason,
        reviewer=state.reviewer, checker=state.checker, reference=reference,
        authority=authority, deemed=state.deemed,
    )


def render_result(doc: ResultDocument, fonts: PdfFonts) -> bytes:
    """The A4 PDF of ``doc``."""
    title = "准予决定书" if doc.outcome == "approved" else "办理结果告知书"
    pdf = a4_letter(fonts, site_name=doc.site_name, heading=title,
                    title=f"办理结果 {doc.acceptance_no}")
    decided = doc.decided_at.astimezone(SHANGHAI).strftime("%Y年%m月%d日")
    rows = [
        ("受理编号", doc.acceptance_no),
        ("申请人", doc.applicant_name),
        ("申请事项", f"{doc.item_name}（{doc.item_code}）"),
        ("办理结果", _OUTCOME.get(doc.outcome, doc.outcome)),
        *([("办理方式", DEEMED_TEXT)] if doc.deemed else []),
        ("决定日期", decided),
    ]
    if doc.authority:
        rows.append(("决定机关", doc.authority))
    if doc.reference:
        rows.append(("文号", doc.reference))
    if doc.reason and doc.outcome != "approved":
        rows.append(("理由", doc.reason))
    reviewers = " / ".join(p for p in (doc.reviewer, doc.checker) if p)
    if reviewers:
        rows.append(("审核 / 核准", reviewers))
    labelled_rows(pdf, rows)
    pdf.ln(10)
    pdf.set_font("cjk", size=10)
    closing = ("申请人对本决定不服的，可依法申请行政复议或者提起行政诉讼。"
               if doc.outcome == "rejected" else "请凭受理编号和查询码领取办理结果。")
    pdf.multi_cell(0, 7, closing, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.cell(0, 8, f"{doc.site_name}　{decided}", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
