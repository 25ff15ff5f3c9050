"""Places a caller names on the phone (the hotline form): communities, grids and micro-grids
found by name inside the areas an officer covers, each with a point inside it, so that a case
filed "at" a place is routed like one filed at a position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from grid_backend.areas.locate import AreaNode, GridIndex, grid_index
from grid_backend.core.db import fetch
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.sql import all_of, ilike, in_, q, under

PLACE_LEVELS = ("community", "grid", "micro_grid")


@dataclass(frozen=True, slots=True)
class Place:
    id: int
    code: str
    name: str
    level: str
    path: str
    parent_name: str
    lng: float | None  # WGS-84, a point inside the place (None: no boundary to route into)
    lat: float | None


def _geometry(index: GridIndex, node: AreaNode) -> Any:
    """The boundary a point of this place is taken from: its own (a grid, a micro-grid), or a
    community's first grid (by code)."""
    if node.level == "grid":
        hits = np.nonzero(index.grid_ids == node.id)[0]
        return index.geoms[int(hits[0])] if hits.size else None
    if node.level == "micro_grid":
        children = index.micro.get(node.parent_id or 0, [])
        return next((geom for child, geom in children if child == node.id), None)
    inside = [i for i, g in enumerate(index.grid_nodes) if g.path.startswith(node.path)]
    return index.geoms[min(inside, key=lambda i: index.grid_nodes[i].code)] if inside else None


def _point(index: GridIndex, area_id: int) -> tuple[float | None, float | None]:
    node = index.nodes.get(area_id)
    geometry = _geometry(index, node) if node is not None else None
    if geometry is None:
        return None, None
    inside = shapely.point_on_surface(geometry)
    return float(inside.x), float(inside.y)


async def _places(rows: list[dict[str, Any]]) -> list[Place]:
    index = grid_index.fresh() or await grid_index.get()
    places = []
    for r in rows:
        lng, lat = _point(index, r["id"])
        places.append(
            Place(
                id=r["id"],
                code=r["code"],
                name=r["name"],
                level=r["level"],
                path=r["path"],
                parent_name=r["parent_name"] or "",
                lng=lng,
                lat=lat,
            )
        )
    return places


_COLUMNS = (
    "SELECT a.id, a.code, a.name, a.level, a.path, p.name AS parent_name"
    " FROM area a LEFT JOIN area p ON p.id = a.parent WHERE {}"
)


async def search_places(
    *, scopes: list[str], text: str, limit: int, cursor: str | None
) -> tuple[list[Place], str | None]:
    """Communities, grids and micro-grids under the scopes whose name holds the text, a page
    at a time (by id)."""
    after = decode_cursor(cursor)
    words = text.strip().replace("%", "").replace("_", "")
    rows = await fetch(
        q(
            _COLUMNS + " ORDER BY a.id LIMIT {}",
            all_of(
                in_("a.level", PLACE_LEVELS),
                under("a.path", scopes),
                ilike("a.name", f"%{words}%") if words else None,
                q("a.id > {}", after) if after is not None else None,
            ),
            limit + 1,
        )
    )
    following = next_cursor(rows, limit)
    return await _places(rows), following


async def place_of(*, area_id: int, scopes: list[str]) -> Place | None:
    """One community, grid or micro-grid under the scopes, else None."""
    rows = await fetch(
        q(
            _COLUMNS,
            all_of(q("a.id = {}", area_id), in_("a.level", PLACE_LEVELS), under("a.path", scopes)),
        )
    )
    return (await _places(rows))[0] if rows else None


async def match_address(*, address: str, scopes: list[str]) -> Place | None:
    """The place an address names: of the communities, grids and micro-grids under the scopes
    whose name the address contains, the most specific (the deepest, then the longest name);
    None when it names none of them."""
    rows = await fetch(
        q(
            _COLUMNS,
            all_of(
                in_("a.level", PLACE_LEVELS),
                under("a.path", scopes),
                q("length(a.name) >= 2 AND {} LIKE '%' || a.name || '%'", address),
            ),
        )
    )
    if not rows:
        return None
    best = max(rows, key=lambda r: (PLACE_LEVELS.index(r["level"]), len(r["name"]), -r["id"]))
    return (await _places([best]))[0]
