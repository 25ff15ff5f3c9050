from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK

from grid_backend.areas import risk_points, services
from grid_backend.areas.schemas import (
    AreaDetail,
    AreaPage,
    CoverageRead,
    Datum,
    ImportResult,
    Level,
    LocateRead,
    RiskPointCreate,
    RiskPointPage,
    RiskPointRead,
    RiskPointType,
    RiskPointUpdate,
)
from grid_backend.areas.services import area_path_of
from grid_backend.areas.tables import Area
from grid_backend.core import geojson, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.errors import DomainError
from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import DatumParam, PathId, QueryId
from grid_backend.people.caller import CurrentMember

MAX_IMPORT_BYTES = 64 * 1024 * 1024


async def read_json_body(request: Request[Any, Any, Any]) -> Any:
    """The request body as JSON, refusing bodies above the import limit before parsing."""
    import msgspec

    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_IMPORT_BYTES:
        raise DomainError("payload_too_large", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise DomainError("payload_too_large", status=413)
        chunks.append(chunk)
    try:
        return msgspec.json.decode(b"".join(chunks))
    except msgspec.DecodeError as exc:
        raise DomainError(
            "geojson_invalid",
            status=422,
            detail="not JSON: %(error)s",
            params={"error": exc},
            errors=[{"field": "body", "code": "geojson_invalid", "message": f"not JSON: {exc}"}],
        ) from None


class AreaController(Controller):
    path = "/api/v1/areas"
    tags = ["areas"]

    @get("", summary="The area tree, one page at a time")
    async def list_areas(
        self,
        caller: CurrentCaller,
        level: FromQuery[Level | None] = None,
        parent_id: QueryId = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> AreaPage:
        return await services.list_areas(
            level=level, parent_id=parent_id, limit=limit, cursor=cursor
        )

    @get("/{area_id:int}", summary="One area with its boundary, ancestors and children")
    async def get_area(
        self, caller: CurrentCaller, area_id: PathId, datum: DatumParam = "wgs84"
    ) -> AreaDetail:
        return await services.get_area(area_id=area_id, datum=datum)

    @get(
        "/{area_id:int}/export",
        summary="The area and its subtree as GeoJSON",
        media_type="application/geo+json",
    )
    async def export(
        self,
        caller: CurrentCaller,
        area_id: PathId,
        datum: DatumParam = "wgs84",
        level: FromQuery[list[Level] | None] = None,
    ) -> dict[str, Any]:
        return await services.export_geojson(area_id=area_id, levels=level, datum=datum)

    # request_max_body_size=None: read_json_body enforces MAX_IMPORT_BYTES instead of the
    # framework's 10 MB default, which a city's boundaries exceed
    @post(
        "/import",
        status_code=HTTP_200_OK,
        summary="Import areas from GeoJSON (admins)",
        request_max_body_size=None,
    )
    async def import_areas(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        datum: Annotated[
            Datum | None,
            QueryParameter(
                description="datum of the coordinates; default: the file's own datum member, else wgs84",
            ),
        ] = None,
    ) -> ImportResult:
        grants = member.grants
        city = await Area.select(Area.path).where(Area.level == "city").first().run()
        policy.require(grants, "area.write", city["path"] if city else "")
        collection = await read_json_body(request)
        return await services.import_geojson(
            collection=collection, datum=datum, actor_id=member.account_id
        )

    @get(
        "/{area_id:int}/coverage",
        summary="Grids lacking a leader, worker or emergency officer today",
    )
    async def coverage(
        self,
        member: CurrentMember,
        area_id: PathId,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> CoverageRead:
        grants = member.grants
        return await services.coverage(area_id=area_id, grants=grants, limit=limit, cursor=cursor)


class LocateController(Controller):
    path = "/api/v1/locate"
    tags = ["areas"]

    @get("", summary="The grid at a position and the team on duty there today")
    async def locate(
        self,
        member: CurrentMember,
        lat: FromQuery[float],
        lng: FromQuery[float],
        datum: DatumParam = "wgs84",
    ) -> LocateRead:
        grants = member.grants
        return await services.locate(lat=lat, lng=lng, datum=datum, grants=grants)


class RiskPointController(Controller):
    path = "/api/v1/risk-points"
    tags = ["areas"]

    @get("", summary="Risk points in the caller's areas")
    async def list_points(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        type: FromQuery[RiskPointType | None] = None,
        include_inactive: FromQuery[bool] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> RiskPointPage:
        grants = member.grants
        area_path = await area_path_of(area_id)
        return await risk_points.list_risk_points(
            grants=grants,
            area_path=area_path,
            type=type,
            include_inactive=include_inactive,
            limit=limit,
            cursor=cursor,
        )

    @get("/export.geojson", summary="Risk points in the caller's areas as GeoJSON (docs/gis.md)")
    async def export_points(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        type: FromQuery[RiskPointType | None] = None,
        include_inactive: FromQuery[bool] = False,
        crs: geojson.CrsParam = "wgs84",
    ) -> Stream:
        rows, features = await risk_points.export_risk_points(
            grants=member.grants,
            account_id=member.account_id,
            area_path=await area_path_of(area_id),
            type=type,
            include_inactive=include_inactive,
        )
        return Stream(
            geojson.stream(features, name="risk_points", crs=crs),
            media_type=geojson.MEDIA_TYPE,
            headers=geojson.download_headers(
                "risk-points.geojson", rows=rows, label="风险点.geojson"
            ),
        )

    @post("", summary="Register a risk point")
    async def create_point(
        self, member: CurrentMember, data: JSONBody[RiskPointCreate]
    ) -> RiskPointRead:
        grants = member.grants
        return await risk_points.create_risk_point(
            data=data, grants=grants, actor_id=member.account_id
        )

    @post(
        "/import",
        status_code=HTTP_200_OK,
        summary="Import risk points from GeoJSON points",
        request_max_body_size=None,
    )
    async def import_points(
        self, member: CurrentMember, request: Request[Any, Any, Any], datum: DatumParam = "wgs84"
    ) -> ImportResult:
        grants = member.grants
        collection = await read_json_body(request)
        return await risk_points.import_risk_points(
            collection=collection, datum=datum, grants=grants, actor_id=member.account_id
        )

    @get("/{point_id:int}", summary="One risk point")
    async def get_point(self, member: CurrentMember, point_id: PathId) -> RiskPointRead:
        grants = member.grants
        return await risk_points.get_risk_point(point_id=point_id, grants=grants)

    @patch("/{point_id:int}", summary="Change a risk point")
    async def update_point(
        self, member: CurrentMember, point_id: PathId, data: JSONBody[RiskPointUpdate]
    ) -> RiskPointRead:
        grants = member.grants
        return await risk_points.update_risk_point(
            point_id=point_id, data=data, grants=grants, actor_id=member.account_id
        )

    @delete("/{point_id:int}", status_code=HTTP_200_OK, summary="Retire a risk point")
    async def delete_point(self, member: CurrentMember, point_id: PathId) -> RiskPointRead:
        grants = member.grants
        return await risk_points.deactivate_risk_point(
            point_id=point_id, grants=grants, actor_id=member.account_id
        )
