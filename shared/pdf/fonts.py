"""CJK fonts for the PDFs every site prints (receipts, hand-over lists, decision documents).

fpdf2 embeds TrueType outlines: WenQuanYi Zen Hei for CJK text and, through
``set_fallback_fonts``, HanaMinB for CJK Extension B (e.g. 𠮷), so that rare characters in a
name are both drawn and present in the text layer. CFF-outline fonts (Noto CJK) cannot be
embedded by fpdf2, which is why they are not looked for.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # fpdf costs ~40 MB resident: imported only when a PDF is drawn
    from fpdf import FPDF

_CJK_CANDIDATES = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",)
_EXT_B_CANDIDATES = ("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",)


class FontMissing(Exception):
    """No CJK TrueType font is installed (Debian: fonts-wqy-zenhei)."""


@dataclass(frozen=True, slots=True)
class PdfFonts:
    """The main CJK font and the optional fallback for CJK Extension B."""

    cjk: Path
    ext_b: Path | None


def _fc_match(family: str, suffixes: tuple[str, ...]) -> Path | None:
    if shutil.which("fc-match") is None:
        return None
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", family], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found) if found.lower().endswith(suffixes) and Path(found).is_file() else None


def find_fonts() -> PdfFonts:
    """Locate the fonts on this machine: known Debian paths, a glob, then ``fc-match``."""
    cjk = next((Path(p) for p in _CJK_CANDIDATES if Path(p).is_file()), None)
    if cjk is None:
        matches = sorted(glob.glob("/usr/share/fonts/**/wqy-zenhei.tt[cf]", recursive=True))
        cjk = Path(matches[0]) if matches else _fc_match("WenQuanYi Zen Hei", (".ttc", ".ttf"))
    if cjk is None:
        raise FontMissing("no CJK TrueType font: install fonts-wqy-zenhei")
    ext_b = next((Path(p) for p in _EXT_B_CANDIDATES if Path(p).is_file()), None)
    if ext_b is None:
        matches = sorted(glob.glob("/usr/share/fonts/**/HanaMinB.ttf", recursive=True))
        ext_b = Path(matches[0]) if matches else _fc_match("HanaMinB", (".ttf",))
    return PdfFonts(cjk=cjk, ext_b=ext_b)




def add_fonts(pdf: FPDF, fonts: PdfFonts) -> None:
    """Register the fonts on ``pdf`` as ``cjk`` (and ``extb`` as its fallback)."""
    pdf.add_font("cjk", fname=str(fonts.cjk))
    if fonts.ext_b is not None:
        pdf.add_font("extb", fname=str(fonts.ext_b))
        pdf.set_fallback_fonts(["extb"])
