"""The console's households page: the threatened households (受威胁户) of an area, paginated and
filtered, the form that registers and changes one, retiring, and the office's Excel ledger
(template, export, import). Reads go through the audited service; writes go through the
households API from the page's script."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import clock, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.db import under
from grid_backend.core.types import LINE_PATTERN, QueryId
from grid_backend.evacuation import households
from grid_backend.evacuation import services as shelters
from grid_backend.people.duty import grants_of
from grid_backend.people.tables import Account, Assignment
from grid_backend.web.console.map import area_choices, pick_area

PAGE_SIZE = 50
MAX_CHOICES = 500
Cursor = Annotated[str | None, QueryParameter(max_length=200, pattern=LINE_PATTERN)]


async def _grids(path: str) -> list[dict[str, Any]]:
    return (
        await Area.select(Area.id, Area.code, Area.name)
        .where((Area.level == "grid") & Area.path.like(path + "%"))
        .order_by(Area.path)
        .limit(MAX_CHOICES)
        .run()
    )


async def _helpers(path: str) -> list[dict[str, Any]]:
    """People who may be a household's helper here: on duty today in the area, inside it, or
    over it below the city (the API checks the grid itself)."""
    today = clock.today()
    above = [p for p in policy.ancestors_and_self(path) if p.count("/") > 1]
    rows = (
        await Assignment.select(Assignment.account, Assignment.duty)
        .where(
            (under(Assignment.area_path, [path]) | Assignment.area_path.is_in(above or [path]))
            & (Assignment.valid_from <= today)
            & ((Assignment.valid_to.is_null()) | (Assignment.valid_to >= today))
        )
        .order_by(Assignment.id)
        .limit(MAX_CHOICES)
        .run()
    )
    ids = list(dict.fromkeys(int(r["account"]) for r in rows))
    if not ids:
        return []
    names = {
        r["id"]: r["name"]
        for r in await Account.select(Account.id, Account.name)
        .where(Account.id.is_in(ids) & (Account.is_active == True))  # noqa: E712
        .run()
    }
    duty = {int(r["account"]): r["duty"] for r in reversed(rows)}
    return [{"id": i, "name": names[i], "duty": duty[i]} for i in ids if i in names]


async def _risk_points(path: str) -> list[dict[str, Any]]:
    return (
        await RiskPoint.select(RiskPoint.id, RiskPoint.code, RiskPoint.name)
        .where(RiskPoint.area_path.like(path + "%"))
        .order_by(RiskPoint.code)
        .limit(MAX_CHOICES)
        .run()
    )


class HouseholdsPage(Controller):
    include_in_schema = False

    @get("/households", name="console:households")
    async def households_page(
        self,
        caller: CurrentCaller,
        area_id: QueryId = None,
        helper_id: QueryId = None,
        shelter_id: QueryId = None,
        vulnerable: FromQuery[bool] = False,
        q: Annotated[str | None, QueryParameter(max_length=100, pattern=LINE_PATTERN)] = None,
        cursor: Cursor = None,
    ) -> Template:
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "household.read")
        area = pick_area(choices, area_id)
        if area is None:
            return Template(
                template_name="console/error.html",
                context={"code": "forbidden", "status": 403},
                status_code=403,
            )
        # a micro-grid's staff see their grid's households (their 十户联防 neighbours, masked)
        path = policy.ancestor_path(area["path"], "grid")
        filters = {
            "area_id": area["id"],
            "helper_id": helper_id,
            "shelter_id": shelter_id,
            "vulnerable": vulnerable or None,
            "q": q or None,
            "cursor": cursor,
        }
        page = await households.list_households(
            grants=grants,
            account_id=caller.account_id,
            area_path=path,
            helper_id=helper_id,
            shelter_id=shelter_id,
            vulnerable=True if vulnerable else None,
            q=q or None,
            limit=PAGE_SIZE,
            cursor=cursor,
            filters={k: v for k, v in filters.items() if v is not None},
        )
        served = await shelters.list_shelters(grants=grants, area_path=path, limit=200)
        may_manage = policy.allows(grants, "household.manage", path) or any(
            h.manageable for h in page.items
        )
        helpers = await _helpers(path)
        context: dict[str, Any] = {
            "choices": choices,
            "area": area,
            "filters": {
                "q": q or "",
                "vulnerable": vulnerable,
                "helper_id": helper_id,
                "shelter_id": shelter_id,
            },
            "filtered": bool(q or vulnerable or helper_id or shelter_id),
            "items": page.items,
            "next_cursor": page.next_cursor,
            "first_page": cursor is None,
            "shelters": [{"id": s.id, "name": s.name} for s in served.items],
            "helpers": helpers,
            "may_manage": may_manage,
        }
        if may_manage:
            context["form"] = {
                "grids": await _grids(path),
                "risk_points": await _risk_points(path),
                "households": {str(h.id): msgspec.to_builtins(h) for h in page.items},
            }
        return Template(template_name="console/households.html", context=context)
