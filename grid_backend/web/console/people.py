"""The console's people page: who is on duty where, grids lacking a leader, worker or
emergency officer, finding people (residents' numbers masked), appointing and ending duties
(through the assignments API from the page's script)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import QueryParameter
from litestar.response import Template

from grid_backend.areas import services as areas
from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.types import LINE_PATTERN, QueryId
from grid_backend.people import services as people
from grid_backend.people.duty import grants_of
from grid_backend.people.schemas import AssignmentRead
from grid_backend.web.console.map import area_choices, pick_area
from grid_backend.web.console.patrols import MAX_ROWS, all_pages

ORDER = {d: i for i, d in enumerate(policy.DUTIES)}


class PeoplePage(Controller):
    include_in_schema = False

    @get("/people", name="console:people")
    async def people_page(
        self,
        caller: CurrentCaller,
        area_id: QueryId = None,
        q: Annotated[str | None, QueryParameter(max_length=100, pattern=LINE_PATTERN)] = None,
    ) -> Template:
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "assignment.read")
        area = pick_area(choices, area_id)
        context: dict[str, Any] = {"choices": choices, "area": area, "q": q or ""}
        if area is None:
            return Template(template_name="console/people.html", context=context)
        path = area["path"]
        assignments: list[AssignmentRead] = await all_pages(
            people.list_assignments,
            grants=grants,
            caller_id=caller.account_id,
            area_id=area["id"],
            active_on=clock.today(),
        )
        by_area: dict[int, list[AssignmentRead]] = {}
        for a in assignments:
            by_area.setdefault(a.area_id, []).append(a)
        for held in by_area.values():
            held.sort(key=lambda a: (ORDER.get(a.duty, 99), a.account_name))
        units = (
            await Area.select(Area.id, Area.code, Area.name, Area.level)
            .where(
                Area.path.like(path + "%")
                & Area.level.is_in(["township", "community", "grid"])
                & ((Area.level != "community") | Area.id.is_in(list(by_area) or [0]))
            )
            .order_by(Area.path)
            .limit(MAX_ROWS)
            .run()
        )
        lacking: dict[int, list[str]] = {}
        summary = None
        if policy.allows(grants, "area.coverage", path):
            summary = await areas.coverage(
                area_id=area["id"], grants=grants, limit=200, cursor=None
            )
            cursor = summary.next_cursor
            gaps = list(summary.items)
            while cursor and len(gaps) < MAX_ROWS:
                more = await areas.coverage(
                    area_id=area["id"], grants=grants, limit=200, cursor=cursor
                )
                gaps.extend(more.items)
                cursor = more.next_cursor
            lacking = {g.id: g.missing for g in gaps}
        found = await people.find_accounts(grants=grants, q=q, area_id=area["id"], limit=100)
        context.update(
            units=units,
            by_area=by_area,
            lacking=lacking,
            coverage=summary,
            accounts=found.items,
            more_accounts=found.next_cursor is not None,
            may_manage=policy.allows(grants, "assignment.manage", path),
            duties=[d for d in policy.DUTIES if policy.may_appoint(grants, d, path)],
            boards=policy.BOARDS,
            today=clock.today(),
        )
        return Template(template_name="console/people.html", context=context)
