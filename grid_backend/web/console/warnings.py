"""The console's warnings page: issue a warning (with a callout), the warnings in force, and
the live acknowledgement board of a callout (its script follows `GET /api/v1/events`)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.response import Template

from grid_backend.alerts import services as alerts
from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.types import QueryId
from grid_backend.people.duty import grants_of
from grid_backend.settings import get_settings
from grid_backend.web.console.map import area_choices, pick_area
from grid_backend.web.console.patrols import MAX_ROWS

LEVELS = ("blue", "yellow", "orange", "red")
TYPES = ("heavy_rain", "geological", "flood", "forest_fire", "other")


class WarningsPage(Controller):
    include_in_schema = False

    @get("/warnings", name="console:warnings")
    async def warnings_page(
        self,
        caller: CurrentCaller,
        area_id: QueryId = None,
        callout_id: QueryId = None,
    ) -> Template:
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "warning.read")
        area = pick_area(choices, area_id)
        context: dict[str, Any] = {"choices": choices, "area": area}
        if area is None:
            return Template(template_name="console/warnings.html", context=context)
        warnings = await alerts.list_warnings(grants=grants, area_path=area["path"], limit=50)
        callouts = await alerts.list_callouts(account_id=caller.account_id, grants=grants, limit=50)
        watched = [c for c in callouts.items if c.recipients is not None]
        chosen = next((c for c in watched if c.id == callout_id), None) or next(
            (c for c in watched if c.status == "active"), None
        )
        targets = (
            await Area.select(Area.id, Area.code, Area.name, Area.level)
            .where(
                Area.path.like(area["path"] + "%")
                & Area.level.is_in(["district", "township", "community", "grid"])
            )
            .order_by(Area.path)
            .limit(MAX_ROWS)
            .run()
        )
        context.update(
            warnings=warnings.items,
            callouts=watched,
            chosen=chosen,
            targets=targets,
            levels=LEVELS,
            types=TYPES,
            now=clock.now(),
            may_issue=policy.allows(grants, "alert.issue", area["path"]),
            timezone=get_settings().timezone,
        )
        return Template(template_name="console/warnings.html", context=context)
