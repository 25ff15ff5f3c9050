"""Drawing the community risk map (风险地图) as a PDF with fpdf2: the map (boundaries, risk
points, shelters, routes, scale bar, north arrow), the legend, the report QR code and the
lists (risk points, shelters, routes, each grid's team), on A4 or A3, portrait or landscape.

The map itself is `riskmap_map`. Texts come from the message catalogue in the request's
language (zh-CN by default); the document and its Chinese font (GRID_PDF_FONT) come from
`core.pdf`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import segno
from fpdf import FPDF

from grid_backend.core import i18n
from grid_backend.core.i18n import N_, gettext, pgettext
from grid_backend.core.pdf import Orientation, PageSize, new_document
from grid_backend.core.pdf import render as pdf_bytes
from grid_backend.evacuation.riskmap_map import (
    FONT,
    GREY,
    INK,
    LEVEL_COLOURS,
    LIGHT,
    RGB,
    SHAPES,
    SHELTER,
    draw_map,
    marker,
    shelter_label,
)
from grid_backend.settings import get_settings

if TYPE_CHECKING:
    from grid_backend.evacuation.riskmap import MapData

# fontTools logs every glyph of the subset at INFO
logging.getLogger("fontTools").setLevel(logging.WARNING)

PAGES = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}  # mm, portrait
LEVELS = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High"), "major": N_("Major")}
TYPES = {
    "landslide": N_("Landslide"),
    "flood_underpass": N_("Flood-prone underpass"),
    "gas_station": N_("Gas station"),
    "hazardous_chemicals": N_("Hazardous chemicals"),
    "construction_site": N_("Construction site"),
    "old_building": N_("Old building"),
    "other": N_("Other"),
}
KINDS = {
    "school": N_("School"),
    "community_centre": N_("Community centre"),
    "open_ground": N_("Open ground"),
    "other": N_("Other"),
}
DUTIES = {
    "grid_leader": N_("Grid leader"),
    "grid_worker": N_("Grid worker"),
    "emergency_officer": N_("Emergency officer"),
    "responder": N_("Community responder"),
    "site_monitor": N_("Site monitor"),
}


# --- the lists beside the map --------------------------------------------------------------


class Flow:
    """Blocks placed top to bottom in columns, then on further pages in columns."""

    def __init__(
        self,
        pdf: FPDF,
        columns: list[tuple[float, float, float, float]],
        k: float,
        continued: Callable[[], float],
    ):
        self.pdf, self.k, self.continued = pdf, k, continued
        self.columns = list(columns)
        self.x, self.y, self.w, self.bottom = self._next_column()

    def _next_column(self) -> tuple[float, float, float, float]:
        if not self.columns:
            self.pdf.add_page()
            top = self.continued()
            page_w, page_h = self.pdf.w, self.pdf.h
            margin, gap, count = 10 * self.k, 6 * self.k, 3 if page_w < page_h else 4
            width = (page_w - 2 * margin - gap * (count - 1)) / count
            self.columns = [
                (margin + i * (width + gap), top, width, page_h - margin - top)
                for i in range(count)
            ]
        x, y, w, h = self.columns.pop(0)
        self.top = y
        return x, y, w, y + h

    def block(self, height: float, draw: Callable[[float, float, float], None]) -> None:
        if self.y + height > self.bottom:
            self.x, self.y, self.w, self.bottom = self._next_column()
        draw(self.x, self.y, self.w)
        self.y += height

    def text(self, text: str, size: float, colour: RGB = INK, indent: float = 0) -> None:
        """A paragraph, wrapped to the column it lands in."""
        pdf = self.pdf
        pdf.set_font(FONT, size=size)
        line_h = size * 0.3528 * 1.35

        def height() -> float:
            lines = pdf.multi_cell(
                self.w - indent, line_h, text, align="L", dry_run=True, output="LINES"
            )
            assert isinstance(lines, list)  # output="LINES" alone: the list of lines
            return line_h * len(lines)

        if self.y + height() > self.bottom:
            self.x, self.y, self.w, self.bottom = self._next_column()
            pdf.set_font(FONT, size=size)
        needed = height()
        pdf.set_text_color(*colour)
        pdf.set_xy(self.x + indent, self.y)
        pdf.multi_cell(self.w - indent, line_h, text, align="L")
        self.y += needed

    def heading(self, text: str, keep: float = 0) -> None:
        """A section's title, kept in one column with the first `keep` mm of what follows."""
        if self.y > self.top:
            self.y += 2 * self.k
        if self.y + 8 * self.k + max(keep, 4 * self.k) > self.bottom:
            self.x, self.y, self.w, self.bottom = self._next_column()
        self.text(text, 10 * self.k, INK)
        self.block(1.2 * self.k, lambda x, y, w: self._rule(x, y, w))

    def _rule(self, x: float, y: float, w: float) -> None:
        self.pdf.set_draw_color(*LIGHT)
        self.pdf.set_line_width(0.3 * self.k)
        self.pdf.line(x, y + 0.3 * self.k, x + w, y + 0.3 * self.k)


def _legend(flow: Flow, data: MapData) -> None:
    pdf, k = flow.pdf, flow.k
    flow.heading(gettext("Legend"))
    row = 5.2 * k
    size = 7.5 * k

    def item(draw_symbol: Callable[[float, float], None], label: str) -> Callable[..., None]:
        def draw(x: float, y: float, w: float) -> None:
            draw_symbol(x + 3 * k, y + row / 2)
            pdf.set_font(FONT, size=size)
            pdf.set_text_color(*INK)
            pdf.text(x + 7.5 * k, y + row / 2 + size * 0.3528 * 0.35, label)

        return draw

    def symbol(shape: str, colour: RGB) -> Callable[[float, float], None]:
        return lambda cx, cy: marker(pdf, shape, cx, cy, 1.9 * k, colour)

    levels = [
        item(
            symbol("circle", colour),
            gettext("Risk level: %(level)s", level=pgettext("risk level", LEVELS[level])),
        )
        for level, colour in LEVEL_COLOURS.items()
    ]
    types = [
        item(symbol(shape, GREY), pgettext("risk point type", TYPES[kind]))
        for kind, shape in SHAPES.items()
    ]
    labels = [
        gettext("Risk level: %(level)s", level=pgettext("risk level", v)) for v in LEVELS.values()
    ]
    labels += [pgettext("risk point type", v) for v in TYPES.values()]
    pdf.set_font(FONT, size=size)
    across = 2 if max(pdf.get_string_width(t) for t in labels) < flow.w / 2 - 9 * k else 1
    for drawings in (levels, types):  # two to a row where they fit
        for i in range(0, len(drawings), across):
            pair = drawings[i : i + across]

            def draw(x: float, y: float, w: float, pair: list[Callable[..., None]] = pair) -> None:
                for j, one in enumerate(pair):
                    one(x + j * w / 2, y, w / 2)

            flow.block(row, draw)

    def shelter_symbol(cx: float, cy: float) -> None:
        pdf.set_fill_color(*SHELTER)
        pdf.rect(cx - 2 * k, cy - 2 * k, 4 * k, 4 * k, style="F")

    def route_symbol(cx: float, cy: float) -> None:
        pdf.set_draw_color(*SHELTER)
        pdf.set_line_width(0.7 * k)
        pdf.set_dash_pattern(dash=1.2 * k, gap=0.7 * k)
        pdf.line(cx - 2.5 * k, cy, cx + 2.5 * k, cy)
        pdf.set_dash_pattern()

    def outline_symbol(cx: float, cy: float) -> None:
        pdf.set_draw_color(*INK)
        pdf.set_line_width(0.8 * k)
        pdf.line(cx - 2.5 * k, cy, cx + 2.5 * k, cy)

    def grid_symbol(cx: float, cy: float) -> None:
        pdf.set_draw_color(*GREY)
        pdf.set_line_width(0.25 * k)
        pdf.set_dash_pattern(dash=1.2 * k, gap=0.8 * k)
        pdf.line(cx - 2.5 * k, cy, cx + 2.5 * k, cy)
        pdf.set_dash_pattern()

    flow.block(row, item(shelter_symbol, gettext("Shelter (letter: see the list)")))
    flow.block(row, item(route_symbol, gettext("Evacuation route")))
    flow.block(row, item(outline_symbol, gettext("Community boundary")))
    flow.block(row, item(grid_symbol, gettext("Grid boundary")))


def _qr(flow: Flow, data: MapData) -> None:
    pdf, k = flow.pdf, flow.k
    code = segno.make(data.report_url, error="m")
    matrix = list(code.matrix)
    side = min(28 * k, flow.w * 0.6)
    cell = side / (len(matrix) + 8)  # a quiet zone of four modules on each side

    def draw(x: float, y: float, w: float) -> None:
        pdf.link(x, y, side, side, data.report_url)  # the code is a link on screen, too
        pdf.set_fill_color(0, 0, 0)
        for r, row in enumerate(matrix):
            c = 0
            while c < len(row):
                if row[c]:
                    start = c
                    while c < len(row) and row[c]:
                        c += 1
                    pdf.rect(
                        x + (4 + start) * cell,
                        y + (4 + r) * cell,
                        (c - start) * cell,
                        cell,
                        style="F",
                    )
                else:
                    c += 1

    caption = 7.5 * k
    flow.heading(gettext("Report with your phone"), keep=side + caption * 0.5)
    flow.block(side, draw)
    flow.text(gettext("Scan to report a hazard or a danger here"), caption)


def _lists(flow: Flow, data: MapData) -> None:
    k = flow.k
    size = 7.2 * k
    flow.heading(gettext("Risk points"))
    if not data.risk_points:
        flow.text(gettext("None recorded"), size, GREY)
    grid = None
    for n, p in enumerate(data.risk_points, start=1):  # in grid order
        if p["grid_name"] != grid:
            grid = p["grid_name"]
            flow.text(grid, 8 * k, INK)
        flow.text(
            gettext(
                "%(n)s. %(name)s · %(type)s · %(level)s · %(households)s households",
                n=n,
                name=p["name"],
                type=pgettext("risk point type", TYPES.get(p["type"], "Other")),
                level=pgettext("risk level", LEVELS.get(p["risk_level"], "Low")),
                households=p["threatened_households"],
            ),
            size,
            indent=3 * k,
        )
    flow.heading(gettext("Shelters"))
    if not data.shelters:
        flow.text(gettext("None recorded"), size, GREY)
    for n, s in enumerate(data.shelters):
        contact = " ".join(v for v in (s["contact_name"], s["contact_phone"]) if v)
        text = gettext(
            "%(letter)s %(name)s · %(kind)s · capacity %(capacity)s people",
            letter=shelter_label(n),
            name=s["name"],
            kind=pgettext("shelter kind", KINDS.get(s["kind"], "Other")),
            capacity=s["capacity"],
        )
        if not s["is_open"]:
            text += " · " + gettext("closed for now")
        flow.text(text + (f" · {contact}" if contact else ""), size)
    if data.routes:
        flow.heading(gettext("Evacuation routes"))
        letters = {s["id"]: shelter_label(n) for n, s in enumerate(data.shelters)}
        for r in data.routes:
            start = r["risk_point_name"] or r["from_cluster"]
            flow.text(
                gettext(
                    "%(name)s: %(start)s → %(letter)s %(shelter)s",
                    name=r["name"],
                    start=start,
                    letter=letters.get(r["shelter"], ""),
                    shelter=r["shelter_name"],
                ),
                size,
            )
    flow.heading(gettext("Grid teams on duty"))
    for grid in data.grids:
        flow.text(grid.name, 8 * k, INK)
        if not grid.team:
            flow.text(gettext("Nobody on duty"), size, GREY, indent=3 * k)
        for m in grid.team:
            duty = pgettext("duty", DUTIES.get(m["duty"], m["duty"]))
            phone = f" {m['phone']}" if m["phone"] else ""
            flow.text(f"{duty} {m['name']}{phone}", size, INK, indent=3 * k)


def _header(pdf: FPDF, data: MapData, width: float, margin: float, k: float) -> float:
    name = data.community["name"]
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, size=20 * k)
    pdf.text(margin, margin + 7 * k, gettext("%(community)s risk map", community=name))
    pdf.set_font(FONT, size=8.5 * k)
    pdf.set_text_color(*GREY)
    pdf.text(margin, margin + 12.5 * k, " · ".join([*data.place, name]))
    zone = get_settings().zone
    lines = [
        gettext(
            "Printed %(time)s (Beijing time)",
            time=data.printed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        ),
        gettext(
            "Data version %(time)s · %(digest)s",
            time=data.changed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if data.changed_at
            else "—",
            digest=data.digest,
        ),
    ]
    pdf.set_font(FONT, size=7.5 * k)
    for i, line in enumerate(lines):
        pdf.text(width - margin - pdf.get_string_width(line), margin + (4 + 4.5 * i) * k, line)
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.5 * k)
    pdf.line(margin, margin + 15 * k, width - margin, margin + 15 * k)
    return margin + 18 * k


def _footer(pdf: FPDF, data: MapData, margin: float, k: float) -> None:
    pdf.set_font(FONT, size=6.5 * k)
    pdf.set_text_color(*GREY)
    note = gettext("In danger call 110 / 119 / 120. Map in WGS-84; positions are approximate.")
    pdf.text(margin, pdf.h - margin + 4 * k, note)


def render(data: MapData, *, size: PageSize, orientation: Orientation) -> bytes:
    """The risk map as PDF bytes (blocking: run it in a worker thread)."""
    pdf = new_document(size, orientation)
    pdf.set_margin(0)  # everything is placed by hand
    pdf.set_title(gettext("%(community)s risk map", community=data.community["name"]))
    pdf.set_creator("grid-backend")
    pdf.add_page()
    k = 1.0 if size == "A4" else PAGES["A3"][0] / PAGES["A4"][0]
    margin = 10 * k
    width, height = pdf.w, pdf.h
    top = _header(pdf, data, width, margin, k)
    usable_h = height - margin - top
    gap = 5 * k
    if orientation == "landscape":
        map_w = (width - 2 * margin) * 0.62
        frame = (margin, top, map_w, usable_h)
        side_x, side_w = margin + map_w + gap, width - 2 * margin - map_w - gap
        col_w = (side_w - gap) / 2
        columns = [(side_x + i * (col_w + gap), top, col_w, usable_h) for i in range(2)]
    else:
        map_h = usable_h * 0.6
        frame = (margin, top, width - 2 * margin, map_h)
        col_w = (width - 2 * margin - 2 * gap) / 3
        y = top + map_h + 4 * k
        columns = [(margin + i * (col_w + gap), y, col_w, height - margin - y) for i in range(3)]
    draw_map(pdf, data, frame, k)
    _footer(pdf, data, margin, k)

    def continued() -> float:
        pdf.set_font(FONT, size=11 * k)
        pdf.set_text_color(*INK)
        title = gettext("%(community)s risk map", community=data.community["name"])
        pdf.text(margin, margin + 4 * k, gettext("%(title)s (continued)", title=title))
        pdf.set_draw_color(*LIGHT)
        pdf.set_line_width(0.3 * k)
        pdf.line(margin, margin + 6.5 * k, width - margin, margin + 6.5 * k)
        _footer(pdf, data, margin, k)
        return margin + 9 * k

    flow = Flow(pdf, columns, k, continued)
    _legend(flow, data)
    _qr(flow, data)
    _lists(flow, data)
    return pdf_bytes(pdf)


async def render_async(data: MapData, *, size: PageSize, orientation: Orientation) -> bytes:
    """`render` off the event loop, in the request's language."""
    language = i18n.current_language()

    def run() -> bytes:
        with i18n.language(language):
            return render(data, size=size, orientation=orientation)

    return await asyncio.to_thread(run)
