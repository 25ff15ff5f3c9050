"""Evacuation routes (转移路线): recorded ways out, from a risk point or a cluster of households
to a shelter, drawn on the printed risk map. Recorded and retired by the managers of their
area, read by the staff of that area (and of the areas above and below it)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from grid_backend.areas.services import to_wgs84
from grid_backend.areas.services.serving import inside_or_above, listing_scopes, overlaps
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import audit, clock, geo, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import NotFound, filled, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.types import AreaRef, Datum
from grid_backend.evacuation.schemas import RouteCreate, RoutePage, RoutePoint, RouteRead
from grid_backend.evacuation.tables import EvacuationRoute, Shelter, ShelterArea

_COLUMNS = (
    *EvacuationRoute.all_columns(),
    EvacuationRoute.area.code.as_alias("area_code"),
    EvacuationRoute.area.name.as_alias("area_name"),
    EvacuationRoute.from_risk_point.name.as_alias("risk_point_name"),
    EvacuationRoute.shelter.name.as_alias("shelter_name"),
)


def line_of(row: dict[str, Any]) -> list[tuple[float, float]]:
    """A stored route's line: (lng, lat) pairs in WGS-84."""
    return [(float(p[0]), float(p[1])) for p in json.loads(row["points"])]


def _read(row: dict[str, Any], grants: list[policy.Grant], datum: Datum) -> RouteRead:
    points = []
    for lng, lat in line_of(row):
        if datum != "wgs84":
            lng, lat = geo.convert(lng, lat, "wgs84", datum)
        points.append(RoutePoint(lat=lat, lng=lng))
    return RouteRead(
        id=row["id"],
        name=row["name"],
        area=AreaRef(id=row["area"], code=row["area_code"], name=row["area_name"]),
        points=points,
        datum=datum,
        from_risk_point_id=row["from_risk_point"],
        from_risk_point_name=row["risk_point_name"],
        from_cluster=row["from_cluster"],
        shelter_id=row["shelter"],
        shelter_name=row["shelter_name"],
        retired=row["retired_at"] is not None,
        retired_at=row["retired_at"],
        retired_by=row["retired_by"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        manageable=row["retired_at"] is None
        and policy.allows(grants, "evacuation_route.manage", row["area_path"]),
    )


async def _row(route_id: int, grants: list[policy.Grant]) -> dict[str, Any]:
    row = await EvacuationRoute.select(*_COLUMNS).where(EvacuationRoute.id == route_id).first()
    if row is None or not overlaps(
        [row["area_path"]], policy.scopes(grants, "evacuation_route.read")
    ):
        raise NotFound("route_not_found")
    return row


async def read_route(
    *, route_id: int, grants: list[policy.Grant], datum: Datum = "wgs84"
) -> RouteRead:
    """One route, for staff of its area (or inside or above it)."""
    return _read(await _row(route_id, grants), grants, datum)


async def _checked_start(data: RouteCreate, area_path: str) -> int | None:
    """The risk point a route starts from (inside the route's area), or None for a cluster;
    exactly one of the two is named."""
    cluster = data.from_cluster.strip()
    if (data.from_risk_point_id is None) == (not cluster):
        raise invalid(
            "from_risk_point_id",
            "name where the route starts: a risk point or a household cluster, not both",
            code="route_start_required",
        )
    if data.from_risk_point_id is None:
        return None
    point = (
        await RiskPoint.select(RiskPoint.area_path)
        .where((RiskPoint.id == data.from_risk_point_id) & RiskPoint.is_active.eq(True))
        .first()
    )
    if point is None or not point["area_path"].startswith(area_path):
        raise invalid(
            "from_risk_point_id",
            "no such risk point in the route's area",
            code="risk_point_not_found",
        )
    return data.from_risk_point_id


async def _check_shelter(shelter_id: int, area_path: str) -> None:
    """The shelter exists, is not retired, and serves the route's area (or an area inside or
    above it)."""
    shelter = (
        await Shelter.select(Shelter.id)
        .where((Shelter.id == shelter_id) & Shelter.retired_at.is_null())
        .first()
    )
    served = await ShelterArea.select(ShelterArea.area_path).where(
        ShelterArea.shelter == shelter_id
    )
    if shelter is None or not overlaps([s["area_path"] for s in served], [area_path]):
        raise invalid(
            "shelter_id", "no such shelter serving the route's area", code="shelter_not_found"
        )


async def create_route(
    *, data: RouteCreate, account_id: int, grants: list[policy.Grant]
) -> RouteRead:
    """Record a route in an area the caller manages."""
    area = await Area.select(Area.id, Area.path).where(Area.id == data.area_id).first()
    if area is None:
        raise invalid("area_id", "no such area", code="area_not_found")
    policy.require(grants, "evacuation_route.manage", area["path"])
    name = filled("name", data.name)
    risk_point = await _checked_start(data, area["path"])
    await _check_shelter(data.shelter_id, area["path"])
    line = [list(to_wgs84(p.lat, p.lng, p.datum)) for p in data.points]
    datums = {p.datum for p in data.points}
    now = clock.now()
    async with write_transaction():
        row = (
            await EvacuationRoute.insert(
                EvacuationRoute(
                    name=name,
                    area=area["id"],
                    area_path=area["path"],
                    points=json.dumps([[round(x, 7), round(y, 7)] for x, y in line]),
                    sent_datum=datums.pop() if len(datums) == 1 else "mixed",
                    from_risk_point=risk_point,
                    from_cluster=data.from_cluster.strip(),
                    shelter=data.shelter_id,
                    created_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(EvacuationRoute.id)
            .run()
        )[0]
        await audit.record(
            actor_id=account_id,
            action="evacuation_route.create",
            object_type="evacuation_route",
            object_id=row["id"],
            area_path=area["path"],
            detail=msgspec.to_builtins(data),
        )
    return await read_route(route_id=row["id"], grants=grants)


async def retire_route(*, route_id: int, account_id: int, grants: list[policy.Grant]) -> RouteRead:
    """Retire a route: no longer listed or drawn; retiring again changes nothing."""
    row = await _row(route_id, grants)
    policy.require(grants, "evacuation_route.manage", row["area_path"])
    if row["retired_at"] is None:
        now = clock.now()
        async with write_transaction():
            await EvacuationRoute.update(
                {
                    EvacuationRoute.retired_at: now,
                    EvacuationRoute.retired_by: account_id,
                    EvacuationRoute.updated_at: now,
                }
            ).where(EvacuationRoute.id == route_id)
            await audit.record(
                actor_id=account_id,
                action="evacuation_route.retire",
                object_type="evacuation_route",
                object_id=route_id,
                area_path=row["area_path"],
                detail={"name": row["name"]},
            )
    return await read_route(route_id=route_id, grants=grants)


async def list_routes(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    retired: bool | None = False,
    limit: int = 50,
    cursor: str | None = None,
    datum: Datum = "wgs84",
) -> RoutePage:
    """Routes of the caller's areas (and of the areas above them), by id; `area_path`
    narrows to routes of that area, inside it or above it."""
    scopes = listing_scopes(grants, "evacuation_route.read", area_path)
    seen = inside_or_above(EvacuationRoute.area_path, scopes)
    query = EvacuationRoute.select(*_COLUMNS).where(seen)
    if retired is True:
        query = query.where(EvacuationRoute.retired_at.is_not_null())
    elif retired is False:
        query = query.where(EvacuationRoute.retired_at.is_null())
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(EvacuationRoute.id > after)
    rows = await query.order_by(EvacuationRoute.id).limit(limit + 1)
    cursor_out = next_cursor(rows, limit)
    return RoutePage(items=[_read(r, grants, datum) for r in rows], next_cursor=cursor_out)
