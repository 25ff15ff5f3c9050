"""Locate: the grid at a point, its ancestors and the team on duty there."""

from __future__ import annotations

import math
from typing import Any

from grid_backend.areas.locate import grid_index, roster_scope
from grid_backend.areas.schemas import (
    AreaBrief,
    LocateRead,
    Position,
    TeamMember,
)
from grid_backend.core import geo, policy
from grid_backend.core.errors import NotFound, invalid
from grid_backend.people.duty import team_on_duty
from grid_backend.people.phones import mask_phone
from grid_backend.settings import get_settings


def to_wgs84(lat: float, lng: float, datum: str) -> tuple[float, float]:
    """(lng, lat) in WGS-84; raises a 422 for a bad datum or out-of-range numbers."""
    if not geo.is_datum(datum):
        raise invalid(
            "datum",
            "datum is wgs84, gcj02 or bd09",
            code="datum_unknown",
        )
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise invalid(
            "lat",
            "lat is between -90 and 90",
            code="coordinates_out_of_range",
        )
    if not (math.isfinite(lng) and -180 <= lng <= 180):
        raise invalid(
            "lng",
            "lng is between -180 and 180",
            code="coordinates_out_of_range",
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
            detail="no grid within %(tolerance)g m of this position",
            params={"tolerance": tolerance},
        )
    return index, match, wlng, wlat


def _node_brief(node: Any) -> AreaBrief:
    return AreaBrief(id=node.id, code=node.code, name=node.name, level=node.level)


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
