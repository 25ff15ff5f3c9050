"""Reading an import file: a GeoJSON FeatureCollection of areas, checked to the last feature, and
its datum."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape

from grid_backend.core import geo, policy
from grid_backend.core.errors import DomainError, invalid
from grid_backend.core.types import Datum

KINDS = ("comprehensive", "dedicated")
MAX_IMPORT_FEATURES = 200_000


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
                detail="%(count)s problem(s); nothing was imported",
                params={"count": len(self.items)},
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


def parse_polygon(geometry: Any, datum: Datum, errors: _Errors, where: str) -> Any:
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


def parse_feature_collection(collection: Any, datum: Datum) -> list[AreaInput]:
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
    for i, feature in enumerate(features):  # type: ignore[arg-type]  # a list: raise_if_any above stops otherwise
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


def resolve_datum(collection: Any, datum: Datum | None) -> Datum:
    """The datum of an import: the request's, else the one the file declares (as our export
    does), else WGS-84; a file declaring another datum than the request's is refused, since
    importing it anyway would shift every boundary by hundreds of metres."""
    declared = collection.get("datum") if isinstance(collection, dict) else None
    if declared is not None and declared not in geo.DATUMS:
        raise invalid(
            "datum",
            "the file's datum %(declared)r is not wgs84, gcj02 or bd09",
            code="datum_unknown",
            params={"declared": declared},
        )
    if datum is None:
        return declared or "wgs84"
    if declared is not None and declared != datum:
        raise invalid(
            "datum",
            "the file says its coordinates are %(declared)s, the request says %(datum)s",
            params={"declared": declared, "datum": datum},
        )
    return datum
