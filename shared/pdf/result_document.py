"""The result document of a decided case, drawn by any site that holds its log: the
decision document (准予决定书) of an approval, the refusal notice
(:mod:`shared.pdf.refusal_notice`) of a refusal, the notice of a withdrawal.

Built from the case's events only (:mod:`shared.pdf.decision`): who applied for what, the
decision and its date, the written reason of a refusal, the deciding window's two operators
(一审一核), and the reference of a higher authority's decision for a reported-up case. Once
the result is issued, the facts are those the issuing site signed
(:mod:`shared.pdf.document_facts`), and the document prints their verification code, the
issuing site and its key, and a QR code to the public verify page. A4 or 80 mm
(:mod:`shared.pdf.letter`).
"""

from __future__ import annotations

from shared.pdf.decision import ResultDocument, result_document, verification
from shared.pdf.fonts import PdfFonts
from shared.pdf.letter import Layout, Letter, render_letter
from shared.pdf.refusal_notice import refusal_title, render_refusal

__all__ = ["ResultDocument", "document_title", "render_result", "result_document"]
_OUTCOME = {"approved": "准予", "rejected": "不予", "withdrawn": "已撤件"}
DEEMED_TEXT = "法定期限届满未作出决定，依法视为准予许可（超时默认许可）"


def document_title(doc: ResultDocument) -> str:
    """The title the document is printed under."""
    if doc.facts.refusal is not None:
        return refusal_title(doc.facts)
    return "准予决定书" if doc.outcome == "approved" else "办理结果告知书"


def render_result(doc: ResultDocument, fonts: PdfFonts, *, layout: Layout = "a4",
                  public_base_url: str) -> bytes:
    """The PDF of ``doc`` in ``layout``: a refusal is drawn as its refusal notice."""
    if doc.facts.refusal is not None:
        return render_refusal(doc, fonts, layout=layout, public_base_url=public_base_url)

    def draw(letter: Letter) -> None:
        facts = doc.facts
        letter.top(doc.site_name, document_title(doc))
        rows = [("受理编号", facts.acceptance_no), ("申请人", facts.applicant_name),
                ("申请事项", doc.item), ("办理结果", _OUTCOME.get(facts.outcome, facts.outcome)),
                *([("办理方式", DEEMED_TEXT)] if facts.deemed else []),
                ("决定日期", doc.decided_on)]
        if facts.authority:
            rows.append(("决定机关", facts.authority))
        if facts.reference:
            rows.append(("文号", facts.reference))
        if facts.reason and facts.outcome != "approved":
            rows.append(("理由", facts.reason))
        reviewers = " / ".join(p for p in (doc.reviewer, doc.checker) if p)
        if reviewers:
            rows.append(("审核 / 核准", reviewers))
        letter.rows(rows)
        letter.paragraph("请凭受理编号和查询码领取办理结果。", small=True, gap=1)
        letter.sign_off(doc.site_name, doc.decided_on)
        verification(letter, doc, public_base_url)

    return render_letter(fonts, layout, f"办理结果 {doc.acceptance_no}", draw)


