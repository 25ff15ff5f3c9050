"""The open cases layer of the risk map: where the cases the caller may see are, as GeoJSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery

from grid_backend.areas.services import area_path_of
from grid_backend.core import clock, geo
from grid_backend.core.errors import Forbidden
from grid_backend.core.types import DatumParam, QueryId
from grid_backend.hazards import workflow
from grid_backend.hazards.services import Actor, _scope_condition, overdue
from grid_backend.hazards.tables import HazardReport
from grid_backend.people.caller import CurrentMember

MAX_CASES = 5_000


class CaseProperties(msgspec.Struct):
    id: int
    status: str
    category: str
    level: str
    urgent: bool
    overdue: bool
    grid_id: int
    created_at: datetime


class CaseFeature(msgspec.Struct):
    id: int
    geometry: dict[str, Any]
    properties: CaseProperties
    type: str = "Feature"


class CaseCollection(msgspec.Struct):
    datum: str
    truncated: bool  # more open cases than MAX_CASES: the newest are shown
    features: list[CaseFeature]
    type: str = "FeatureCollection"


async def open_case_layer(
    *, actor: Actor, area_path: str | None, urgent: bool | None = None, datum: str = "wgs84"
) -> CaseCollection:
    """Open cases the person may see (as staff), newest first, as GeoJSON points."""
    if not actor.is_staff:
        raise Forbidden()
    query = HazardReport.select(
        HazardReport.id,
        HazardReport.status,
        HazardReport.category,
        HazardReport.level,
        HazardReport.urgent,
        HazardReport.due_at,
        HazardReport.grid,
        HazardReport.lat,
        HazardReport.lng,
        HazardReport.created_at,
    ).where(_scope_condition(actor) & HazardReport.status.is_in(sorted(workflow.OPEN)))
    if area_path:
        query = query.where(HazardReport.area_path.like(area_path + "%"))
    if urgent is not None:
        query = query.where(HazardReport.urgent.eq(urgent))
    rows = await query.order_by(HazardReport.id, ascending=False).limit(MAX_CASES + 1).run()
    now = clock.now()
    features = []
    for r in rows[:MAX_CASES]:
        lng, lat = r["lng"], r["lat"]
        if datum != "wgs84":
            lng, lat = geo.convert(lng, lat, "wgs84", datum)  # type: ignore[arg-type]
        features.append(
            CaseFeature(
                id=r["id"],
                geometry={"type": "Point", "coordinates": [round(lng, 7), round(lat, 7)]},
                properties=CaseProperties(
                    id=r["id"],
                    status=r["status"],
                    category=r["category"],
                    level=r["level"],
                    urgent=r["urgent"],
                    overdue=overdue(r, now),
                    grid_id=r["grid"],
                    created_at=r["created_at"],
                ),
            )
        )
    return CaseCollection(datum=datum, truncated=len(rows) > MAX_CASES, features=features)


class CaseMapController(Controller):
    path = "/api/v1/reports/map"
    tags = ["hazards"]

    @get("", summary="Open cases the caller may see, as GeoJSON points (staff)")
    async def open_cases(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        urgent: FromQuery[bool | None] = None,
        datum: DatumParam = "wgs84",
    ) -> CaseCollection:
        actor = Actor(member.account_id, member.grants)
        return await open_case_layer(
            actor=actor, area_path=await area_path_of(area_id), urgent=urgent, datum=datum
        )
