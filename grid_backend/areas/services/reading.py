"""Reading the area tree: lists, one area with its boundary, the GeoJSON export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import shapely
from shapely.geometry import mapping

from grid_backend.areas.schemas import (
    AreaBrief,
    AreaDetail,
    AreaPage,
    AreaRead,
)
from grid_backend.areas.tables import Area, AreaBoundary
from grid_backend.core import geo
from grid_backend.core.errors import NotFound
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.types import Datum


def _brief(row: dict[str, Any]) -> AreaBrief:
    return AreaBrief(id=row["id"], code=row["code"], name=row["name"], level=row["level"])


def _bbox(row: dict[str, Any]) -> list[float] | None:
    if row.get("min_lng") is None:
        return None
    return [row["min_lng"], row["min_lat"], row["max_lng"], row["max_lat"]]


_AREA_COLUMNS = (
    Area.id,
    Area.code,
    Area.name,
    Area.level,
    Area.parent,
    Area.path,
    Area.kind,
    Area.households,
    Area.population,
)


async def _current_bboxes(area_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not area_ids:
        return {}
    rows = (
        await AreaBoundary.select(
            AreaBoundary.area,
            AreaBoundary.min_lng,
            AreaBoundary.min_lat,
            AreaBoundary.max_lng,
            AreaBoundary.max_lat,
        )
        .where(AreaBoundary.area.is_in(area_ids) & AreaBoundary.valid_to.is_null())
        .run()
    )
    return {r["area"]: r for r in rows}


def _area_read(row: dict[str, Any], box: dict[str, Any] | None) -> AreaRead:
    return AreaRead(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        level=row["level"],
        parent_id=row["parent"],
        path=row["path"],
        kind=row["kind"],
        households=row["households"],
        population=row["population"],
        bbox=_bbox(box) if box else None,
    )


async def list_areas(
    *, level: str | None, parent_id: int | None, limit: int, cursor: str | None
) -> AreaPage:
    """Areas in id order, optionally one level or one parent's children."""
    query = Area.select(*_AREA_COLUMNS)
    if level is not None:
        query = query.where(Area.level == level)
    if parent_id is not None:
        query = query.where(Area.parent == parent_id)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Area.id > after)
    rows = await query.order_by(Area.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    boxes = await _current_bboxes([r["id"] for r in rows])
    return AreaPage(items=[_area_read(r, boxes.get(r["id"])) for r in rows], next_cursor=cursor_out)


async def area_path_of(area_id: int | None) -> str | None:
    """The path of an area named in a filter (None passes through); 404 if it does not exist."""
    if area_id is None:
        return None
    row = await Area.select(Area.path).where(Area.id == area_id).first().run()
    if row is None:
        raise NotFound("area_not_found")
    return row["path"]


async def _area_row(area_id: int) -> dict[str, Any]:
    row = await Area.select(*_AREA_COLUMNS).where(Area.id == area_id).first().run()
    if row is None:
        raise NotFound("area_not_found")
    return row


def _geometry_out(wkb: bytes, datum: Datum) -> dict[str, Any]:
    geom = shapely.from_wkb(bytes(wkb))
    if datum != "wgs84":
        geom = geo.transform_geometry(geom, "wgs84", datum)
    return mapping(geom)


async def get_area(*, area_id: int, datum: Datum = "wgs84") -> AreaDetail:
    """One area with its current boundary, ancestors and children."""
    row = await _area_row(area_id)
    boundary = (
        await AreaBoundary.select()
        .where((AreaBoundary.area == area_id) & AreaBoundary.valid_to.is_null())
        .first()
        .run()
    )
    ancestor_codes = [c for c in row["path"].split("/") if c and c != row["code"]]
    ancestors = (
        await Area.select(Area.id, Area.code, Area.name, Area.level)
        .where(Area.code.is_in(ancestor_codes))
        .run()
        if ancestor_codes
        else []
    )
    ancestors.sort(key=lambda a: len(a["code"]) and ancestor_codes.index(a["code"]))
    children = (
        await Area.select(Area.id, Area.code, Area.name, Area.level)
        .where(Area.parent == area_id)
        .order_by(Area.code)
        .limit(500)
        .run()
    )
    count = await Area.count().where(Area.parent == area_id).run()
    return AreaDetail(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        level=row["level"],
        parent_id=row["parent"],
        path=row["path"],
        kind=row["kind"],
        households=row["households"],
        population=row["population"],
        bbox=_bbox(boundary) if boundary else None,
        boundary=_geometry_out(boundary["wkb"], datum) if boundary else None,
        boundary_valid_from=boundary["valid_from"] if boundary else None,
        datum=datum,
        ancestors=[_brief(a) for a in ancestors],
        children=[_brief(c) for c in children],
        children_count=count,
    )


async def export_geojson(
    *, area_id: int, levels: Sequence[str] | None = None, datum: Datum = "wgs84"
) -> dict[str, Any]:
    """The area and its subtree as a GeoJSON FeatureCollection, in the import format."""
    root = await _area_row(area_id)
    query = Area.select(*_AREA_COLUMNS, Area.parent.code.as_alias("parent_code")).where(
        Area.path.like(root["path"] + "%")
    )
    if levels:
        query = query.where(Area.level.is_in(list(levels)))
    rows = await query.order_by(Area.path).run()
    bounds = (
        await AreaBoundary.select(AreaBoundary.area, AreaBoundary.wkb)
        .where(AreaBoundary.valid_to.is_null() & AreaBoundary.area.path.like(root["path"] + "%"))
        .run()
    )
    wkb_by_area = {b["area"]: b["wkb"] for b in bounds}
    features = []
    for r in rows:
        wkb = wkb_by_area.get(r["id"])
        features.append(
            {
                "type": "Feature",
                "id": r["code"],
                "geometry": _geometry_out(wkb, datum) if wkb is not None else None,
                "properties": {
                    "code": r["code"],
                    "name": r["name"],
                    "level": r["level"],
                    "parent_code": r["parent_code"],
                    "kind": r["kind"],
                    "households": r["households"],
                    "population": r["population"],
                },
            }
        )
    return {"type": "FeatureCollection", "datum": datum, "features": features}
