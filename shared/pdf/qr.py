"""The QR codes printed on a site's documents (the receipt's status link, a result
document's verify link): a PNG drawn by segno, at error level M so a creased or smudged
paper still scans."""

from __future__ import annotations

import io


def qr_png(url: str) -> io.BytesIO:
    """``url`` as a QR code PNG, ready for ``FPDF.image``."""
    import segno  # imported when a document is drawn, as fpdf is

    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
    buffer.seek(0)
    return buffer
