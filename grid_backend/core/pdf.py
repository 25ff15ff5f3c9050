"""Printable PDFs (QR-code sheets, community risk maps) drawn on the server with fpdf2, in a
font that has Chinese: `GRID_PDF_FONT`, by default Debian's WenQuanYi Micro Hei
(fonts-wqy-microhei, installed by .ci/run and the Docker image).

    doc = new_document("A4", "portrait")   # an FPDF with the font registered and selected
    doc.add_page(); doc.cell(text="较场口社区")
    data = render(doc)                      # the file's bytes

A missing or unreadable font is a clear error (`PdfFontMissing`, 503 `pdf_font_missing`
naming the setting), raised before anything is drawn, never a trace or boxes for Chinese."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fpdf import FPDF

from grid_backend.core import clock
from grid_backend.core.errors import DomainError
from grid_backend.core.i18n import N_
from grid_backend.settings import get_settings

FONT = "cjk"  # the family name the font is registered under
PageSize = Literal["A3", "A4"]
Orientation = Literal["portrait", "landscape"]


class PdfFontMissing(DomainError):
    def __init__(self, path: str) -> None:
        super().__init__(
            "pdf_font_missing",
            status=503,
            detail=N_(
                "the font for printable PDFs (%(path)s) is missing: install it or set GRID_PDF_FONT"
            ),
            params={"path": path},
        )


def font_path() -> Path:
    """The configured CJK font, checked to exist; PdfFontMissing if it does not."""
    path = Path(get_settings().pdf_font)
    if not path.is_file():
        raise PdfFontMissing(str(path))
    return path


def new_document(size: PageSize = "A4", orientation: Orientation = "portrait") -> FPDF:
    """An empty document of this page size, in millimetres, with the CJK font registered as
    `FONT` (regular style) and selected at 10 pt; automatic page breaks off (sheets place
    their own)."""
    path = font_path()
    doc = FPDF(orientation="P" if orientation == "portrait" else "L", unit="mm", format=size)
    try:
        doc.add_font(FONT, "", str(path), collection_font_number=0)
    except Exception as exc:  # a file that is not a font: the same clear error
        raise PdfFontMissing(str(path)) from exc
    doc.set_font(FONT, size=10)
    doc.set_auto_page_break(False)
    doc.set_creation_date(clock.now())
    return doc


def render(doc: FPDF) -> bytes:
    """The document's bytes."""
    return bytes(doc.output())
