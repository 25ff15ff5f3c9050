"""The console's evacuations (转移避险): the list (proposals first, with one-click confirm;
then those under way; then the ended), the start form, and an evacuation's board, which its
script keeps live from `GET /api/v1/events` (`evacuation.household` and the other
`evacuation.*` events). The pages call the same services as the API."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.response import Template

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import clock, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.db import under
from grid_backend.core.errors import DomainError
from grid_backend.core.types import PathId
from grid_backend.evacuation import runs
from grid_backend.evacuation import services as shelters
from grid_backend.evacuation.runs_schemas import EvacuationRead
from grid_backend.people.duty import grants_of
from grid_backend.settings import get_settings
from grid_backend.web import i18n
from grid_backend.web.console.map import area_choices
from grid_backend.web.console.patrols import MAX_ROWS

LEVELS = ("district", "township", "community", "grid")
SHOWN = 50  # evacuations of each kind on the list page


def _refused(code: str, status: int) -> Template:
    """The page with a sentence instead of its content (403 without evacuation duties, 404
    for an evacuation the caller does not see)."""
    return Template(
        template_name="console/evacuation.html",
        context={"refused": code},
        status_code=status,
    )


async def _start_targets(grants: list[policy.Grant]) -> tuple[list[Any], list[Any], bool]:
    """The areas (district down to grid) and active risk points the caller may start over;
    True when the grids are too many to list (a big district: 3,846 in 酉阳), and only the
    townships and communities are offered."""
    paths = [a["path"] for a in await area_choices(grants, "evacuation.start")]
    if not paths:
        return [], [], False

    async def listed(levels: list[str]) -> list[Any]:
        return (
            await Area.select(Area.id, Area.name, Area.level, Area.path)
            .where(under(Area.path, paths) & Area.level.is_in(levels))
            .order_by(Area.path)
            .limit(MAX_ROWS + 1)
            .run()
        )

    areas = await listed(list(LEVELS))
    grids_hidden = len(areas) > MAX_ROWS
    if grids_hidden:
        areas = (await listed([lv for lv in LEVELS if lv != "grid"]))[:MAX_ROWS]
    points = (
        await RiskPoint.select(RiskPoint.id, RiskPoint.name, RiskPoint.code)
        .where(under(RiskPoint.area_path, paths) & RiskPoint.is_active.eq(True))
        .order_by(RiskPoint.area_path, RiskPoint.id)
        .limit(MAX_ROWS)
        .run()
    )
    return areas, points, grids_hidden


def _elapsed(evacuation: EvacuationRead) -> str:
    """The time since the start (to the end, once ended), as people say it."""
    if evacuation.started_at is None:
        return ""
    end = evacuation.ended_at or clock.now()
    minutes = max(int((end - evacuation.started_at).total_seconds()) // 60, 0)
    if minutes < 60:
        return i18n.gettext("%(m)s min") % {"m": minutes}
    return i18n.gettext("%(h)s h %(m)s min") % {"h": minutes // 60, "m": minutes % 60}


class EvacuationsPage(Controller):
    include_in_schema = False

    @get("/evacuations", name="console:evacuations")
    async def evacuations_page(self, caller: CurrentCaller) -> Template:
        grants = await grants_of(caller.account_id)
        if not policy.scopes(grants, "evacuation.read"):
            return _refused("forbidden", 403)
        groups = {
            status: (await runs.list_evacuations(grants=grants, status=status, limit=SHOWN)).items
            for status in ("proposed", "active", "ended")
        }
        shown = [e.id for items in groups.values() for e in items]
        areas, points, grids_hidden = await _start_targets(grants)
        return Template(
            template_name="console/evacuations.html",
            context={
                "proposed": groups["proposed"],
                "active": groups["active"],
                "ended": groups["ended"],
                "rates": await runs.rates(evacuation_ids=shown, grants=grants),
                "holds": await runs.proposal_holds([e.id for e in groups["proposed"]]),
                "targets": areas,
                "grids_hidden": grids_hidden,
                "points": points,
                "levels": LEVELS,
                "elapsed": _elapsed,
            },
        )

    @get("/evacuations/{evacuation_id:int}", name="console:evacuation")
    async def evacuation_page(self, caller: CurrentCaller, evacuation_id: PathId) -> Template:
        grants = await grants_of(caller.account_id)
        if not policy.scopes(grants, "evacuation.read"):
            return _refused("forbidden", 403)
        try:
            evacuation = await runs.read_evacuation(evacuation_id=evacuation_id, grants=grants)
        except DomainError as error:
            return _refused(error.code, error.status)
        checks_in = bool(policy.scopes(grants, "evacuation.record")) or bool(
            policy.scopes(grants, "shelter.manage")
        )
        choices = (
            (await shelters.list_shelters(grants=grants, limit=100)).items
            if checks_in and policy.scopes(grants, "shelter.read")
            else []
        )
        return Template(
            template_name="console/evacuation.html",
            context={
                "evacuation": evacuation,
                "holds": (await runs.proposal_holds([evacuation.id])).get(evacuation.id)
                if evacuation.status == "proposed"
                else None,
                "levels": LEVELS,
                "shelters": [s for s in choices if s.open],
                "checks_in": checks_in and evacuation.status == "active",
                "config": {
                    "evacuation_id": evacuation.id,
                    "status": evacuation.status,
                    "started_at": evacuation.started_at.isoformat()
                    if evacuation.started_at
                    else None,
                    "ended_at": evacuation.ended_at.isoformat() if evacuation.ended_at else None,
                    "timezone": get_settings().timezone,
                },
            },
        )
