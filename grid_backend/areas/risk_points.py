"""Risk points: registered places that need watching, each in one grid."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from grid_backend.areas.schemas import (
    AreaBrief,
    Contact,
    ImportResult,
    RiskPointCreate,
    RiskPointPage,
    RiskPointRead,
    RiskPointUpdate,
)
from grid_backend.areas.services import _Errors, locate_point
from grid_backend.areas.tables import RiskPoint
from grid_backend.core import audit, clock, geojson, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import Conflict, DomainError, Forbidden, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor

_COLUMNS = (
    RiskPoint.id,
    RiskPoint.code,
    RiskPoint.name,
    RiskPoint.type,
    RiskPoint.risk_level,
    RiskPoint.lat,
    RiskPoint.lng,
    RiskPoint.grid,
    RiskPoint.grid.code.as_alias("grid_code"),
    RiskPoint.grid.name.as_alias("grid_name"),
    RiskPoint.area_path,
    RiskPoint.threatened_households,
    RiskPoint.contacts,
    RiskPoint.note,
    RiskPoint.is_active,
    RiskPoint.created_at,
    RiskPoint.updated_at,
)


def _read(r: dict[str, Any]) -> RiskPointRead:
    return RiskPointRead(
        id=r["id"],
        code=r["code"],
        name=r["name"],
        type=r["type"],
        risk_level=r["risk_level"],
        lat=r["lat"],
        lng=r["lng"],
        grid=AreaBrief(id=r["grid"], code=r["grid_code"], name=r["grid_name"], level="grid"),
        threatened_households=r["threatened_households"],
        contacts=r["contacts"] or [],
        note=r["note"],
        is_active=r["is_active"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


async def _row(point_id: int) -> dict[str, Any]:
    row = (
        await RiskPoint.select(*_COLUMNS)
        .where(RiskPoint.id == point_id)
        .output(load_json=True)
        .first()
        .run()
    )
    if row is None:
        raise NotFound("risk_point_not_found")
    return row


async def list_risk_points(
    *,
    grants: list[policy.Grant],
    area_path: str | None,
    type: str | None,
    include_inactive: bool,
    limit: int,
    cursor: str | None,
) -> RiskPointPage:
    """Risk points inside the caller's areas."""
    paths = policy.scopes(grants, "risk_point.read")
    if not paths:
        raise Forbidden()
    query = (
        RiskPoint.select(*_COLUMNS).where(under(RiskPoint.area_path, paths)).output(load_json=True)
    )
    if area_path is not None:
        query = query.where(RiskPoint.area_path.like(area_path + "%"))
    if type is not None:
        query = query.where(RiskPoint.type == type)
    if not include_inactive:
        query = query.where(RiskPoint.is_active.eq(True))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(RiskPoint.id > after)
    rows = await query.order_by(RiskPoint.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    return RiskPointPage(items=[_read(r) for r in rows], next_cursor=cursor_out)


async def export_risk_points(
    *,
    grants: list[policy.Grant],
    account_id: int,
    area_path: str | None,
    type: str | None,
    include_inactive: bool,
) -> tuple[int, AsyncIterator[list[geojson.Feature]]]:
    """The risk points the list shows, as GeoJSON points a batch at a time, and their count;
    audited. The contacts' phones stay out: a map file travels."""
    paths = policy.scopes(grants, "risk_point.read")
    if not paths:
        raise Forbidden()
    where = under(RiskPoint.area_path, paths)
    if area_path is not None:
        where &= RiskPoint.area_path.like(area_path + "%")
    if type is not None:
        where &= RiskPoint.type == type
    if not include_inactive:
        where &= RiskPoint.is_active.eq(True)
    rows = await RiskPoint.count().where(where).run()
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="risk_point.export",
            object_type="risk_point",
            area_path=area_path,
            detail={"format": "geojson", "rows": rows, "areas": paths},
        )

    async def fetch(after: int, size: int) -> list[dict[str, Any]]:
        query = RiskPoint.select(*_COLUMNS).where(where & (RiskPoint.id > after))
        return list(await query.order_by(RiskPoint.id).limit(size).run())

    async def features() -> AsyncIterator[list[geojson.Feature]]:
        async for batch in geojson.pages(fetch):
            yield [_feature(r) for r in batch]

    return rows, features()


def _feature(r: dict[str, Any]) -> geojson.Feature:
    properties = {
        "id": r["id"],
        "code": r["code"],
        "name": r["name"],
        "type": r["type"],
        "risk_level": r["risk_level"],
        "grid": r["grid_name"],
        "grid_code": r["grid_code"],
        "threatened_households": r["threatened_households"],
        "note": r["note"],
        "is_active": bool(r["is_active"]),
        "created_at": geojson.local_time(r["created_at"]),
        "updated_at": geojson.local_time(r["updated_at"]),
    }
    return geojson.Feature(id=r["id"], lng=r["lng"], lat=r["lat"], properties=properties)


async def get_risk_point(*, point_id: int, grants: list[policy.Grant]) -> RiskPointRead:
    row = await _row(point_id)
    policy.require(grants, "risk_point.read", row["area_path"])
    return _read(row)


async def _place(lat: float, lng: float, datum: str) -> tuple[float, float, Any]:
    _, match, wlng, wlat = await locate_point(lat=lat, lng=lng, datum=datum)
    return wlat, wlng, match.grid


def _values(data: RiskPointCreate, lat: float, lng: float, grid: Any, now: Any) -> dict[str, Any]:
    """The columns a create or an import writes, the position already routed to `grid`."""
    return {
        "name": data.name.strip(),
        "type": data.type,
        "risk_level": data.risk_level,
        "lat": lat,
        "lng": lng,
        "grid": grid.id,
        "area_path": grid.path,
        "contacts": _contacts(data.contacts),
        "threatened_households": data.threatened_households,
        "note": data.note,
        "updated_at": now,
    }


def _contacts(contacts: list[Contact]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(c) for c in contacts]


async def create_risk_point(
    *, data: RiskPointCreate, grants: list[policy.Grant] | None, actor_id: int | None
) -> RiskPointRead:
    """Register a risk point; its grid comes from its position."""
    lat, lng, grid = await _place(data.lat, data.lng, data.datum)
    if grants is not None:
        policy.require(grants, "risk_point.write", grid.path)
    now = clock.now()
    async with write_transaction():
        if (
            data.code is not None
            and await RiskPoint.exists().where(RiskPoint.code == data.code).run()
        ):
            raise Conflict(
                detail="risk point %(code)s exists",
                params={"code": data.code},
                errors=[
                    {
                        "field": "code",
                        "code": "conflict",
                        "message": f"risk point {data.code} exists",
                    }
                ],
            )
        row = (
            await RiskPoint.insert(
                RiskPoint(
                    code=data.code or "RP" + secrets.token_hex(5).upper(),
                    created_at=now,
                    **_values(data, lat, lng, grid, now),
                )
            )
            .returning(RiskPoint.id)
            .run()
        )[0]
        await audit.record(
            actor_id=actor_id,
            action="risk_point.create",
            object_type="risk_point",
            object_id=row["id"],
            area_path=grid.path,
            detail={"name": data.name},
        )
    return _read(await _row(row["id"]))


async def update_risk_point(
    *, point_id: int, data: RiskPointUpdate, grants: list[policy.Grant], actor_id: int
) -> RiskPointRead:
    """Change a risk point; moving it re-routes it to the grid at its new position."""
    row = await _row(point_id)
    policy.require(grants, "risk_point.write", row["area_path"])
    changes: dict[Any, Any] = {}
    for name in ("name", "type", "risk_level", "threatened_households", "note", "is_active"):
        value = getattr(data, name)
        if value is not None:
            changes[getattr(RiskPoint, name)] = value
    if data.contacts is not None:
        changes[RiskPoint.contacts] = _contacts(data.contacts)
    if (data.lat is None) != (data.lng is None):
        raise invalid("lat", "give lat and lng together")
    if data.lat is not None and data.lng is not None:
        lat, lng, grid = await _place(data.lat, data.lng, data.datum)
        policy.require(grants, "risk_point.write", grid.path)
        changes.update(
            {
                RiskPoint.lat: lat,
                RiskPoint.lng: lng,
                RiskPoint.grid: grid.id,
                RiskPoint.area_path: grid.path,
            }
        )
    if not changes:
        return _read(row)
    changes[RiskPoint.updated_at] = clock.now()
    async with write_transaction():
        await RiskPoint.update(changes).where(RiskPoint.id == point_id).run()
        await audit.record(
            actor_id=actor_id,
            action="risk_point.update",
            object_type="risk_point",
            object_id=point_id,
            area_path=row["area_path"],
            detail={
                "fields": sorted(c._meta.name for c in changes if c is not RiskPoint.updated_at)
            },
        )
    return _read(await _row(point_id))


async def deactivate_risk_point(
    *, point_id: int, grants: list[policy.Grant], actor_id: int
) -> RiskPointRead:
    """Retire a risk point; it stays for the history of patrols and cases."""
    return await update_risk_point(
        point_id=point_id, data=RiskPointUpdate(is_active=False), grants=grants, actor_id=actor_id
    )


def _located(message: str, at: str) -> tuple[str, str]:
    """A msgspec message and the feature's field it is about (lat/lng are the geometry)."""
    path = None
    if " - at `$." in message:
        message, _, path = message.rpartition(" - at `$.")
        path = path.rstrip("`")
    elif message.startswith(("Object contains unknown field `", "Object missing required field `")):
        path = message.split("`")[1]
    if not path:
        return message, at
    if path.split(".")[0].split("[")[0] in ("lat", "lng"):
        return message, f"{at}.geometry"
    return message, f"{at}.properties.{path}"


async def import_risk_points(
    *, collection: Any, datum: str, grants: list[policy.Grant] | None, actor_id: int | None
) -> ImportResult:
    """Import Point features as risk points (update by code): all of them or none."""
    if grants is not None and not policy.scopes(grants, "risk_point.write"):
        raise Forbidden()
    errors = _Errors()
    parsed = _parse_points(collection, datum, errors)
    errors.raise_if_any()
    seen = {d.code for d, _ in parsed}
    existing_rows = (
        {
            r["code"]: r
            for r in await RiskPoint.select(RiskPoint.id, RiskPoint.code, RiskPoint.area_path)
            .where(RiskPoint.code.is_in(list(seen)))
            .run()
        }
        if seen
        else {}
    )
    placed = await _place_points(parsed, existing_rows, grants, errors)
    errors.raise_if_any()
    codes = [d.code for d, *_ in placed if d.code is not None]  # all: _parse_points checks
    existing = {code: r["id"] for code, r in existing_rows.items()}
    created, updated = await _write_points(placed, existing, actor_id, datum)
    return ImportResult(created=created, updated=updated, boundaries_changed=0, codes=codes[:1000])


def _parse_points(
    collection: Any, datum: str, errors: _Errors
) -> list[tuple[RiskPointCreate, str]]:
    """Every Point feature read as a risk point with a code of its own (problems recorded),
    with where it is in the file."""
    features = collection.get("features") if isinstance(collection, dict) else None
    if (
        not isinstance(collection, dict)
        or collection.get("type") != "FeatureCollection"
        or not (isinstance(features, list) and 0 < len(features) <= 50_000)
    ):
        errors.add(
            "features", "expected a FeatureCollection of 1–50,000 Point features", "geojson_invalid"
        )
        errors.raise_if_any()
    parsed: list[tuple[RiskPointCreate, str]] = []
    seen: set[str] = set()
    for i, feature in enumerate(features):  # type: ignore[arg-type]  # a list: raise_if_any above stops otherwise
        at = f"features[{i}]"
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        props = feature.get("properties") if isinstance(feature, dict) else None
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if not (
            isinstance(geometry, dict)
            and geometry.get("type") == "Point"
            and isinstance(coords, list)
            and len(coords) >= 2
            and isinstance(props, dict)
        ):
            errors.add(at, "expected a Point feature with properties", "geojson_invalid")
            continue
        try:
            data = msgspec.convert(
                {**props, "lng": coords[0], "lat": coords[1], "datum": datum}, RiskPointCreate
            )
        except msgspec.ValidationError as exc:
            message, field = _located(str(exc), at)
            errors.add(field, message)
            continue
        if data.code is None:
            errors.add(f"{at}.properties.code", "each imported risk point needs a code")
            continue
        if data.code in seen:
            errors.add(f"{at}.properties.code", f"code {data.code} appears twice")
            continue
        seen.add(data.code)
        parsed.append((data, at))
    return parsed


async def _place_points(
    parsed: list[tuple[RiskPointCreate, str]],
    existing_rows: dict[str, dict[str, Any]],
    grants: list[policy.Grant] | None,
    errors: _Errors,
) -> list[tuple[RiskPointCreate, float, float, Any]]:
    """Each point in its grid, inside the caller's area (problems recorded)."""
    placed = []
    for data, at in parsed:
        old = existing_rows.get(data.code)  # type: ignore[arg-type]  # every code was checked in _parse_points
        # updating by code must not take over a point in someone else's area
        if (
            grants is not None
            and old is not None
            and not policy.allows(grants, "risk_point.write", old["area_path"])
        ):
            errors.add(
                f"{at}.properties.code", f"risk point {data.code} is outside your area", "forbidden"
            )
            continue
        try:
            lat, lng, grid = await _place(data.lat, data.lng, data.datum)
        except DomainError as exc:  # outside every grid: each becomes a listed problem
            errors.add(f"{at}.geometry", exc.detail or exc.code, exc.code)
            continue
        if grants is not None and not policy.allows(grants, "risk_point.write", grid.path):
            errors.add(at, f"grid {grid.code} is outside your area", "forbidden")
            continue
        placed.append((data, lat, lng, grid))
    return placed


async def _write_points(
    placed: list[tuple[RiskPointCreate, float, float, Any]],
    existing: dict[str, int],
    actor_id: int | None,
    datum: str,
) -> tuple[int, int]:
    """Insert or update every placed point in one transaction: (created, updated)."""
    now = clock.now()
    created = updated = 0
    async with write_transaction():
        for data, lat, lng, grid in placed:
            values = _values(data, lat, lng, grid, now)
            if data.code in existing:
                await (
                    RiskPoint.update({getattr(RiskPoint, k): v for k, v in values.items()})
                    .where(RiskPoint.id == existing[data.code])
                    .run()
                )
                updated += 1
            else:
                await RiskPoint.insert(RiskPoint(code=data.code, created_at=now, **values)).run()
                created += 1
        await audit.record(
            actor_id=actor_id,
            action="risk_point.import",
            object_type="risk_point",
            detail={"created": created, "updated": updated, "datum": datum},
        )
    return created, updated
