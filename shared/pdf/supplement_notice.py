"""The one-time notice of missing materials (一次性告知书): every material the deciding window
found missing, asked for once, with its reason (一次性告知, so the applicant need not come
back twice), drawn from the case's events wherever the case is shown.

Built from the latest ``supplement_requested`` event of the case's log: who applied for
what, which materials are missing (by name, from the item as the catalogue has it), why,
when it was asked and by which centre, and that the time limit stands still until the
materials are in (the deciding site's live deadline resumes then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.domain.case_events import CaseEvent, EventType
from shared.domain.catalogue import ServiceItem
from shared.pdf.document_facts import status_page_url
from shared.pdf.fonts import PdfFonts
from shared.pdf.letter import Layout, Letter, render_letter

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAUSE_TEXT = "补正期间不计入办理时限，材料补齐后继续计算。"


@dataclass(frozen=True, slots=True)
class SupplementNotice:
    site_name: str
    acceptance_no: str
    item_code: str
    item_name: str
    applicant_name: str
    missing: tuple[str, ...]
    """The missing materials by name, in the order the window listed them."""
    reason: str
    asked_at: datetime


def supplement_notice(events: Sequence[CaseEvent], *, site_name: str,
                      item: ServiceItem | None) -> SupplementNotice:
    """The notice of the case's latest supplement request; :class:`ValueError` when the
    window asked for none."""
    asked = next((e for e in reversed(events)
                  if e.type is EventType.SUPPLEMENT_REQUESTED), None)
    if asked is None:
        raise ValueError("no supplement was asked for this case")
    first = events[0].payload
    applicant = first.get("applicant", {})
    codes = [str(c) for c in asked.payload.get("missing", [])]
    return SupplementNotice(
        site_name=site_name, acceptance_no=str(first.get("acceptance_no", "")),
        item_code=str(first.get("item_code", "")),
        item_name=item.name.zh if item is not None else str(first.get("item_code", "")),
        applicant_name=str(applicant.get("name") or applicant.get("company_name") or ""),
        missing=tuple(item.material_names(codes) if item is not None else codes),
        reason=str(asked.payload.get("reason", "")), asked_at=asked.at)


def render_supplement_notice(notice: SupplementNotice, fonts: PdfFonts, *,
                             layout: Layout = "a4", public_base_url: str) -> bytes:
    """The PDF of ``notice`` in ``layout``, with a QR code to the case's status page."""
    asked = notice.asked_at.astimezone(SHANGHAI).strftime("%Y年%m月%d日")

    def draw(letter: Letter) -> None:
        letter.top(notice.site_name, "补正材料一次性告知书")
        letter.rows([("受理编号", notice.acceptance_no), ("申请人", notice.applicant_name),
                     ("申请事项", f"{notice.item_name}（{notice.item_code}）"),
                     ("告知日期", asked), ("补正理由", notice.reason)])
        letter.paragraph("请一次性补齐以下材料：", gap=0.5)
        for number, name in enumerate(notice.missing, start=1):
            letter.paragraph(f"{number}. {name}", gap=0)
        letter.paragraph(PAUSE_TEXT + "可在原受理点补交，补交后凭受理编号和查询码查询进度。",
                         small=True, gap=1)
        letter.sign_off(notice.site_name, asked)
        letter.qr(status_page_url(public_base_url, notice.acceptance_no),
                  "扫码查询办理进度（需输入查询码）")

    return render_letter(fonts, layout, f"一次性告知书 {notice.acceptance_no}", draw)
