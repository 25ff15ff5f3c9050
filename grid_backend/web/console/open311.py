"""The console's Open311 clients page (admins): the integrators' keys, issued and revoked
through /api/v1/open311-clients from the page's script (open311.js), the new key shown once."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.response import Template

from grid_backend.core.auth import CurrentCaller
from grid_backend.core.errors import DomainError
from grid_backend.core.pagination import Cursor
from grid_backend.open311 import clients
from grid_backend.people.duty import grants_of
from grid_backend.web.console.cases import page


class Open311Page(Controller):
    include_in_schema = False

    @get("/open311", name="console:open311")
    async def open311_page(self, caller: CurrentCaller, cursor: Cursor = None) -> Template:
        grants = await grants_of(caller.account_id)
        try:
            await clients.require_admin(grants)
        except DomainError:
            return Template(
                template_name="console/error.html",
                context={"code": "forbidden", "status": 403},
                status_code=403,
            )
        found = await clients.list_clients(limit=50, cursor=cursor)
        context: dict[str, Any] = {
            "clients": found.items,
            "next_cursor": found.next_cursor,
            "first_page": cursor is None,
        }
        return page("open311.html", context)
