"""The console's webhooks page (docs/webhooks.md): the subscribers, registering one (its
secret shown once), pausing, resuming, a test event, deleting, and a subscriber's delivery
log. Admins only; the writes go through /api/v1/webhooks from the page's script
(webhooks.js)."""

from __future__ import annotations

from typing import Any, get_args

from litestar import Controller, get
from litestar.response import Template

from grid_backend.areas.tables import Area
from grid_backend.core import policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.pagination import Cursor
from grid_backend.core.types import QueryId
from grid_backend.notify.schemas import WebhookKind
from grid_backend.notify.services import subscribers
from grid_backend.people.duty import grants_of
from grid_backend.web.console.cases import page

KINDS = get_args(WebhookKind)


class WebhooksPage(Controller):
    include_in_schema = False

    @get("/webhooks", name="console:webhooks")
    async def webhooks_page(
        self, caller: CurrentCaller, webhook_id: QueryId = None, cursor: Cursor = None
    ) -> Template:
        grants = await grants_of(caller.account_id)
        city = await Area.select(Area.path).where(Area.level == "city").first().run()
        context: dict[str, Any] = {"allowed": False, "kinds": KINDS}
        if not policy.allows(grants, "webhook.manage", city["path"] if city else "\x00"):
            return page("webhooks.html", context)
        listed = await subscribers.list_subscribers(limit=200, cursor=None)
        chosen = next((s for s in listed.items if s.id == webhook_id), None)
        log = (
            await subscribers.deliveries(subscriber_id=chosen.id, limit=50, cursor=cursor)
            if chosen
            else None
        )
        context.update(allowed=True, hooks=listed.items, chosen=chosen, log=log)
        return page("webhooks.html", context)
