"""The map of the printed risk map: the community's and grids' boundaries, risk points (shape
by type, colour by level), shelters and routes, projected from WGS-84 onto a frame of the
page, with a scale bar and a north arrow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shapely
from fpdf import FPDF
from shapely.ops import polylabel

from grid_backend.core.i18n import gettext
from grid_backend.core.pdf import FONT

if TYPE_CHECKING:
    from grid_backend.evacuation.riskmap import MapData

RGB = tuple[int, int, int]
INK: RGB = (33, 43, 54)
GREY: RGB = (110, 120, 132)
LIGHT: RGB = (200, 206, 214)
TINT: RGB = (244, 247, 250)
SHELTER: RGB = (46, 125, 50)
# risk levels in the warning colours residents know (蓝黄橙红)
LEVEL_COLOURS: dict[str, RGB] = {
    "low": (30, 110, 220),
    "medium": (235, 170, 0),
    "high": (240, 110, 0),
    "major": (200, 30, 30),
}
# the marker's shape tells the type, its colour the level
SHAPES = {
    "landslide": "triangle",
    "flood_underpass": "drop",
    "gas_station": "square",
    "hazardous_chemicals": "diamond",
    "construction_site": "pentagon",
    "old_building": "house",
    "other": "circle",
}


@dataclass
class Projection:
    """WGS-84 to the page: a local equirectangular projection (metres), fitted to a frame."""

    lng0: float
    lat0: float
    kx: float  # metres per degree of longitude here
    ky: float
    scale: float  # mm on paper per metre
    cx: float  # the frame's centre on the page
    cy: float

    @classmethod
    def fit(cls, bounds: tuple[float, float, float, float], frame: tuple[float, ...]) -> Projection:
        min_x, min_y, max_x, max_y = bounds
        x, y, w, h = frame
        lng0, lat0 = (min_x + max_x) / 2, (min_y + max_y) / 2
        kx, ky = 111_320.0 * math.cos(math.radians(lat0)), 110_574.0
        width_m = max((max_x - min_x) * kx, 50.0) * 1.12  # a margin round the community
        height_m = max((max_y - min_y) * ky, 50.0) * 1.12
        scale = min(w / width_m, h / height_m)
        return cls(lng0, lat0, kx, ky, scale, x + w / 2, y + h / 2)

    def __call__(self, lng: float, lat: float) -> tuple[float, float]:
        return (
            self.cx + (lng - self.lng0) * self.kx * self.scale,
            self.cy - (lat - self.lat0) * self.ky * self.scale,
        )


def _rings(geometry: Any) -> list[list[tuple[float, float]]]:
    if geometry is None or geometry.is_empty:
        return []
    polygons = getattr(geometry, "geoms", [geometry])
    rings = []
    for polygon in polygons:
        rings.append(list(polygon.exterior.coords))
        rings += [list(r.coords) for r in polygon.interiors]
    return rings


def _nice(length_m: float) -> float:
    """The round length (1, 2 or 5 × 10^n m) at most `length_m`."""
    power = 10 ** math.floor(math.log10(length_m))
    return next(f * power for f in (5, 2, 1) if f * power <= length_m)


def marker(pdf: FPDF, shape: str, x: float, y: float, r: float, colour: RGB) -> None:
    """A filled symbol of radius `r` centred at (x, y), white-edged."""
    pdf.set_fill_color(*colour)
    pdf.set_draw_color(255, 255, 255)
    pdf.set_line_width(r * 0.12)
    if shape == "circle" or shape == "drop":
        if shape == "drop":
            pdf.polygon(
                [(x - r * 0.62, y - r * 0.2), (x, y - r * 1.25), (x + r * 0.62, y - r * 0.2)],
                style="F",
            )
        pdf.circle(
            x,
            y + (r * 0.1 if shape == "drop" else 0),
            r * (0.8 if shape == "drop" else 1),
            style="DF",
        )
        return
    if shape == "square":
        pdf.rect(x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7, style="DF")
        return
    corners: dict[str, list[tuple[float, float]]] = {
        "triangle": [(0, -1.15), (1.05, 0.75), (-1.05, 0.75)],
        "diamond": [(0, -1.2), (1.1, 0), (0, 1.2), (-1.1, 0)],
        "pentagon": [
            (math.cos(math.radians(a - 90)), math.sin(math.radians(a - 90)))
            for a in range(0, 360, 72)
        ],
        "house": [(0, -1.15), (1.0, -0.2), (1.0, 0.95), (-1.0, 0.95), (-1.0, -0.2)],
    }
    pdf.polygon([(x + dx * r, y + dy * r) for dx, dy in corners[shape]], style="DF")


def centred(pdf: FPDF, text: str, x: float, y: float, size: float, colour: RGB) -> None:
    pdf.set_font(FONT, size=size)
    pdf.set_text_color(*colour)
    pdf.text(x - pdf.get_string_width(text) / 2, y + size * 0.3528 * 0.35, text)


def draw_map(pdf: FPDF, data: MapData, frame: tuple[float, float, float, float], k: float) -> None:
    x, y, w, h = frame
    pdf.set_draw_color(*LIGHT)
    pdf.set_line_width(0.3)
    pdf.rect(x, y, w, h)
    shapes = [g.geometry for g in data.grids if g.geometry is not None]
    if data.outline is not None:
        shapes.append(data.outline)
    coords = [c for s in shapes for ring in _rings(s) for c in ring]
    coords += [(p["lng"], p["lat"]) for p in data.risk_points]
    coords += [(s["lng"], s["lat"]) for s in data.shelters]
    coords += [c for r in data.routes for c in r["line"]]
    if not coords:
        centred(pdf, gettext("No boundary recorded"), x + w / 2, y + h / 2, 10 * k, GREY)
        return
    xs, ys = [c[0] for c in coords], [c[1] for c in coords]
    project = Projection.fit((min(xs), min(ys), max(xs), max(ys)), frame)
    with pdf.rect_clip(x, y, w, h):
        _draw_areas(pdf, data, project, k)
        _draw_routes(pdf, data, project, k)
        for n, p in enumerate(data.risk_points, start=1):
            px, py = project(p["lng"], p["lat"])
            colour = LEVEL_COLOURS.get(p["risk_level"], GREY)
            marker(pdf, SHAPES.get(p["type"], "circle"), px, py, 2.4 * k, colour)
            centred(pdf, str(n), px, py + 0.25 * k, (5.2 if n < 100 else 4.2) * k, (255, 255, 255))
        for n, s in enumerate(data.shelters):
            sx, sy = project(s["lng"], s["lat"])
            pdf.set_fill_color(*SHELTER)
            pdf.set_draw_color(255, 255, 255)
            pdf.set_line_width(0.35 * k)
            r = 2.6 * k
            pdf.rect(
                sx - r, sy - r, 2 * r, 2 * r, style="DF", round_corners=True, corner_radius=0.6 * k
            )
            centred(pdf, shelter_label(n), sx, sy, 7 * k, (255, 255, 255))
        _grid_names(pdf, data, project, k)
    _north_arrow(pdf, x + w - 9 * k, y + 6 * k, k)
    _scale_bar(pdf, project, x + 5 * k, y + h - 6 * k, w * 0.25, k)


def shelter_label(n: int) -> str:
    """A, B, … Z, AA, AB…: the letter of the n-th shelter on the map and in its list."""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _draw_areas(pdf: FPDF, data: MapData, project: Projection, k: float) -> None:
    if data.outline is not None:
        pdf.set_fill_color(*TINT)
        for ring in _rings(data.outline)[:1] + _rings(data.outline)[1:]:
            pdf.polygon([project(*c) for c in ring], style="F")
    pdf.set_draw_color(*GREY)
    pdf.set_line_width(0.25 * k)
    pdf.set_dash_pattern(dash=1.2 * k, gap=0.8 * k)
    for line in _grid_lines(data):
        pdf.polyline([project(*c) for c in line.coords])
    pdf.set_dash_pattern()
    if data.outline is not None:
        pdf.set_draw_color(*INK)
        pdf.set_line_width(0.8 * k)
        for ring in _rings(data.outline):
            pdf.polygon([project(*c) for c in ring], style="D")


def _grid_names(pdf: FPDF, data: MapData, project: Projection, k: float) -> None:
    """Each grid's name inside it, over the symbols on a translucent white ground."""
    size = 7.5 * k
    pdf.set_font(FONT, size=size)
    for grid in data.grids:
        if grid.geometry is None or grid.geometry.is_empty:
            continue
        spot = _label_spot(grid.geometry)
        gx, gy = project(spot.x, spot.y)
        width, height = pdf.get_string_width(grid.name) + 2 * k, size * 0.3528 * 1.3
        with pdf.local_context(fill_opacity=0.75):
            pdf.set_fill_color(255, 255, 255)
            pdf.rect(gx - width / 2, gy - height / 2, width, height, style="F")
        centred(pdf, grid.name, gx, gy, size, INK)


def _grid_lines(data: MapData) -> list[Any]:
    """The grids' edges, each drawn once (two neighbours share theirs), without the parts on
    the community's own boundary."""
    edges = [g.geometry.boundary for g in data.grids if g.geometry is not None]
    if not edges:
        return []
    lines = shapely.line_merge(shapely.union_all(edges))
    if data.outline is not None:
        lines = lines.difference(data.outline.boundary.buffer(1e-7))
    return [g for g in getattr(lines, "geoms", [lines]) if g.geom_type == "LineString"]


def _label_spot(geometry: Any) -> Any:
    """Where a grid's name goes: the point deepest inside its largest part."""
    part = max(getattr(geometry, "geoms", [geometry]), key=lambda g: g.area)
    return polylabel(part, tolerance=max(part.length / 500, 1e-7))


def _draw_routes(pdf: FPDF, data: MapData, project: Projection, k: float) -> None:
    pdf.set_draw_color(*SHELTER)
    pdf.set_fill_color(*SHELTER)
    pdf.set_line_width(0.7 * k)
    for route in data.routes:
        line = [project(*c) for c in route["line"]]
        pdf.set_dash_pattern(dash=2 * k, gap=1 * k)
        pdf.polyline(line)
        pdf.set_dash_pattern()
        (ax, ay), (bx, by) = line[-2], line[-1]
        angle = math.atan2(by - ay, bx - ax)
        size = 2.2 * k
        tip = [
            (bx, by),
            (bx - size * math.cos(angle - 0.45), by - size * math.sin(angle - 0.45)),
            (bx - size * math.cos(angle + 0.45), by - size * math.sin(angle + 0.45)),
        ]
        pdf.polygon(tip, style="F")


def _north_arrow(pdf: FPDF, x: float, y: float, k: float) -> None:
    pdf.set_fill_color(*INK)
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.2 * k)
    s = 3.2 * k
    pdf.polygon([(x, y), (x + s * 0.55, y + s * 2), (x, y + s * 1.5)], style="DF")
    pdf.set_fill_color(255, 255, 255)
    pdf.polygon([(x, y), (x - s * 0.55, y + s * 2), (x, y + s * 1.5)], style="DF")
    centred(pdf, gettext("N"), x, y + s * 2 + 2.4 * k, 8 * k, INK)


def _scale_bar(pdf: FPDF, project: Projection, x: float, y: float, room: float, k: float) -> None:
    metres = _nice(room / project.scale)
    length = metres * project.scale
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x - 1.5 * k, y - 5.5 * k, length + 3 * k + 14 * k, 8 * k, style="F")
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.2 * k)
    half = length / 2
    pdf.set_fill_color(*INK)
    pdf.rect(x, y, half, 1.2 * k, style="DF")
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x + half, y, half, 1.2 * k, style="DF")
    text = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    pdf.set_font(FONT, size=7 * k)
    pdf.set_text_color(*INK)
    pdf.text(x, y - 1.2 * k, "0")
    pdf.text(x + length - pdf.get_string_width(text) / 2, y - 1.2 * k, text)
