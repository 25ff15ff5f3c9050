"""The console's patrol page: plans, the duty roster per grid, today's tasks board, a task's
check-ins on a small map, and excusing a miss. Reads go through the patrols and people
services; changes are made by the page's script through the same JSON API as the apps."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, get
from litestar.params import FromQuery
from litestar.response import Template

from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.types import QueryId, in_window
from grid_backend.patrols import services as patrols
from grid_backend.patrols.schemas import PlanSummary, TaskRead
from grid_backend.people import services as people
from grid_backend.people.duty import grants_of
from grid_backend.people.schemas import AssignmentRead
from grid_backend.people.tables import Account
from grid_backend.web.console.map import area_choices, map_config, pick_area

BOARD = (
    ("scheduled", "Not started"),
    ("in_progress", "In progress"),
    ("completed", "Done"),
    ("missed", "Missed"),
)
MAX_ROWS = 1_000  # what one page shows; a township has tens of grids and tasks a day
GRID_DUTIES = ("grid_leader", "grid_worker", "emergency_officer", "grid_instructor", "responder")


async def all_pages(fetch: Any, **kw: Any) -> list[Any]:
    """Follow a service's cursor pages up to MAX_ROWS items."""
    items: list[Any] = []
    cursor = None
    while len(items) < MAX_ROWS:
        page = await fetch(limit=200, cursor=cursor, **kw)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return items


async def grids_under(path: str) -> list[dict[str, Any]]:
    return (
        await Area.select(Area.id, Area.code, Area.name, Area.path)
        .where((Area.level == "grid") & Area.path.like(path + "%"))
        .order_by(Area.code)
        .limit(MAX_ROWS)
        .run()
    )


async def roster(
    grants: list[policy.Grant], account_id: int, area: dict[str, Any], day: date
) -> dict[int, list[AssignmentRead]]:
    """Grid duties held today under the area, by grid."""
    rows: list[AssignmentRead] = await all_pages(
        people.list_assignments,
        grants=grants,
        caller_id=account_id,
        area_id=area["id"],
        active_on=day,
    )
    by_grid: dict[int, list[AssignmentRead]] = {}
    for a in rows:
        if a.duty in GRID_DUTIES and a.area_level == "grid":
            by_grid.setdefault(a.area_id, []).append(a)
    for people_here in by_grid.values():
        people_here.sort(key=lambda a: (GRID_DUTIES.index(a.duty), a.account_name))
    return by_grid


async def names_of(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await Account.select(Account.id, Account.name).where(Account.id.is_in(sorted(ids))).run()
    return {r["id"]: r["name"] for r in rows}


class PatrolsPage(Controller):
    include_in_schema = False

    @get("/patrols", name="console:patrols")
    async def patrols_page(
        self,
        caller: CurrentCaller,
        area_id: QueryId = None,
        day: FromQuery[date | None] = None,
    ) -> Template:
        in_window("day", day)
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "patrol.review")
        area = pick_area(choices, area_id)
        day = day or clock.today()
        context: dict[str, Any] = {"choices": choices, "area": area, "day": day}
        if area is None:
            return Template(template_name="console/patrols.html", context=context)
        plans: list[PlanSummary] = await all_pages(
            patrols.list_plans, grants=grants, area_path=area["path"]
        )
        tasks: list[TaskRead] = await all_pages(
            patrols.list_tasks, grants=grants, area_path=area["path"], date_from=day, date_to=day
        )
        tasks.sort(key=lambda task: (task.window_start, task.id))
        by_grid = await roster(grants, caller.account_id, area, clock.today())
        names = await names_of(
            {t.assignee_id for t in tasks if t.assignee_id}
            | {p.account_id for p in plans if p.account_id}
        )
        grids = await grids_under(area["path"])
        context.update(
            plans=plans,
            board=[(key, label, [t for t in tasks if t.status == key]) for key, label in BOARD],
            grids=grids,
            roster=by_grid,
            names=names,
            may_plan=policy.allows(grants, "patrol.plan", area["path"]),
            may_excuse=policy.allows(grants, "patrol.excuse", area["path"]),
            config={
                **map_config(),
                "grids": [{"id": g["id"], "name": g["name"]} for g in grids],
                "team": {
                    str(grid_id): [
                        {"id": a.account_id, "name": a.account_name, "duty": a.duty}
                        for a in members
                    ]
                    for grid_id, members in by_grid.items()
                },
                "may_excuse": policy.allows(grants, "patrol.excuse", area["path"]),
            },
        )
        return Template(template_name="console/patrols.html", context=context)
