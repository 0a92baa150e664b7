"""The refusal notice of a refused case: 不予受理决定书 when the window refused it before
accepting it (行政许可法 art. 32), 不予许可决定书 when it was refused after acceptance or by
the higher authority it was reported to (art. 38). It states the reason and the applicant's
remedies: administrative reconsideration within 60 days (行政复议法 art. 20) or an
administrative lawsuit within six months (行政诉讼法 art. 46)."""

from __future__ import annotations

from shared.pdf.decision import ResultDocument, verification
from shared.pdf.document_facts import NOT_ACCEPTED, SHANGHAI, DocumentFacts
from shared.pdf.fonts import PdfFonts
from shared.pdf.letter import Layout, Letter, render_letter

REMEDY_TEXT = ("如对本决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，"
               "或者自收到本决定书之日起六个月内依法向人民法院提起行政诉讼。")
_BASIS = {NOT_ACCEPTED: "《中华人民共和国行政许可法》第三十二条第一款",
          "not_permitted": "《中华人民共和国行政许可法》第三十八条第二款"}


def refusal_title(facts: DocumentFacts) -> str:
    """不予受理决定书 before acceptance, 不予许可决定书 after it."""
    return "不予受理决定书" if facts.refusal == NOT_ACCEPTED else "不予许可决定书"


def render_refusal(doc: ResultDocument, fonts: PdfFonts, *, layout: Layout,
                   public_base_url: str) -> bytes:
    """The refusal notice of ``doc`` (a refused case) in ``layout``."""
    facts = doc.facts
    verb = "不予受理" if facts.refusal == NOT_ACCEPTED else "不予许可"

    def draw(letter: Letter) -> None:
        letter.top(doc.site_name, refusal_title(facts))
        rows = [("受理编号", facts.acceptance_no), ("申请人", facts.applicant_name),
                ("申请事项", doc.item)]
        if doc.applied_at is not None:
            applied = doc.applied_at.astimezone(SHANGHAI).strftime("%Y年%m月%d日")
            rows.append(("申请日期", applied))
        rows.append(("决定日期", doc.decided_on))
        if facts.authority:
            rows.append(("决定机关", facts.authority))
        if facts.reference:
            rows.append(("文号", facts.reference))
        letter.rows(rows)
        decider = f"经{facts.authority}审查" if facts.authority else "经审查"
        letter.paragraph(f"{facts.applicant_name}：你（单位）提出的{doc.item_name}申请，"
                         f"{decider}，依据{_BASIS[facts.refusal or NOT_ACCEPTED]}的规定，"
                         f"决定{verb}。", gap=1)
        letter.paragraph(f"{verb}的理由：{facts.reason or '（未载明）'}")
        letter.paragraph(REMEDY_TEXT)
        letter.sign_off(doc.site_name, doc.decided_on)
        verification(letter, doc, public_base_url)

    return render_letter(fonts, layout, f"{refusal_title(facts)} {facts.acceptance_no}", draw)
