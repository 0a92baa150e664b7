"""Printed documents of the node: the citizen's receipt (受理回执) and the hand-over list
(移交清单) that goes with paper originals.

fpdf2 embeds TrueType outlines (WenQuanYi Zen Hei) and, through ``set_fallback_fonts``,
a second font for characters outside it (HanaMinB covers CJK Extension B, e.g. 𠮷), so that
rare characters in a name are both drawn and present in the text layer. Receipts come as A4
or as an 80 mm roll for receipt printers; both carry a QR code to the public status page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from fpdf import FPDF

from shared.pdf.fonts import PdfFonts, add_fonts
from shared.pdf.letter import LAYOUTS as LAYOUTS  # the receipt's layouts are the letters'
from shared.pdf.letter import Layout
from shared.pdf.qr import qr_png

SHANGHAI = ZoneInfo("Asia/Shanghai")

@dataclass(frozen=True, slots=True)
class ReceiptData:
    """Everything printed on a receipt; the applicant's ID number arrives already masked."""

    site_name: str
    site_code: str
    acceptance_no: str
    query_code: str
    item_code: str
    item_name: str
    applicant_name: str
    applicant_id_masked: str
    registered_at: datetime
    promised_days: int
    delivery: str
    materials: Sequence[str]
    status_url: str


def status_url(public_base_url: str, acceptance_no: str, query_code: str) -> str:
    """The public status page answering for this case: the receipt's QR code carries it, so
    scanning it shows the case without typing (the receipt is the citizen's; whoever holds
    it may see how the case goes, as with the printed code itself)."""
    query = urlencode({"acceptance_no": acceptance_no, "query_code": query_code})
    return f"{public_base_url.rstrip('/')}/status?{query}"


_DELIVERY_ZH = {"village": "村代办点领取", "window": "窗口领取", "courier": "快递送达"}


def _new_pdf(fonts: PdfFonts, layout: Layout, height_mm: float = 297) -> FPDF:
    from fpdf import FPDF  # imported when a PDF is drawn: it costs ~40 MB resident

    if layout == "a4":
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_margins(20, 20, 20)
    else:
        pdf = FPDF(orientation="P", unit="mm", format=(80, height_mm))
        pdf.set_margins(4, 4, 4)
    pdf.set_auto_page_break(auto=True, margin=8)
    add_fonts(pdf, fonts)
    pdf.set_title("受理回执")
    pdf.set_creator("Sanji")
    pdf.add_page()
    return pdf


def _font_face(**style: object) -> object:
    from fpdf.fonts import FontFace

    return FontFace(**style)  # type: ignore[arg-type]


def render_receipt(data: ReceiptData, layout: Layout, fonts: PdfFonts) -> bytes:
    """The receipt as PDF bytes in ``layout`` (``a4`` or ``80mm``)."""
    pdf = _new_pdf(fonts, layout, height_mm=210)
    small = layout == "80mm"
    width = pdf.epw
    title, body, big = (12, 8.5, 13) if small else (20, 11, 18)
    line = 4.6 if small else 7.5
    pdf.set_font("cjk", size=title)
    pdf.cell(width, line * 1.6, "受理回执", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=body)
    pdf.cell(width, line, data.site_name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(line * 0.5)
    pdf.set_font("cjk", size=body)
    pdf.cell(width, line, "受理编号", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=big)
    pdf.cell(width, line * 1.4, data.acceptance_no, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=body)
    pdf.cell(width, line, "查询码(请妥善保管)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=big)
    code = f"{data.query_code[:4]}-{data.query_code[4:]}"
    pdf.cell(width, line * 1.4, code, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=body)
    local = data.registered_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    limit = "即办" if data.promised_days == 0 else f"{data.promised_days} 个工作日"
    rows = [
        ("申请事项", f"{data.item_name}({data.item_code})"),
        ("申请人", data.applicant_name),
        ("证件号码", data.applicant_id_masked),
        ("登记时间", local),
        ("承诺时限", limit),
        ("送达方式", _DELIVERY_ZH.get(data.delivery, data.delivery)),
        ("已收材料", "、".join(data.materials) if data.materials else "无"),
    ]
    label_width = 16 if small else 28
    for label, value in rows:
        y = pdf.get_y()
        pdf.cell(label_width, line, label)
        pdf.set_xy(pdf.l_margin + label_width, y)
        pdf.multi_cell(width - label_width, line, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(line * 0.5)
    qr_size = 34 if small else 45
    x = pdf.l_margin + (width - qr_size) / 2
    pdf.image(qr_png(data.status_url), x=x, y=pdf.get_y(), w=qr_size, h=qr_size)
    pdf.set_y(pdf.get_y() + qr_size + 1)
    pdf.multi_cell(
        width,
        line,
        "扫码查看办理进度,或访问以下地址输入受理编号和查询码:",
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("cjk", size=body * 0.8)
    page_address = data.status_url.split("?", 1)[0]  # the code stays in the QR code only
    pdf.multi_cell(width, line, page_address, align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@dataclass(frozen=True, slots=True)
class HandoverLine:
    """One case on a hand-over list."""

    acceptance_no: str
    item_name: str
    applicant_name: str
    materials: Sequence[str]


def render_handover_list(
    *,
    site_name: str,
    destination: str,
    list_id: str,
    at: datetime,
    lines: Sequence[HandoverLine],
    fonts: PdfFonts,
) -> bytes:
    """The A4 hand-over list (移交清单) that travels with paper originals, with signatures."""
    pdf = _new_pdf(fonts, "a4")
    pdf.set_title("移交清单")
    width = pdf.epw
    pdf.set_font("cjk", size=18)
    pdf.cell(width, 12, "纸质材料移交清单", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    local = at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    pdf.multi_cell(
        width,
        6,
        f"移交单位:{site_name}    接收单位:{destination}\n"
        f"清单编号:{list_id}    日期:{local}    共 {len(lines)} 件",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.set_font("cjk", size=9)
    columns = (10, 58, 42, 24, width - 134)
    headers = ("序号", "受理编号", "事项", "申请人", "材料")
    with pdf.table(
        col_widths=columns,
        text_align="LEFT",
        line_height=6,
        headings_style=_font_face(emphasis=None, fill_color=(235, 235, 235)),
    ) as table:
        header = table.row()
        for text in headers:
            header.cell(text)
        for number, entry in enumerate(lines, start=1):
            row = table.row()
            row.cell(str(number))
            row.cell(entry.acceptance_no)
            row.cell(entry.item_name)
            row.cell(entry.applicant_name)
            row.cell("、".join(entry.materials) or "无")
    pdf.ln(10)
    pdf.cell(width / 2, 8, "移交人签字:____________")
    pdf.cell(width / 2, 8, "接收人签字:____________", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(width / 2, 8, "移交日期:____________")
    pdf.cell(width / 2, 8, "接收日期:____________", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
