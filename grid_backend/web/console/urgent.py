"""The console's urgent cases page: urgent cases with their response records (alerted,
acknowledged, set off, arrived, finished) against the city's targets, and rescue teams
suggested and dispatched through the response API from the page's script."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.params import FromQuery
from litestar.response import Template

from grid_backend.core import policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.types import QueryId
from grid_backend.people.duty import grants_of
from grid_backend.response import services as response
from grid_backend.settings import get_settings
from grid_backend.web.console.map import area_choices, pick_area


class UrgentPage(Controller):
    include_in_schema = False

    @get("/urgent", name="console:urgent")
    async def urgent_page(
        self,
        caller: CurrentCaller,
        area_id: QueryId = None,
        show: FromQuery[str] = "open",
    ) -> Template:
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "report.read")
        area = pick_area(choices, area_id)
        context: dict[str, Any] = {"choices": choices, "area": area, "show": show}
        if area is None:
            return Template(template_name="console/urgent.html", context=context)
        page = await response.list_urgent(
            grants=grants,
            area_path=area["path"],
            open_only=True if show == "open" else None,
            waiting=True if show == "waiting" else None,
            limit=100,
        )
        settings = get_settings()
        context.update(
            cases=page.items,
            more=page.next_cursor is not None,
            may_dispatch=policy.allows(grants, "response.dispatch", area["path"]),
            targets={
                "reaction": settings.response_reaction_target_minutes,
                "ground": settings.response_ground_target_minutes,
                "air": settings.response_air_target_minutes,
            },
        )
        return Template(template_name="console/urgent.html", context=context)
