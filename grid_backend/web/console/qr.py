"""The console's QR code page (扫码报灾, docs/qr.md): a community's (or grid's) places, its grids
and active risk points, each with its working code (a preview, scans, when and by whom it was
issued), a page of grids at a time; the withdrawn codes on request. Issuing, reissuing, revoking
and "issue all missing" go through /api/v1/qr-codes from the page's script (qr.js)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.db import under
from grid_backend.core.pagination import Cursor, decode, encode
from grid_backend.core.types import QueryId
from grid_backend.evacuation import qrcodes
from grid_backend.evacuation.qrcodes import QrCodeRead
from grid_backend.people.duty import grants_of
from grid_backend.web.console.cases import page
from grid_backend.web.console.map import MAX_CHOICES
from grid_backend.web.console.patrols import MAX_ROWS, all_pages, names_of

GRIDS_PER_PAGE = 20  # each with its risk points
REVOKED_PER_PAGE = 50


async def qr_choices(grants: list[policy.Grant]) -> list[dict[str, Any]]:
    """The areas the page can show: the communities under the caller's `qr.manage` areas, and
    the grids they hold themselves (a grid leader's), each named with its parent."""
    scopes = policy.scopes(grants, "qr.manage")
    if not scopes:
        return []
    columns = (
        Area.id,
        Area.code,
        Area.name,
        Area.level,
        Area.path,
        Area.parent.name.as_alias("parent_name"),
    )
    rows = (
        await Area.select(*columns)
        .where(
            ((Area.level == "community") & under(Area.path, scopes))
            | ((Area.level == "grid") & Area.path.is_in(scopes))
        )
        .order_by(Area.path)
        .limit(MAX_CHOICES)
        .run()
    )
    for row in rows:
        row["label"] = (
            f"{row['parent_name']} / {row['name']}" if row["parent_name"] else row["name"]
        )
    return rows


async def places(
    area: dict[str, Any], cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the area's grids (by id, after the cursor's), each followed by its active
    risk points; and the next page's cursor (None on the last page)."""
    query = Area.select(Area.id, Area.code, Area.name, Area.path).where(
        (Area.level == "grid") & Area.path.like(area["path"] + "%")
    )
    after = decode(cursor, "qr-places", "id")
    if after is not None:
        query = query.where(Area.id > after[0])
    grids = await query.order_by(Area.id).limit(GRIDS_PER_PAGE + 1).run()
    more = len(grids) > GRIDS_PER_PAGE
    following = encode("qr-places", grids[GRIDS_PER_PAGE - 1]["id"]) if more else None
    grids = grids[:GRIDS_PER_PAGE]
    points = (
        await RiskPoint.select(RiskPoint.id, RiskPoint.name, RiskPoint.risk_level, RiskPoint.grid)
        .where(
            RiskPoint.grid.is_in([g["id"] for g in grids] or [0]),
            RiskPoint.is_active.eq(True),
        )
        .order_by(RiskPoint.name)
        .limit(MAX_ROWS)
        .run()
    )
    rows: list[dict[str, Any]] = []
    for grid in grids:
        rows.append({"target": "grid", "id": grid["id"], "name": grid["name"], "grid": grid})
        rows += [
            {"target": "risk_point", "id": p["id"], "name": p["name"], "level": p["risk_level"]}
            for p in points
            if p["grid"] == grid["id"]
        ]
    return rows, following


async def _places_count(path: str) -> int:
    """The grids and active risk points of an area (the codes it can have)."""
    grids = await Area.count().where((Area.level == "grid") & Area.path.like(path + "%"))
    points = await RiskPoint.count().where(
        RiskPoint.area_path.like(path + "%"), RiskPoint.is_active.eq(True)
    )
    return grids + points


class QrPage(Controller):
    include_in_schema = False

    @get("/qr", name="console:qr")
    async def qr_page(
        self,
        request: Request[Any, Any, Any],
        caller: CurrentCaller,
        area_id: QueryId = None,
        revoked: FromQuery[bool] = False,
        cursor: Cursor = None,
    ) -> Template:
        grants = await grants_of(caller.account_id)
        choices = await qr_choices(grants)
        if not choices:
            return Template(
                template_name="console/error.html",
                context={"code": "forbidden", "status": 403},
                status_code=403,
            )
        area = next((c for c in choices if c["id"] == area_id), choices[0])
        context: dict[str, Any] = {
            "choices": choices,
            "area": area,
            "revoked": revoked,
            "first_page": cursor is None,
        }
        base_url = str(request.base_url)
        if revoked:
            listed = await qrcodes.list_codes(
                area_id=area["id"],
                grants=grants,
                revoked=True,
                limit=REVOKED_PER_PAGE,
                cursor=cursor,
                base_url=base_url,
            )
            context.update(
                codes=listed.items,
                next_cursor=listed.next_cursor,
                names=await names_of({c.created_by for c in listed.items if c.created_by}),
            )
            return page("qr.html", context)
        rows, following = await places(area, cursor)
        live: list[QrCodeRead] = await all_pages(
            qrcodes.list_codes, area_id=area["id"], grants=grants, base_url=base_url
        )
        of_grid = {c.target_id: c for c in live if c.target == "grid"}
        of_point = {c.target_id: c for c in live if c.target == "risk_point"}
        for row in rows:
            row["code"] = (of_grid if row["target"] == "grid" else of_point).get(row["id"])
        context.update(
            rows=rows,
            next_cursor=following,
            missing=await _places_count(area["path"]) - len(live),
            names=await names_of({c.created_by for c in live if c.created_by}),
        )
        return page("qr.html", context)
