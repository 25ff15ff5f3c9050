"""The console's exports page: the hazard ledger of an area and period as Excel or CSV, served
by GET /api/v1/reports/export (the form below submits straight to it)."""

from __future__ import annotations

from datetime import timedelta

from litestar import Controller, get
from litestar.response import Template

from grid_backend.core import clock
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.pagination import DateFrom, DateTo
from grid_backend.core.types import QueryId, in_window
from grid_backend.people.duty import grants_of
from grid_backend.stats.ledger import COLUMNS, MAX_ROWS
from grid_backend.web.console.cases import page
from grid_backend.web.console.map import area_choices


class ExportsPage(Controller):
    include_in_schema = False

    @get("/exports", name="console:exports")
    async def exports(
        self,
        caller: CurrentCaller,
        area_id: QueryId = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
    ) -> Template:
        in_window("from", date_from)
        in_window("to", date_to)
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "report.export")
        today = clock.today()
        date_to = date_to or today
        return page(
            "exports.html",
            {
                "choices": choices,
                "area_id": area_id,
                "date_from": date_from or date_to - timedelta(days=29),
                "date_to": date_to,
                "columns": COLUMNS,
                "max_rows": MAX_ROWS,
                "month_start": today.replace(day=1),
                "year_start": today.replace(month=1, day=1),
                "today": today,
            },
        )
