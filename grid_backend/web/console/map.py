"""The console's risk map: grid outlines coloured by open cases or risk level, risk points,
open cases and active warnings as layers; the page's script reads them from the JSON API
(hazards.map, with the grid layers of areas.map) in the datum the map's tiles need."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.response import Template

from grid_backend.areas.tables import Area
from grid_backend.core import policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.db import under
from grid_backend.core.types import QueryId
from grid_backend.hazards.services import categories
from grid_backend.people.duty import grants_of
from grid_backend.settings import get_settings
from grid_backend.stats import labels
from grid_backend.web import i18n

MAX_CHOICES = 500


async def area_choices(grants: list[policy.Grant], action: str) -> list[dict[str, Any]]:
    """The areas a console page can be narrowed to: the caller's own areas for this action,
    and the townships below any of them held higher up (a district, the city)."""
    scopes = policy.scopes(grants, action)
    if not scopes:
        return []
    columns = (Area.id, Area.code, Area.name, Area.level, Area.path)
    own = await Area.select(*columns).where(Area.path.is_in(scopes)).run()
    high = [a["path"] for a in own if a["level"] in ("city", "district")]
    townships = (
        await Area.select(*columns)
        .where((Area.level == "township") & under(Area.path, high))
        .order_by(Area.path)
        .limit(MAX_CHOICES)
        .run()
        if high
        else []
    )
    return sorted(own, key=lambda a: a["path"]) + townships


def pick_area(choices: list[dict[str, Any]], area_id: int | None) -> dict[str, Any] | None:
    """The chosen area if it is one of the choices, else the first (the caller's own)."""
    for choice in choices:
        if choice["id"] == area_id:
            return choice
    return choices[0] if choices else None


def map_config() -> dict[str, str]:
    """Tiles and the datum positions are drawn in: WGS-84 on a plain background."""
    settings = get_settings()
    url = settings.map_tile_url
    return {
        "tile_url": url,
        "attribution": settings.map_tile_attribution,
        "datum": settings.map_tile_datum if url else "wgs84",
        "timezone": settings.timezone,  # times in page scripts show in the configured zone
    }


def status_names(en: bool) -> dict[str, str]:
    """Each case status's staff name in the page's language, for page scripts."""
    return {code: labels.name(labels.STATUS, code, en) for code in labels.STATUS}


async def category_names() -> dict[str, str]:
    """Category code -> its name in the page's language."""
    en = i18n.current_language() == "en"
    return {c.code: c.name_en if en else c.name_zh for c in await categories()}


class MapPage(Controller):
    include_in_schema = False

    @get("/map", name="console:map")
    async def map_page(self, caller: CurrentCaller, area_id: QueryId = None) -> Template:
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "risk_point.read")
        area = pick_area(choices, area_id)
        en = i18n.current_language() == "en"
        return Template(
            template_name="console/map.html",
            context={
                "choices": choices,
                "area": area,
                "config": {
                    **map_config(),
                    "area_id": area["id"] if area else None,
                    # case tooltips name the stage in the page's language, never its code
                    "status_names": status_names(en),
                    "category_names": await category_names(),
                },
            },
        )
