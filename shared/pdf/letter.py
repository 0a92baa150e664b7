"""The page a site's letters to an applicant share (the one-time notice of missing
materials, the refusal notice, the decision document), on A4 or on the 80 mm roll of a
receipt printer: the issuing centre and the letter's title at the top, labelled rows,
paragraphs, a QR code with its caption and the sign-off.

On the 80 mm roll the page is as long as the letter: it is drawn once on a long page to
measure it, then again on a page of that length, so the printer cuts after the last line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from shared.pdf.fonts import PdfFonts, add_fonts
from shared.pdf.qr import qr_png

if TYPE_CHECKING:
    from fpdf import FPDF

Layout = Literal["a4", "80mm"]
LAYOUTS: tuple[Layout, ...] = ("a4", "80mm")
_MEASURE_MM = 1500.0
"""The roll page's length for the measuring pass: longer than any letter."""
_ROLL_MARGIN = 4.0


@dataclass(frozen=True, slots=True)
class _Sizes:
    site: float
    heading: float
    body: float
    small: float
    line: float
    label: float
    qr: float


_A4 = _Sizes(site=18, heading=16, body=11, small=10, line=8, label=32, qr=40)
_ROLL = _Sizes(site=10, heading=12, body=8.5, small=7.5, line=4.6, label=16, qr=34)


class Letter:
    """One letter being drawn on ``pdf`` in ``layout``."""

    def __init__(self, pdf: FPDF, layout: Layout) -> None:
        self.pdf = pdf
        self.layout = layout
        self.size = _ROLL if layout == "80mm" else _A4

    def top(self, site_name: str, heading: str) -> None:
        """The issuing centre over the letter's title, centred."""
        pdf, size = self.pdf, self.size
        pdf.set_font("cjk", size=size.site)
        pdf.multi_cell(0, size.line * 1.4, site_name, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=size.heading)
        pdf.multi_cell(0, size.line * 1.5, heading, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(size.line * 0.6)

    def rows(self, rows: Sequence[tuple[str, str]]) -> None:
        """Each ``(label, value)`` on a line of its own, the value wrapping beside its label."""
        pdf, size = self.pdf, self.size
        pdf.set_font("cjk", size=size.body)
        for label, value in rows:
            y = pdf.get_y()
            pdf.cell(size.label, size.line, label)
            pdf.set_xy(pdf.l_margin + size.label, y)
            pdf.multi_cell(0, size.line, value, new_x="LMARGIN", new_y="NEXT")

    def paragraph(self, text: str, *, small: bool = False, gap: float = 0.5) -> None:
        """A wrapped paragraph, ``gap`` lines below what came before."""
        pdf, size = self.pdf, self.size
        pdf.ln(size.line * gap)
        pdf.set_font("cjk", size=size.small if small else size.body)
        pdf.multi_cell(0, size.line * (0.9 if small else 1.0), text, new_x="LMARGIN",
                       new_y="NEXT")

    def qr(self, url: str, caption: str) -> None:
        """The QR code of ``url`` centred, ``caption`` under it (kept on one page)."""
        pdf, size = self.pdf, self.size
        if self.layout == "a4" and pdf.get_y() + size.qr + size.line * 3 > pdf.page_break_trigger:
            pdf.add_page()
        pdf.ln(size.line * 0.5)
        x = pdf.l_margin + (pdf.epw - size.qr) / 2
        pdf.image(qr_png(url), x=x, y=pdf.get_y(), w=size.qr, h=size.qr)
        pdf.set_y(pdf.get_y() + size.qr + 1)
        pdf.set_font("cjk", size=size.small)
        pdf.multi_cell(0, size.line * 0.9, caption, align="C", new_x="LMARGIN", new_y="NEXT")

    def sign_off(self, site_name: str, date: str) -> None:
        """The issuing centre and the date, to the right (one under the other on a roll)."""
        pdf, size = self.pdf, self.size
        pdf.ln(size.line)
        pdf.set_font("cjk", size=size.body)
        text = f"{site_name}\n{date}" if self.layout == "80mm" else f"{site_name}　{date}"
        pdf.multi_cell(0, size.line, text, align="R", new_x="LMARGIN", new_y="NEXT")


def _new_pdf(fonts: PdfFonts, layout: Layout, title: str, roll_mm: float) -> FPDF:
    from fpdf import FPDF  # imported when a document is drawn: it costs ~40 MB resident

    if layout == "a4":
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_margins(25, 25, 25)
        pdf.set_auto_page_break(auto=True, margin=20)
    else:
        pdf = FPDF(orientation="P", unit="mm", format=(80, roll_mm))
        pdf.set_margins(_ROLL_MARGIN, _ROLL_MARGIN, _ROLL_MARGIN)
        pdf.set_auto_page_break(auto=True, margin=_ROLL_MARGIN)
    add_fonts(pdf, fonts)
    pdf.set_title(title)
    pdf.set_creator("Sanji")
    pdf.add_page()
    return pdf


def render_letter(fonts: PdfFonts, layout: Layout, title: str,
                  draw: Callable[[Letter], None]) -> bytes:
    """The PDF ``draw`` makes on a new letter in ``layout``; ``title`` is the PDF's own."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    roll = _MEASURE_MM
    if layout == "80mm":
        measuring = Letter(_new_pdf(fonts, layout, title, roll), layout)
        draw(measuring)
        roll = measuring.pdf.get_y() + _ROLL_MARGIN * 2
    letter = Letter(_new_pdf(fonts, layout, title, roll), layout)
    draw(letter)
    return bytes(letter.pdf.output())
