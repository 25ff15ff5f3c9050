"""The area tree: reading, GeoJSON import and export, locate, duty coverage."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import mapping, shape

from grid_backend.areas.locate import grid_index, roster_scope
from grid_backend.areas.schemas import (
    AreaBrief,
    AreaDetail,
    AreaPage,
    AreaRead,
    CoverageGrid,
    CoverageRead,
    ImportResult,
    LocateRead,
    Position,
    TeamMember,
)
from grid_backend.areas.tables import Area, AreaBoundary
from grid_backend.core import audit, clock, geo, policy
from grid_backend.core.db import fetch, is_postgres, write_transaction
from grid_backend.core.errors import DomainError, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, encode_cursor, next_cursor
from grid_backend.core.revisions import RevisionCache
from grid_backend.people.phones import mask_phone
from grid_backend.settings import get_settings

KINDS = ("comprehensive", "dedicated")
MAX_IMPORT_FEATURES = 200_000
_BATCH = 500


@dataclass(frozen=True, slots=True)
class AreaInput:
    """One area to create or update; geometry already in WGS-84."""

    code: str
    name: str
    level: str
    parent_code: str | None
    geometry: Any
    households: int | None = None
    population: int | None = None
    kind: str = "comprehensive"


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


def _geometry_out(wkb: bytes, datum: str) -> dict[str, Any]:
    geom = shapely.from_wkb(bytes(wkb))
    if datum != "wgs84":
        geom = geo.transform_geometry(geom, "wgs84", datum)
    return mapping(geom)


async def get_area(*, area_id: int, datum: str = "wgs84") -> AreaDetail:
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
    *, area_id: int, levels: Sequence[str] | None = None, datum: str = "wgs84"
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


# --- import ------------------------------------------------------------------------------


class _Errors:
    """Collects every problem of an import so the admin can fix the file in one go."""

    LIMIT = 50

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, message: str, code: str = "invalid") -> None:
        if len(self.items) < self.LIMIT:
            self.items.append({"field": field, "code": code, "message": message})

    def raise_if_any(self, default_code: str = "geojson_invalid") -> None:
        """Raise with the first specific code found (e.g. geometry_invalid), else the default."""
        if self.items:
            specific = [e["code"] for e in self.items if e["code"] != "invalid"]
            raise DomainError(
                specific[0] if specific else default_code,
                status=422,
                detail=f"{len(self.items)} problem(s); nothing was imported",
                detail_zh=f"发现 {len(self.items)} 处问题，未导入任何数据",
                errors=self.items,
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)  # JSON true is not 1


def _check_coords(coords: Any, errors: _Errors, where: str) -> bool:
    """Coordinates must be finite numbers within longitude/latitude range."""
    stack = [coords]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple) and item and _is_number(item[0]):
            if len(item) < 2 or not all(_is_number(v) and math.isfinite(v) for v in item[:2]):
                errors.add(where, "a position is [lng, lat] numbers", "coordinates_out_of_range")
                return False
            lng, lat = item[0], item[1]
            if not (-180 <= lng <= 180 and -90 <= lat <= 90):
                errors.add(
                    where,
                    f"[{lng}, {lat}] is outside longitude/latitude range",
                    "coordinates_out_of_range",
                )
                return False
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            errors.add(where, "coordinates must be nested arrays of numbers", "geojson_invalid")
            return False
    return True


def parse_polygon(geometry: Any, datum: str, errors: _Errors, where: str) -> Any:
    """A valid, non-empty (Multi)Polygon in WGS-84, or None with the problem recorded."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        errors.add(where, "geometry must be a Polygon or MultiPolygon", "geometry_invalid")
        return None
    if not _check_coords(geometry.get("coordinates"), errors, where):
        return None
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, ShapelyError) as exc:
        errors.add(where, f"not a readable polygon: {exc}", "geometry_invalid")
        return None
    if geom.is_empty or geom.area == 0:
        errors.add(where, "the polygon is empty", "geometry_invalid")
        return None
    if not geom.is_valid:
        errors.add(
            where, f"the polygon is not valid: {shapely.is_valid_reason(geom)}", "geometry_invalid"
        )
        return None
    return geo.transform_geometry(geom, datum, "wgs84") if datum != "wgs84" else geom


def _int_or_none(value: Any, errors: _Errors, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.add(where, "must be a whole number ≥ 0")
        return None
    return value


def parse_feature_collection(collection: Any, datum: str) -> list[AreaInput]:
    """Validate a whole GeoJSON FeatureCollection of areas; raise listing every problem."""
    errors = _Errors()
    if datum not in geo.DATUMS:
        errors.add("datum", "datum is wgs84, gcj02 or bd09", "datum_unknown")
        errors.raise_if_any()
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        errors.add("type", "expected a GeoJSON FeatureCollection", "geojson_invalid")
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(features, list) or not features:
        errors.add("features", "expected a non-empty list of features", "geojson_invalid")
    elif len(features) > MAX_IMPORT_FEATURES:
        errors.add(
            "features", f"at most {MAX_IMPORT_FEATURES} features per import", "geojson_invalid"
        )
    errors.raise_if_any()
    items: list[AreaInput] = []
    seen: set[str] = set()
    for i, feature in enumerate(features):  # type: ignore[arg-type]
        at = f"features[{i}]"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            errors.add(at, "expected a GeoJSON Feature", "geojson_invalid")
            continue
        props = feature.get("properties")
        if not isinstance(props, dict):
            errors.add(f"{at}.properties", "expected an object", "geojson_invalid")
            continue
        code = props.get("code", props.get("adcode"))
        if not isinstance(code, str) or not code.isdigit() or not 6 <= len(code) <= 20:
            errors.add(f"{at}.properties.code", "code is 6–20 digits")
            continue
        if code in seen:
            errors.add(f"{at}.properties.code", f"code {code} appears twice")
            continue
        seen.add(code)
        name = props.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            errors.add(f"{at}.properties.name", "name is 1–100 characters")
        level = props.get("level")
        if level not in policy.LEVELS:
            errors.add(f"{at}.properties.level", f"level is one of {', '.join(policy.LEVELS)}")
        kind = props.get("kind") or "comprehensive"
        if kind not in KINDS:
            errors.add(f"{at}.properties.kind", "kind is comprehensive or dedicated")
        parent = props.get("parent_code")
        if parent is not None and not isinstance(parent, str):
            errors.add(f"{at}.properties.parent_code", "parent_code is a string")
        households = _int_or_none(props.get("households"), errors, f"{at}.properties.households")
        population = _int_or_none(props.get("population"), errors, f"{at}.properties.population")
        geom = parse_polygon(feature.get("geometry"), datum, errors, f"{at}.geometry")
        if geom is None or not isinstance(name, str) or level not in policy.LEVELS:
            continue
        items.append(
            AreaInput(code, name.strip(), level, parent, geom, households, population, kind)
        )
    errors.raise_if_any()
    return items


async def _check_tree(items: list[AreaInput]) -> dict[str, dict[str, Any]]:
    """Parents exist and sit one level up, no cycles, nothing moves; returns existing rows."""
    errors = _Errors()
    by_code = {a.code: a for a in items}
    codes = list(by_code)
    wanted = set(codes) | {a.parent_code for a in items if a.parent_code}
    existing: dict[str, dict[str, Any]] = {}
    wanted_list = list(wanted)
    for start in range(0, len(wanted_list), 1000):
        chunk = wanted_list[start : start + 1000]
        for r in (
            await Area.select(
                Area.id, Area.code, Area.level, Area.path, Area.parent.code.as_alias("parent_code")
            )
            .where(Area.code.is_in(chunk))
            .run()
        ):
            existing[r["code"]] = r
    city = [c for c, r in existing.items() if r["level"] == "city"]
    if not city:
        # a district without parent_code goes under the stored city, which must then be known
        # as a parent like any other
        for r in (
            await Area.select(
                Area.id, Area.code, Area.level, Area.path, Area.parent.code.as_alias("parent_code")
            )
            .where(Area.level == "city")
            .run()
        ):
            existing[r["code"]] = r
            city.append(r["code"])
    file_city = [a.code for a in items if a.level == "city"]
    for i, a in enumerate(items):
        at = f"features[{i}].properties"
        parent_code = a.parent_code
        if a.level == "city":
            if parent_code:
                errors.add(f"{at}.parent_code", "the city has no parent", "area_tree_invalid")
            if (city and city[0] != a.code) or len(file_city) > 1:
                errors.add(f"{at}.code", "there is one city in the tree", "area_tree_invalid")
        elif parent_code is None:
            if a.level == "district" and (file_city or city):
                parent_code = (file_city or city)[0]
                items[i] = AreaInput(
                    a.code,
                    a.name,
                    a.level,
                    parent_code,
                    a.geometry,
                    a.households,
                    a.population,
                    a.kind,
                )
            else:
                errors.add(
                    f"{at}.parent_code",
                    "parent_code is required below district level",
                    "area_tree_invalid",
                )
                continue
        if parent_code:
            # a cycle shows as a chain inside the file that comes back to this code
            seen, walk = {a.code}, parent_code
            while walk in by_code and by_code[walk].parent_code:
                if walk in seen:
                    errors.add(
                        f"{at}.parent_code",
                        f"parent chain of {a.code} forms a cycle",
                        "area_tree_invalid",
                    )
                    break
                seen.add(walk)
                walk = by_code[walk].parent_code  # type: ignore[assignment]
            parent_level = (
                by_code[parent_code].level
                if parent_code in by_code
                else (existing[parent_code]["level"] if parent_code in existing else None)
            )
            if parent_level is None:
                errors.add(
                    f"{at}.parent_code", f"unknown parent area {parent_code}", "area_code_unknown"
                )
            elif policy.PARENT_LEVEL.get(a.level) != parent_level:
                errors.add(
                    f"{at}.parent_code",
                    f"a {a.level} belongs under a {policy.PARENT_LEVEL.get(a.level)}, "
                    f"not a {parent_level}",
                    "area_tree_invalid",
                )
        old = existing.get(a.code)
        if old is not None and (
            old["level"] != a.level or old["parent_code"] != items[i].parent_code
        ):
            moved = "level" if old["level"] != a.level else "parent_code"
            errors.add(
                f"{at}.{moved}",
                f"{a.code} exists as a {old['level']} under {old['parent_code']}; "
                "moving areas is not supported",
                "area_tree_invalid",
            )
    errors.raise_if_any("area_tree_invalid")
    return existing


async def apply_areas(
    items: list[AreaInput], *, source_datum: str, actor_id: int | None, progress: Any = None
) -> ImportResult:
    """Validate the tree and write every area and boundary in one transaction."""
    existing = await _check_tree(items)
    now = clock.now()
    ordered = sorted(items, key=lambda a: policy.LEVELS.index(a.level))
    created = updated = changed = 0
    async with write_transaction():
        paths = {c: r["path"] for c, r in existing.items()}
        ids = {c: r["id"] for c, r in existing.items()}
        # parents outside this file but already stored
        missing = {a.parent_code for a in ordered if a.parent_code and a.parent_code not in paths}
        for r in (
            await Area.select(Area.id, Area.code, Area.path)
            .where(Area.code.is_in(list(missing)))
            .run()
            if missing
            else []
        ):
            paths[r["code"]], ids[r["code"]] = r["path"], r["id"]
        fresh = [a for a in ordered if a.code not in existing]
        for level in policy.LEVELS:
            batch = [a for a in fresh if a.level == level]
            for start in range(0, len(batch), _BATCH):
                chunk = batch[start : start + _BATCH]
                rows = [
                    Area(
                        code=a.code,
                        name=a.name,
                        level=a.level,
                        parent=ids[a.parent_code] if a.parent_code else None,
                        path=(paths[a.parent_code] if a.parent_code else "") + a.code + "/",
                        kind=a.kind,
                        households=a.households,
                        population=a.population,
                        created_at=now,
                        updated_at=now,
                    )
                    for a in chunk
                ]
                for a, row in zip(chunk, rows, strict=True):
                    paths[a.code] = row.path
                inserted = await Area.insert(*rows).returning(Area.id, Area.code).run()
                for r in inserted:
                    ids[r["code"]] = r["id"]
                created += len(chunk)
                if progress:
                    progress(len(chunk))
        boundaries = []
        for a in ordered:
            if a.code in existing:
                updated += 1
                await (
                    Area.update(
                        {
                            Area.name: a.name,
                            Area.kind: a.kind,
                            Area.households: a.households,
                            Area.population: a.population,
                            Area.updated_at: now,
                        }
                    )
                    .where(Area.id == ids[a.code])
                    .run()
                )
                if await _boundary_unchanged(ids[a.code], a.geometry):
                    continue
                await (
                    AreaBoundary.update({AreaBoundary.valid_to: now})
                    .where((AreaBoundary.area == ids[a.code]) & AreaBoundary.valid_to.is_null())
                    .run()
                )
                changed += 1
            min_lng, min_lat, max_lng, max_lat = a.geometry.bounds
            boundaries.append(
                AreaBoundary(
                    area=ids[a.code],
                    wkb=shapely.to_wkb(a.geometry),
                    min_lng=min_lng,
                    min_lat=min_lat,
                    max_lng=max_lng,
                    max_lat=max_lat,
                    source_datum=source_datum,
                    valid_from=now,
                )
            )
        for start in range(0, len(boundaries), _BATCH):
            await AreaBoundary.insert(*boundaries[start : start + _BATCH]).run()
        await audit.record(
            actor_id=actor_id,
            action="areas.import",
            object_type="area",
            detail={
                "created": created,
                "updated": updated,
                "boundaries_changed": changed,
                "datum": source_datum,
                "count": len(items),
            },
        )
        await audit.bump_revision("boundaries")
    grid_index.invalidate()
    return ImportResult(
        created=created,
        updated=updated,
        boundaries_changed=changed,
        codes=[a.code for a in items[:1000]],
    )


async def _boundary_unchanged(area_id: int, geometry: Any) -> bool:
    row = (
        await AreaBoundary.select(AreaBoundary.wkb)
        .where((AreaBoundary.area == area_id) & AreaBoundary.valid_to.is_null())
        .first()
        .run()
    )
    return row is not None and shapely.from_wkb(bytes(row["wkb"])).equals_exact(geometry, 1e-9)


def resolve_datum(collection: Any, datum: str | None) -> str:
    """The datum of an import: the request's, else the one the file declares (as our export
    does), else WGS-84; a file declaring another datum than the request's is refused, since
    importing it anyway would shift every boundary by hundreds of metres."""
    declared = collection.get("datum") if isinstance(collection, dict) else None
    if declared is not None and declared not in geo.DATUMS:
        raise invalid(
            "datum",
            f"the file's datum {declared!r} is not wgs84, gcj02 or bd09",
            code="datum_unknown",
            detail_zh="文件声明的坐标系须为 wgs84、gcj02 或 bd09",
        )
    if datum is None:
        return declared or "wgs84"
    if declared is not None and declared != datum:
        raise invalid(
            "datum",
            f"the file says its coordinates are {declared}, the request says {datum}",
            detail_zh=f"文件声明坐标系为 {declared}，与请求的 {datum} 不一致",
        )
    return datum


async def import_geojson(
    *, collection: Any, datum: str | None, actor_id: int | None
) -> ImportResult:
    """Import areas from a GeoJSON FeatureCollection: all of it or nothing."""
    datum = resolve_datum(collection, datum)
    items = parse_feature_collection(collection, datum)
    return await apply_areas(items, source_datum=datum, actor_id=actor_id)


# --- locate ------------------------------------------------------------------------------

_DUTY_ORDER = {d: i for i, d in enumerate(policy.DUTIES)}


def to_wgs84(lat: float, lng: float, datum: str) -> tuple[float, float]:
    """(lng, lat) in WGS-84; raises a 422 for a bad datum or out-of-range numbers."""
    if datum not in geo.DATUMS:
        raise invalid(
            "datum",
            "datum is wgs84, gcj02 or bd09",
            code="datum_unknown",
            detail_zh="坐标系须为 wgs84、gcj02 或 bd09",
        )
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise invalid(
            "lat",
            "lat is between -90 and 90",
            code="coordinates_out_of_range",
            detail_zh="纬度须在 -90 到 90 之间",
        )
    if not (math.isfinite(lng) and -180 <= lng <= 180):
        raise invalid(
            "lng",
            "lng is between -180 and 180",
            code="coordinates_out_of_range",
            detail_zh="经度须在 -180 到 180 之间",
        )
    return geo.convert(lng, lat, datum, "wgs84")


async def locate_point(*, lat: float, lng: float, datum: str = "wgs84") -> Any:
    """The grid (and micro-grid) at a point, or the nearest within the tolerance; else 404."""
    wlng, wlat = to_wgs84(lat, lng, datum)
    index = grid_index.fresh() or await grid_index.get()
    tolerance = get_settings().locate_tolerance_m
    match = index.find(wlng, wlat, tolerance)
    if match is None:
        raise NotFound(
            "outside_all_grids",
            detail=f"no grid within {tolerance:g} m of this position",
            detail_zh=f"该位置 {tolerance:g} 米内没有网格",
        )
    return index, match, wlng, wlat


def _node_brief(node: Any) -> AreaBrief:
    return AreaBrief(id=node.id, code=node.code, name=node.name, level=node.level)


_rosters = RevisionCache("assignments", max_entries=2_000)


_ROSTER_SQL = (
    "SELECT a.account, c.name, c.phone, a.duty, a.area, a.employment"
    " FROM assignment a JOIN account c ON c.id = a.account"
    " WHERE {where} AND a.valid_from <= {} AND (a.valid_to IS NULL OR a.valid_to >= {})"
)


async def _roster(scope: str, members: list[int], day: Any) -> dict[int, list[dict[str, Any]]]:
    """Everyone on duty today in a township's grids and micro-grids, by the area they hold."""
    hit, roster = await _rosters.lookup(scope, day)
    if hit:
        return roster
    # hand-written: building the joined Piccolo select costs more than running it; ids rather
    # than a path prefix, so PostgreSQL can reuse one plan for every township
    if is_postgres():
        where, args = "a.area = ANY({})", [list(members)]
    else:
        where, args = f"a.area IN ({', '.join('{}' for _ in members)})", list(members)
    # placeholders only: every value travels as a query argument
    sql = _ROSTER_SQL.replace("{where}", where)
    rows = await fetch(sql, *args, day, day) if members else []
    roster: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        roster.setdefault(row["area"], []).append(row)
    _rosters.store(scope, roster)
    return roster


def team_members(rows: list[dict[str, Any]], *, show: bool) -> list[TeamMember]:
    """The team on duty as shown to a caller: phones masked unless `show`."""
    return [
        TeamMember(
            account_id=r["account"],
            name=r["name"],
            duty=r["duty"],
            area_id=r["area"],
            phone=r["phone"] if show else mask_phone(r["phone"]),
            employment=r["employment"],
        )
        for r in rows
    ]


async def team_on_duty(
    area_ids: Iterable[int], *, scope: str, members: list[int]
) -> list[dict[str, Any]]:
    """Current assignments held in these areas (among a township's `members`), with names
    and phones, in duty order; cached until an assignment changes anywhere, or the day turns."""
    roster = await _roster(scope, members, clock.today())
    rows = [row for area_id in area_ids for row in roster.get(area_id, ())]
    rows.sort(key=lambda r: (_DUTY_ORDER.get(r["duty"], 99), r["name"], r["account"]))
    return rows


async def locate(*, lat: float, lng: float, datum: str, grants: list[policy.Grant]) -> LocateRead:
    """Which grid is this point in, its ancestors, and who is on duty there today."""
    index, match, wlng, wlat = await locate_point(lat=lat, lng=lng, datum=datum)
    areas = [match.grid.id] + ([match.micro_grid.id] if match.micro_grid else [])
    scope = roster_scope(match.grid.path)
    rows = await team_on_duty(areas, scope=scope, members=index.members.get(scope, areas))
    show = policy.allows(grants, "contact.read", match.grid.path)
    team = team_members(rows, show=show)
    return LocateRead(
        grid=_node_brief(match.grid),
        micro_grid=_node_brief(match.micro_grid) if match.micro_grid else None,
        ancestors=[_node_brief(n) for n in index.ancestors(match.grid)],
        outside_grid=match.outside,
        distance_m=round(match.distance_m, 1),
        position=Position(lat=round(wlat, 7), lng=round(wlng, 7), datum="wgs84"),
        team=team,
        phones_masked=not show,
    )


# --- coverage ----------------------------------------------------------------------------

COVERED_DUTIES = ("grid_leader", "grid_worker", "emergency_officer")


async def coverage(
    *, area_id: int, grants: list[policy.Grant], limit: int, cursor: str | None
) -> CoverageRead:
    """Grids below an area lacking a leader, a worker or an emergency officer today."""
    from grid_backend.people.tables import Assignment

    area = await _area_row(area_id)
    policy.require(grants, "area.coverage", area["path"])
    day = clock.today()
    grids = (
        await Area.select(Area.id, Area.code, Area.name)
        .where((Area.level == "grid") & Area.path.like(area["path"] + "%"))
        .order_by(Area.id)
        .run()
    )
    held = (
        await Assignment.select(Assignment.area, Assignment.duty)
        .where(
            Assignment.area_path.like(area["path"] + "%")
            & Assignment.duty.is_in(list(COVERED_DUTIES))
            & (Assignment.area.level == "grid")
            & (Assignment.valid_from <= day)
            & (Assignment.valid_to.is_null() | (Assignment.valid_to >= day))
        )
        .run()
    )
    duties: dict[int, set[str]] = {}
    for h in held:
        duties.setdefault(h["area"], set()).add(h["duty"])
    lacking = {d: 0 for d in COVERED_DUTIES}
    gaps = []
    for g in grids:
        missing = [d for d in COVERED_DUTIES if d not in duties.get(g["id"], ())]
        for d in missing:
            lacking[d] += 1
        if missing:
            gaps.append(CoverageGrid(id=g["id"], code=g["code"], name=g["name"], missing=missing))
    after = decode_cursor(cursor)
    page = [g for g in gaps if after is None or g.id > after][: limit + 1]
    more = len(page) > limit
    page = page[:limit]
    return CoverageRead(
        area=_brief(area),
        date=day.isoformat(),
        grids=len(grids),
        lacking_grid_leader=lacking["grid_leader"],
        lacking_grid_worker=lacking["grid_worker"],
        lacking_emergency_officer=lacking["emergency_officer"],
        fully_covered=len(grids) - len(gaps),
        items=page,
        next_cursor=encode_cursor(page[-1].id) if more else None,
    )
