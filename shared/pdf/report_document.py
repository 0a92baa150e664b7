"""The printed report of a period (日清周结月评年报): an A4 landscape table of the figures per
window and the site's total, in Chinese, with the CJK fonts the result documents use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.pdf.fonts import PdfFonts, add_fonts

PERIOD_NAMES = {"day": "日报", "week": "周报", "month": "月报", "year": "年报"}
COLUMNS = (("window", "窗口", 34), ("received", "受理", 20), ("completed", "办结", 20),
           ("on_time", "按时办结", 24), ("early", "提前办结", 24), ("overdue", "超期", 20),
           ("average_days", "平均用时(天)", 28), ("satisfaction_rate", "满意率", 22),
           ("warnings", "预警", 18), ("yellow_cards", "黄牌", 18), ("red_cards", "红牌", 18),
           ("urges", "催办", 18))


def _cell(key: str, value: object) -> str:
    if value is None:
        return "—"
    if key == "satisfaction_rate" and isinstance(value, int | float):
        return f"{value * 100:.1f}%"
    return str(value)


def render_report(report: Mapping[str, Any], site_name: str, fonts: PdfFonts) -> bytes:
    """The PDF of a report as :func:`shared.web.supervision_views.report_body` gives it."""
    from fpdf import FPDF  # imported when a document is drawn

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_margins(12, 15, 12)
    add_fonts(pdf, fonts)
    title = f"{site_name} 政务服务{PERIOD_NAMES.get(report['period'], report['period'])}"
    pdf.set_title(title)
    pdf.set_creator("Sanji")
    pdf.add_page()
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 10, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 8, f"{report['from']} 至 {report['to']}", align="C", new_x="LMARGIN",
             new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("cjk", size=9)
    for _, label, width in COLUMNS:
        pdf.cell(width, 8, label, border=1, align="C")
    pdf.ln()
    rows: Sequence[Mapping[str, Any]] = [*report["rows"], {**report["total"], "window": "合计"}]
    for row in rows:
        for key, _, width in COLUMNS:
            pdf.cell(width, 7, _cell(key, row.get(key)), border=1,
                     align="L" if key == "window" else "R")
        pdf.ln()
    return bytes(pdf.output())
