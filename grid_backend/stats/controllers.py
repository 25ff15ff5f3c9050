from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

import anyio
from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from grid_backend.areas.services import area_path_of
from grid_backend.core import geojson, i18n
from grid_backend.core.errors import invalid
from grid_backend.core.i18n import N_
from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import MAX_ID, PathId, QueryId, in_window
from grid_backend.people.caller import CurrentMember
from grid_backend.stats import evacuation_export, ledger, services
from grid_backend.stats.schemas import DashboardRead, PointsReview

DateFrom = Annotated[
    date | None, QueryParameter(name="from", description="local date, 2000-01-01 to 2100-12-31")
]
DateTo = Annotated[
    date | None,
    QueryParameter(name="to", description="local date, included, 2000-01-01 to 2100-12-31"),
]
_CRS_GEOJSON_ONLY = N_("A coordinate system can be chosen only for GeoJSON")

AreaAlias = Annotated[
    int | None, QueryParameter(name="area", ge=1, le=MAX_ID, description="same as area_id")
]


class DashboardController(Controller):
    path = "/api/v1/stats"
    tags = ["stats"]

    @get("/dashboard", summary="The console's dashboard figures (docs/dashboard.md)")
    async def dashboard(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        area: AreaAlias = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
    ) -> DashboardRead:
        in_window("from", date_from)
        in_window("to", date_to)
        return await services.dashboard(
            grants=member.grants,
            area_path=await area_path_of(area_id if area_id is not None else area),
            date_from=date_from,
            date_to=date_to,
        )

    @get("/points", summary="Reward points entries for cases in the caller's area")
    async def points(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        account_id: QueryId = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> PointsReview:
        in_window("from", date_from)
        in_window("to", date_to)
        return await services.points_review(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            account_id=account_id,
            date_from=date_from,
            date_to=date_to,
            limit=limit,
            cursor=cursor,
        )


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    try:
        async with await anyio.open_file(path, "rb") as handle:
            while chunk := await handle.read(64 * 1024):
                yield chunk
    finally:
        await anyio.Path(path).unlink(missing_ok=True)


def _disposition(name: str, fmt: str) -> str:
    chinese = quote(f"隐患台账{name.removeprefix('hazard-ledger')}")
    return f"attachment; filename=\"{name}\"; filename*=UTF-8''{chinese}"


class ExportController(Controller):
    path = "/api/v1/reports/export"
    tags = ["stats"]

    @get("", summary="The hazard ledger of an area and period as Excel, CSV or GeoJSON points")
    async def export(
        self,
        member: CurrentMember,
        format: FromQuery[Literal["xlsx", "csv", "geojson"]] = "xlsx",
        area_id: QueryId = None,
        area: AreaAlias = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        lang: FromQuery[Literal["zh-CN", "en"]] = "zh-CN",
        crs: FromQuery[geojson.GeoCrs | None] = None,
    ) -> Stream:
        in_window("from", date_from)
        in_window("to", date_to)
        if crs is not None and format != "geojson":
            raise invalid("crs", _CRS_GEOJSON_ONLY, code="crs_geojson_only")
        chosen = area_id if area_id is not None else area
        area_path = await area_path_of(chosen)
        with i18n.language(lang):  # the ledger's language is asked for by name, not by header
            export = await ledger.prepare(
                grants=member.grants,
                account_id=member.account_id,
                area_path=area_path,
                date_from=date_from,
                date_to=date_to,
                fmt=format,
                crs=(crs or "wgs84") if format == "geojson" else None,
            )
        code = area_path.rstrip("/").rsplit("/", 1)[-1] if area_path else None
        name = ledger.filename(export, code, format)
        headers = {
            "Content-Disposition": _disposition(name, format),
            "X-Row-Count": str(export.rows),
            "Cache-Control": "no-store",
        }
        if format == "geojson":
            return Stream(
                geojson.stream(export.features(), name="hazard_reports", crs=crs or "wgs84"),
                media_type=geojson.MEDIA_TYPE,
                headers=headers,
            )
        if format == "csv":
            return Stream(
                ledger.csv_chunks(export), media_type="text/csv; charset=utf-8", headers=headers
            )
        path = await ledger.xlsx_file(export)
        headers["Content-Length"] = str(path.stat().st_size)
        return Stream(
            _file_chunks(path),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers=headers,
        )


class EvacuationExportController(Controller):
    """An evacuation's record as Excel (stats/evacuation_export.py): beside the evacuation's
    own routes, since the workbook is written like the hazard ledger."""

    path = "/api/v1/evacuations"
    tags = ["evacuation"]

    @get(
        "/{evacuation_id:int}/export.xlsx",
        summary="An evacuation's record as Excel: a summary per level and its households",
    )
    async def export(
        self,
        member: CurrentMember,
        evacuation_id: PathId,
        lang: FromQuery[Literal["zh-CN", "en"] | None] = None,
    ) -> Stream:
        # a link's download carries the browser's language, not the page's: the page names it
        with i18n.language(lang or i18n.current_language()):
            path, households = await evacuation_export.workbook(
                evacuation_id=evacuation_id, account_id=member.account_id, grants=member.grants
            )
        name = f"evacuation-{evacuation_id}.xlsx"
        chinese = quote(f"转移避险-{evacuation_id}.xlsx")
        return Stream(
            _file_chunks(path),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={
                "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{chinese}",
                "Content-Length": str(path.stat().st_size),
                "X-Row-Count": str(households),
                "Cache-Control": "no-store",
            },
        )
