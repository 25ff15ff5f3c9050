"""The risk map's case side: the open cases layer (where the cases the caller may see are, as
GeoJSON), and the case counts per grid that the grid layers of areas.map show; the map's API
(grids, one grid, risk points) is served here because it counts cases, a layer above areas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery
from piccolo.query.functions.aggregate import Count

from grid_backend.areas.map import (
    GridCollection,
    GridDetail,
    OutlineCollection,
    RiskPointCollection,
    grid_detail,
    grid_layer,
    grids_around,
    outline_layer,
    risk_point_layer,
    risk_points_near,
)
from grid_backend.areas.services import area_path_of
from grid_backend.core import clock, geo
from grid_backend.core.db import under
from grid_backend.core.errors import Forbidden, NotFound
from grid_backend.core.types import Datum, DatumParam, PathId, QueryId
from grid_backend.hazards import workflow
from grid_backend.hazards.services import Actor, _scope_condition, _visible, overdue
from grid_backend.hazards.services.reading import read_case_row
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


_CASE_POINT_COLUMNS = (
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
)


async def open_case_layer(
    *, actor: Actor, area_path: str | None, urgent: bool | None = None, datum: Datum = "wgs84"
) -> CaseCollection:
    """Open cases the person may see (as staff), newest first, as GeoJSON points."""
    if not actor.is_staff:
        raise Forbidden()
    query = HazardReport.select(*_CASE_POINT_COLUMNS).where(
        _scope_condition(actor) & HazardReport.status.is_in(sorted(workflow.OPEN))
    )
    if area_path:
        query = query.where(HazardReport.area_path.like(area_path + "%"))
    if urgent is not None:
        query = query.where(HazardReport.urgent.eq(urgent))
    rows = await query.order_by(HazardReport.id, ascending=False).limit(MAX_CASES + 1).run()
    now = clock.now()
    features = [_case_feature(r, now, datum) for r in rows[:MAX_CASES]]
    return CaseCollection(datum=datum, truncated=len(rows) > MAX_CASES, features=features)


def _case_feature(r: dict[str, Any], now: datetime, datum: Datum) -> CaseFeature:
    lng, lat = r["lng"], r["lat"]
    if datum != "wgs84":
        lng, lat = geo.convert(lng, lat, "wgs84", datum)
    return CaseFeature(
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


# --- one case's surroundings (the case page's small map) ------------------------------------

SURROUNDINGS_M = 500  # how far around a case its page's map shows other open cases and risks
MAX_AROUND = 100


class CaseSurroundings(msgspec.Struct):
    """A case, its grid's outline, and the open cases and risk points around it that the
    caller may see, in the datum of the map's tiles."""

    datum: str
    radius_m: int
    case: CaseFeature
    grids: list[dict[str, Any]]  # GeoJSON Features: the case's grid (own) and those around
    cases: CaseCollection
    risk_points: RiskPointCollection


def _box(lat: float, lng: float, metres: float) -> Any:
    box = geo.degree_box(lat, lng, metres)
    return lambda t: (
        (t.lat >= box.lat_min)
        & (t.lat <= box.lat_max)
        & (t.lng >= box.lng_min)
        & (t.lng <= box.lng_max)
    )


async def case_surroundings(*, actor: Actor, report_id: int, datum: Datum) -> CaseSurroundings:
    """Where a case is, for staff who see it in full: its grid, and the open cases (as the
    caller's duties allow) and active risk points (in the caller's areas) around it."""
    case = await read_case_row(report_id)
    if _visible(case, actor) != "staff":
        raise NotFound("report_not_found")
    lat, lng = case["lat"], case["lng"]
    box = _box(lat, lng, SURROUNDINGS_M)
    rows = (
        await HazardReport.select(*_CASE_POINT_COLUMNS)
        .where(
            _scope_condition(actor)
            & HazardReport.status.is_in(sorted(workflow.OPEN))
            & (HazardReport.id != report_id)
            & box(HazardReport)
        )
        .order_by(HazardReport.id, ascending=False)
        .limit(MAX_AROUND)
        .run()
    )
    now = clock.now()
    near = [r for r in rows if geo.distance_m(lng, lat, r["lng"], r["lat"]) <= SURROUNDINGS_M]
    points = await risk_points_near(
        grants=actor.grants, lat=lat, lng=lng, radius_m=SURROUNDINGS_M, datum=datum
    )
    return CaseSurroundings(
        datum=datum,
        radius_m=SURROUNDINGS_M,
        case=_case_feature(case, now, datum),
        grids=await grids_around(
            grants=actor.grants,
            grid_id=case["grid"],
            lat=lat,
            lng=lng,
            radius_m=SURROUNDINGS_M,
            datum=datum,
        ),
        cases=CaseCollection(
            datum=datum, truncated=False, features=[_case_feature(r, now, datum) for r in near]
        ),
        risk_points=points,
    )


class CaseSurroundingsController(Controller):
    path = "/api/v1/reports"
    tags = ["hazards"]

    @get(
        "/{report_id:int}/surroundings",
        summary="A case's grid, and the open cases and risk points around it (staff)",
    )
    async def surroundings(
        self, member: CurrentMember, report_id: PathId, datum: DatumParam = "wgs84"
    ) -> CaseSurroundings:
        actor = Actor(member.account_id, member.grants)
        return await case_surroundings(actor=actor, report_id=report_id, datum=datum)


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


async def case_counts(paths: list[str]) -> dict[int, dict[str, int]]:
    """Open, overdue and urgent cases per grid under these paths."""
    base = HazardReport.status.is_in(sorted(workflow.OPEN)) & under(HazardReport.area_path, paths)
    running = HazardReport.status.is_in(list(workflow.RUNNING))
    counts: dict[int, dict[str, int]] = {}
    for name, condition in (
        ("open", base),
        ("overdue", base & running & (HazardReport.due_at < clock.now())),
        ("urgent", base & HazardReport.urgent.eq(True)),
    ):
        rows = (
            await HazardReport.select(HazardReport.grid, Count(HazardReport.id, alias="n"))
            .where(condition)
            .group_by(HazardReport.grid)
            .run()
        )
        for r in rows:
            counts.setdefault(r["grid"], {})[name] = r["n"]
    return counts


class MapController(Controller):
    path = "/api/v1/map"
    tags = ["areas"]

    @get("/grids", summary="Grids under an area as GeoJSON, with open cases and risk level")
    async def grids(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        datum: DatumParam = "wgs84",
    ) -> GridCollection:
        grants = member.grants
        return await grid_layer(
            grants=grants, area_id=area_id, case_counts=case_counts, datum=datum
        )

    @get("/grids/{grid_id:int}", summary="One grid's team on duty, risk points and case counts")
    async def grid(self, member: CurrentMember, grid_id: PathId) -> GridDetail:
        grants = member.grants
        return await grid_detail(grants=grants, grid_id=grid_id, case_counts=case_counts)

    @get("/outlines", summary="Community and township outlines of the grids shown, as GeoJSON")
    async def outlines(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        datum: DatumParam = "wgs84",
    ) -> OutlineCollection:
        return await outline_layer(grants=member.grants, area_id=area_id, datum=datum)

    @get("/risk-points", summary="Active risk points under an area as GeoJSON")
    async def risk_points(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        datum: DatumParam = "wgs84",
    ) -> RiskPointCollection:
        grants = member.grants
        return await risk_point_layer(grants=grants, area_id=area_id, datum=datum)
