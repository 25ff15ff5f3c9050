from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK

from grid_backend.areas.services import area_path_of
from grid_backend.core import clock, geojson, policy
from grid_backend.core.errors import DomainError, Forbidden, invalid
from grid_backend.core.openapi import binary, body_operation
from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import DatumParam, PathId, QueryId
from grid_backend.core.uploads import read_multipart
from grid_backend.evacuation import households, ledger, riskmap, routes, services
from grid_backend.evacuation.schemas import (
    HouseholdCreate,
    HouseholdPage,
    HouseholdRead,
    HouseholdUpdate,
    LedgerImported,
    RouteCreate,
    RoutePage,
    RouteRead,
    ShelterCreate,
    ShelterKind,
    ShelterPage,
    ShelterRead,
    ShelterUpdate,
)
from grid_backend.people.caller import CurrentMember


class ShelterController(Controller):
    """Shelters (避险点/安置点): where people at risk are moved to."""

    path = "/api/v1/shelters"
    tags = ["evacuation"]

    @get("", summary="Shelters serving the caller's areas")
    async def list_shelters(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        kind: FromQuery[ShelterKind | None] = None,
        open: FromQuery[bool | None] = None,
        retired: FromQuery[bool | None] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
        datum: DatumParam = "wgs84",
    ) -> ShelterPage:
        return await services.list_shelters(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            kind=kind,
            is_open=open,
            retired=retired,
            limit=limit,
            cursor=cursor,
            datum=datum,
        )

    @get("/export.geojson", summary="Shelters serving the caller's areas as GeoJSON (docs/gis.md)")
    async def export_shelters(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        kind: FromQuery[ShelterKind | None] = None,
        open: FromQuery[bool | None] = None,
        retired: FromQuery[bool | None] = False,
        crs: geojson.CrsParam = "wgs84",
    ) -> Stream:
        rows, features = await services.export_shelters(
            grants=member.grants,
            account_id=member.account_id,
            area_path=await area_path_of(area_id),
            kind=kind,
            is_open=open,
            retired=retired,
        )
        return Stream(
            geojson.stream(features, name="shelters", crs=crs),
            media_type=geojson.MEDIA_TYPE,
            headers=geojson.download_headers("shelters.geojson", rows=rows, label="避险点.geojson"),
        )

    @post("", summary="Register a shelter")
    async def create_shelter(
        self, member: CurrentMember, data: JSONBody[ShelterCreate]
    ) -> ShelterRead:
        return await services.create_shelter(
            data=data, account_id=member.account_id, grants=member.grants
        )

    @get("/{shelter_id:int}", summary="One shelter")
    async def read_shelter(
        self, member: CurrentMember, shelter_id: PathId, datum: DatumParam = "wgs84"
    ) -> ShelterRead:
        return await services.read_shelter(shelter_id=shelter_id, grants=member.grants, datum=datum)

    @patch("/{shelter_id:int}", summary="Change a shelter")
    async def update_shelter(
        self, member: CurrentMember, shelter_id: PathId, data: JSONBody[ShelterUpdate]
    ) -> ShelterRead:
        return await services.update_shelter(
            shelter_id=shelter_id, data=data, account_id=member.account_id, grants=member.grants
        )

    @delete("/{shelter_id:int}", status_code=HTTP_200_OK, summary="Retire a shelter")
    async def retire_shelter(self, member: CurrentMember, shelter_id: PathId) -> ShelterRead:
        return await services.retire_shelter(
            shelter_id=shelter_id, account_id=member.account_id, grants=member.grants
        )


class RouteController(Controller):
    """Evacuation routes (转移路线) drawn on the printed risk map."""

    path = "/api/v1/evacuation-routes"
    tags = ["evacuation"]

    @get("", summary="Evacuation routes of the caller's areas")
    async def list_routes(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        retired: FromQuery[bool | None] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
        datum: DatumParam = "wgs84",
    ) -> RoutePage:
        return await routes.list_routes(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            retired=retired,
            limit=limit,
            cursor=cursor,
            datum=datum,
        )

    @post("", summary="Record an evacuation route")
    async def create_route(self, member: CurrentMember, data: JSONBody[RouteCreate]) -> RouteRead:
        return await routes.create_route(
            data=data, account_id=member.account_id, grants=member.grants
        )

    @get("/{route_id:int}", summary="One evacuation route")
    async def read_route(
        self, member: CurrentMember, route_id: PathId, datum: DatumParam = "wgs84"
    ) -> RouteRead:
        return await routes.read_route(route_id=route_id, grants=member.grants, datum=datum)

    @delete("/{route_id:int}", status_code=HTTP_200_OK, summary="Retire an evacuation route")
    async def retire_route(self, member: CurrentMember, route_id: PathId) -> RouteRead:
        return await routes.retire_route(
            route_id=route_id, account_id=member.account_id, grants=member.grants
        )


class RiskMapController(Controller):
    """The printable community risk map (风险地图), under its community."""

    path = "/api/v1/areas"
    tags = ["evacuation"]

    @get(
        "/{community_id:int}/risk-map.pdf",
        summary="The community's risk map as a PDF (A4 or A3, portrait or landscape)",
        media_type="application/pdf",
    )
    async def risk_map(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        community_id: PathId,
        size: FromQuery[Literal["A4", "A3"]] = "A4",
        orientation: FromQuery[Literal["portrait", "landscape"]] = "portrait",
        phones: FromQuery[bool] = False,
    ) -> Response[bytes]:
        pdf, filename = await riskmap.print_risk_map(
            community_id=community_id,
            size=size,
            orientation=orientation,
            phones=phones,
            account_id=member.account_id,
            grants=member.grants,
            base_url=str(request.base_url),
        )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )


# --- threatened households (受威胁户) --------------------------------------------------------

Search = Annotated[
    str | None, QueryParameter(max_length=100, description="part of the address or head's name")
]


def _xlsx(path: Path, name: str, headers: dict[str, str] | None = None) -> Stream:
    async def chunks() -> AsyncIterator[bytes]:
        try:
            async with await anyio.open_file(path, "rb") as handle:
                while chunk := await handle.read(64 * 1024):
                    yield chunk
        finally:
            await anyio.Path(path).unlink(missing_ok=True)

    return Stream(
        chunks(),
        media_type=ledger.XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.xlsx";'
            f" filename*=UTF-8''{quote('受威胁户台账')}{quote(name.removeprefix('households'))}.xlsx",
            "Content-Length": str(path.stat().st_size),
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


class HouseholdController(Controller):
    """Threatened households (受威胁户): who lives where, who needs help to move, their helper
    (包保责任人) and shelter; the office's Excel ledger in and out."""

    path = "/api/v1/households"
    tags = ["evacuation"]

    @get("", summary="Households of the caller's grids (every call audited)")
    async def list_households(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        risk_point_id: QueryId = None,
        helper_id: QueryId = None,
        shelter_id: QueryId = None,
        vulnerable: FromQuery[bool | None] = None,
        q: Search = None,
        retired: FromQuery[bool | None] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
        datum: DatumParam = "wgs84",
    ) -> HouseholdPage:
        filters = {
            "area_id": area_id,
            "risk_point_id": risk_point_id,
            "helper_id": helper_id,
            "shelter_id": shelter_id,
            "vulnerable": vulnerable,
            "q": q,
            "retired": retired,
            "cursor": cursor,
        }
        return await households.list_households(
            grants=member.grants,
            account_id=member.account_id,
            area_path=await area_path_of(area_id),
            risk_point_id=risk_point_id,
            helper_id=helper_id,
            shelter_id=shelter_id,
            vulnerable=vulnerable,
            q=q,
            retired=retired,
            limit=limit,
            cursor=cursor,
            datum=datum,
            filters={k: v for k, v in filters.items() if v is not None},
        )

    @post("", summary="Register a threatened household")
    async def create_household(
        self, member: CurrentMember, data: JSONBody[HouseholdCreate]
    ) -> HouseholdRead:
        return await households.create_household(
            data=data, account_id=member.account_id, grants=member.grants
        )

    @get("/{household_id:int}", summary="One household (audited)")
    async def read_household(
        self, member: CurrentMember, household_id: PathId, datum: DatumParam = "wgs84"
    ) -> HouseholdRead:
        return await households.read_household(
            household_id=household_id,
            grants=member.grants,
            account_id=member.account_id,
            datum=datum,
        )

    @patch("/{household_id:int}", summary="Change a household")
    async def update_household(
        self, member: CurrentMember, household_id: PathId, data: JSONBody[HouseholdUpdate]
    ) -> HouseholdRead:
        return await households.update_household(
            household_id=household_id,
            data=data,
            account_id=member.account_id,
            grants=member.grants,
        )

    @delete("/{household_id:int}", status_code=HTTP_200_OK, summary="Retire a household")
    async def retire_household(self, member: CurrentMember, household_id: PathId) -> HouseholdRead:
        return await households.retire_household(
            household_id=household_id, account_id=member.account_id, grants=member.grants
        )

    @post(
        "/import",
        status_code=HTTP_200_OK,
        summary="Import the office's ledger (.xlsx, multipart field `file`): all or nothing",
        request_max_body_size=None,
        operation_class=body_operation(
            None,
            multipart={"file": binary("the ledger: an .xlsx workbook in the template's layout")},
        ),
    )
    async def import_ledger(
        self, member: CurrentMember, request: Request[Any, Any, Any]
    ) -> LedgerImported:
        try:
            form = await read_multipart(
                request,
                spool_dir=Path(tempfile.gettempdir()) / "grid-ledgers",
                file_fields=frozenset({"file"}),
                max_file_bytes=ledger.MAX_FILE_BYTES,
                max_files=1,
            )
        except DomainError as exc:
            if exc.code != "photo_too_large":
                raise
            raise DomainError(
                "ledger_too_large",
                status=413,
                detail="a ledger may be at most %(mb)g MB",
                params={"mb": ledger.MAX_FILE_BYTES / 1024 / 1024},
            ) from None
        try:
            if not form.files:
                raise invalid("file", "attach the ledger as the multipart field `file`")
            upload = form.files[0]
            return await ledger.import_ledger(
                path=upload.path,
                filename=upload.filename,
                grants=member.grants,
                account_id=member.account_id,
            )
        finally:
            form.discard()

    @get("/template", summary="The ledger's template (.xlsx)")
    async def template(self, member: CurrentMember) -> Stream:
        if not policy.is_staff(member.grants):
            raise Forbidden()
        return _xlsx(await ledger.template_file(), "households-template")

    @get("/export", summary="The caller's households in the ledger's layout (.xlsx, audited)")
    async def export(self, member: CurrentMember, area_id: QueryId = None) -> Stream:
        path, rows = await ledger.export_file(
            grants=member.grants,
            account_id=member.account_id,
            area_path=await area_path_of(area_id),
        )
        return _xlsx(path, f"households-{clock.today():%Y%m%d}", {"X-Row-Count": str(rows)})
