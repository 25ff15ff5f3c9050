"""The printable A4 sheet of a community's QR codes: twelve to a page, each with the risk
point's or grid's name and its place in the tree, to cut out and put up."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from fpdf import FPDF

from grid_backend.areas.tables import Area
from grid_backend.core import clock, pdf, policy
from grid_backend.core.errors import NotFound, invalid
from grid_backend.core.i18n import gettext as _
from grid_backend.evacuation import qrcodes
from grid_backend.settings import get_settings

COLUMNS, ROWS = 3, 4
MARGIN, HEADER = 12.0, 18.0  # mm
SIDE = 40.0  # the printed code, mm (a phone reads it from about 40 cm)


def _header(doc: FPDF, title: str, page: int, pages: int) -> None:
    doc.set_xy(MARGIN, MARGIN - 4)
    doc.set_font(pdf.FONT, size=14)
    doc.cell(w=doc.w - 2 * MARGIN, h=7, text=title)
    doc.set_font(pdf.FONT, size=8)
    doc.set_xy(MARGIN, MARGIN + 3)
    today = clock.now().astimezone(get_settings().zone).date().isoformat()
    doc.cell(
        w=doc.w - 2 * MARGIN,
        h=5,
        text=_(
            "Scan to report a hazard here · printed %(date)s · page %(page)s of %(pages)s",
            date=today,
            page=page,
            pages=pages,
        ),
    )


def _cell(doc: FPDF, code: qrcodes.QrCodeRead, x: float, y: float, w: float) -> None:
    image = qrcodes.png(code.url, scale=6)
    doc.image(io.BytesIO(image), x=x + (w - SIDE) / 2, y=y, w=SIDE, h=SIDE)
    doc.set_xy(x, y + SIDE + 1)
    doc.set_font(pdf.FONT, size=10)
    doc.multi_cell(w=w, h=4.6, text=code.name, align="C", max_line_height=4.6)
    doc.set_x(x)
    doc.set_font(pdf.FONT, size=7)
    doc.multi_cell(w=w, h=3.4, text=code.place, align="C")


async def sheet(*, area_id: int, grants: list[policy.Grant], base_url: str) -> bytes:
    """The A4 sheet of an area's working codes (a community or a grid)."""
    area = (
        await Area.select(Area.id, Area.path, Area.level, Area.name)
        .where(Area.id == area_id)
        .first()
    )
    if area is None:
        raise NotFound("area_not_found")
    if area["level"] not in qrcodes.ISSUE_ALL_LEVELS:
        raise invalid("area_id", "codes are issued for a community or a grid at a time")
    policy.require(grants, "qr.manage", area["path"])
    rows = await qrcodes.live_codes(area["path"])
    places = await qrcodes.path_names({r["area_path"] for r in rows} | {area["path"]})
    codes = [qrcodes.read_row(r, places, base_url) for r in rows]
    # drawing takes a few hundred milliseconds (the font): off the event loop
    return await asyncio.to_thread(_draw, places[area["path"]] or area["name"], codes)


def _draw(title: str, codes: list[qrcodes.QrCodeRead]) -> bytes:
    doc = pdf.new_document("A4", "portrait")
    per_page = COLUMNS * ROWS
    pages = max(1, -(-len(codes) // per_page))
    w = (doc.w - 2 * MARGIN) / COLUMNS
    h = (doc.h - 2 * MARGIN - HEADER) / ROWS
    for page in range(pages):
        doc.add_page()
        _header(doc, title, page + 1, pages)
        chunk: list[Any] = codes[page * per_page : (page + 1) * per_page]
        for i, code in enumerate(chunk):
            row, column = divmod(i, COLUMNS)
            _cell(doc, code, MARGIN + column * w, MARGIN + HEADER + row * h, w)
        if not codes:
            doc.set_xy(MARGIN, MARGIN + HEADER)
            doc.set_font(pdf.FONT, size=11)
            doc.cell(text=_("No codes have been issued here yet."))
    return pdf.render(doc)
