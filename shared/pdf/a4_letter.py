"""The A4 page a site's letters to an applicant share (the decision document, the one-time
notice of missing materials): the issuing centre and the letter's title centred at the
top, then labelled rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.pdf.fonts import PdfFonts, add_fonts

if TYPE_CHECKING:
    from fpdf import FPDF


def a4_letter(fonts: PdfFonts, *, site_name: str, heading: str, title: str) -> FPDF:
    """A new A4 document with its first page begun: ``site_name`` over ``heading``;
    ``title`` is the PDF's own title."""
    from fpdf import FPDF  # imported when a document is drawn: it costs ~40 MB resident

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(25, 25, 25)
    add_fonts(pdf, fonts)
    pdf.set_title(title)
    pdf.set_creator("Sanji")
    pdf.add_page()
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 12, site_name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 12, heading, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    return pdf


def labelled_rows(pdf: FPDF, rows: Sequence[tuple[str, str]]) -> None:
    """Each ``(label, value)`` on a line of its own, the value wrapping beside its label."""
    for label, value in rows:
        pdf.set_font("cjk", size=11)
        pdf.cell(32, 9, label)
        pdf.multi_cell(0, 9, value, new_x="LMARGIN", new_y="NEXT")
