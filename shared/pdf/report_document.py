"""The printed report of a period (日清周结月评年报): an A4 landscape table of the figures per
window and the site's total, then the bad ratings' rectifications (差评整改) per window and
per deciding site, and the consultations and complaints (咨询投诉) per department, in
Chinese, with the CJK fonts the result documents use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.domain.consultations import flat_figures
from shared.pdf.fonts import PdfFonts, add_fonts

if TYPE_CHECKING:
    from fpdf import FPDF

PERIOD_NAMES = {"day": "日报", "week": "周报", "month": "月报", "year": "年报"}
COLUMNS = (("window", "窗口", 34), ("received", "受理", 20), ("completed", "办结", 20),
           ("on_time", "按时办结", 24), ("early", "提前办结", 24), ("overdue", "超期", 20),
           ("average_days", "平均用时(天)", 28), ("satisfaction_rate", "满意率", 22),
           ("warnings", "预警", 18), ("yellow_cards", "黄牌", 18), ("red_cards", "红牌", 18),
           ("urges", "催办", 18))
RECTIFICATION_COLUMNS = (("rectifications", "到期整改", 26), ("rectified_on_time", "按时答复", 26),
                         ("rectifications_overdue", "超期整改", 26),
                         ("callbacks_satisfied", "回访满意", 26))
"""差评整改: the rectifications due in the period, per window and per deciding site."""
ONE_FORM_COLUMNS = (("composite", "一件事", 30), ("applications", "申请件数", 26),
                    ("complete", "全部办结", 26), ("fields_spared", "少填字段", 26),
                    ("materials_spared", "少交材料", 26))
"""一表制: the parents registered in the period and what the one form spared."""
CONSULTATION_TABLE = (("department", "答复部门", 30),
                      *((f"{kind}_{figure}", f"{name}{label}", 26)
                        for kind, name in (("consultations", "咨询"), ("complaints", "投诉"))
                        for figure, label in (("received", "登记"), ("answered", "答复"),
                                              ("answered_on_time", "按时答复"),
                                              ("overdue", "超期"))))
"""咨询投诉: per department, its consultations' and complaints' figures
(:data:`shared.domain.consultations.CONSULTATION_COLUMNS`)."""
WAITING_COLUMNS = (("called", "叫号数", 24), ("average_minutes", "平均等候(分钟)", 32),
                   ("max_minutes", "最长等候(分钟)", 32))
"""排队等候: the hall's waiting times per service area and per window (the hub only)."""


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
    rows: Sequence[Mapping[str, Any]] = [*report["rows"], {**report["total"], "window": "合计"}]
    _table(pdf, COLUMNS, rows)
    by_site = report.get("rectifications_by_site") or []
    if any(row.get("rectifications") for row in rows) or by_site:
        pdf.ln(4)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 8, "差评整改", new_x="LMARGIN", new_y="NEXT")
        _table(pdf, (COLUMNS[0], *RECTIFICATION_COLUMNS),
               [r for r in rows if r.get("rectifications")])
        if by_site:
            pdf.ln(2)
            _table(pdf, (("site", "办理地", 34), *RECTIFICATION_COLUMNS), by_site)
    reused = [r for r in rows if r.get("materials_reused")]
    if reused:  # 证照库: materials taken from the store instead of a scan, per window
        pdf.ln(4)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 8, "证照库复用材料", new_x="LMARGIN", new_y="NEXT")
        _table(pdf, (COLUMNS[0], ("materials_reused", "复用材料", 26)), reused)
    one_forms = [r for r in report.get("one_forms") or [] if r.get("applications")]
    if one_forms:
        pdf.ln(4)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 8, "一件事一次办(与逐项申请相比)", new_x="LMARGIN", new_y="NEXT")
        _table(pdf, ONE_FORM_COLUMNS, one_forms)
    consultations = flat_figures(report.get("consultations") or [])
    if consultations:  # 咨询投诉: per department that owes the answers
        pdf.ln(4)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 8, "咨询投诉", new_x="LMARGIN", new_y="NEXT")
        _table(pdf, CONSULTATION_TABLE, consultations)
    waiting = report.get("waiting") or {}
    if waiting.get("areas"):
        pdf.ln(4)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 8, "大厅排队等候", new_x="LMARGIN", new_y="NEXT")
        _table(pdf, (("area", "服务区", 34), *WAITING_COLUMNS), waiting["areas"])
        pdf.ln(2)
        _table(pdf, (COLUMNS[0], *WAITING_COLUMNS), waiting.get("windows") or [])
    return bytes(pdf.output())


def _table(pdf: FPDF, columns: Sequence[tuple[str, str, int]],
           rows: Sequence[Mapping[str, Any]]) -> None:
    """A header row of ``columns``' labels, then one bordered line per row."""
    pdf.set_font("cjk", size=9)
    for _, label, width in columns:
        pdf.cell(width, 8, label, border=1, align="C")
    pdf.ln()
    for row in rows:
        for key, _, width in columns:
            pdf.cell(width, 7, _cell(key, row.get(key)), border=1,
                     align="L" if key in ("window", "site", "composite", "area", "department")
                     else "R")
        pdf.ln()
