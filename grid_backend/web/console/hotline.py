"""The console's hotline page (docs/api.md, "Hotline intake"): the duty officer files a case
for a caller of the 12345/12350 hotline (or as staff for someone), with the place picked on the
map, searched by name or typed as an address, and possible duplicates shown before saving. The
page's script (hotline.js) calls /api/v1/hotline-reports, /api/v1/media and the duplicate check."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from grid_backend.core.auth import CurrentCaller
from grid_backend.core.types import QueryId
from grid_backend.people.duty import grants_of
from grid_backend.stats import labels
from grid_backend.web import i18n
from grid_backend.web.console.map import area_choices, category_names, map_config, pick_area

CHANNELS = ("hotline_12345", "hotline_12350", "staff")


class HotlinePage(Controller):
    include_in_schema = False

    @get("/hotline", name="console:hotline")
    async def hotline_page(self, caller: CurrentCaller, area_id: QueryId = None) -> Template:
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "report.on_behalf")
        area = pick_area(choices, area_id)
        en = i18n.current_language() == "en"
        return Template(
            template_name="console/hotline.html",
            context={
                "choices": choices,
                "area": area,
                "channels": {c: labels.name(labels.CHANNEL, c, en) for c in CHANNELS},
                "categories": await category_names(),
                "config": {
                    **map_config(),
                    "area_id": area["id"] if area else None,
                    "language": i18n.current_language(),
                },
            },
        )
