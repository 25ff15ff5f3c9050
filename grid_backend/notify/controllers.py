from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_200_OK

from grid_backend.areas.tables import Area
from grid_backend.core import policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import PathId
from grid_backend.notify import services
from grid_backend.notify.events import LiveEvents
from grid_backend.notify.schemas import (
    NotificationPage,
    NotificationRead,
    PreferencesRead,
    PreferencesWrite,
    ReadAllResult,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookPage,
    WebhookRead,
    WebhookTestQueued,
    WebhookUpdate,
)
from grid_backend.notify.services import subscribers
from grid_backend.people.caller import CurrentMember, Member


class InboxController(Controller):
    path = "/api/v1/me"
    tags = ["notifications"]

    @get("/notifications", summary="The caller's inbox, newest first, with the unread count")
    async def list_notifications(
        self,
        caller: CurrentCaller,
        request: Request[Any, Any, Any],
        unread: FromQuery[bool] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> NotificationPage:
        return await services.list_inbox(
            account_id=caller.account_id,
            unread_only=unread,
            limit=limit,
            cursor=cursor,
        )

    @post(
        "/notifications/{notification_id:int}/read",
        status_code=HTTP_200_OK,
        summary="Mark one notification read",
    )
    async def read_one(
        self, caller: CurrentCaller, request: Request[Any, Any, Any], notification_id: PathId
    ) -> NotificationRead:
        return await services.mark_read(
            account_id=caller.account_id,
            notification_id=notification_id,
        )

    @post("/notifications/read-all", status_code=HTTP_200_OK, summary="Mark the whole inbox read")
    async def read_all(self, caller: CurrentCaller) -> ReadAllResult:
        return await services.mark_all_read(account_id=caller.account_id)

    @get("/notification-preferences", summary="The caller's channels and quiet hours")
    async def preferences(self, caller: CurrentCaller) -> PreferencesRead:
        return await services.read_preferences(account_id=caller.account_id)

    @put("/notification-preferences", summary="Set the caller's channels and quiet hours")
    async def set_preferences(
        self, caller: CurrentCaller, data: JSONBody[PreferencesWrite]
    ) -> PreferencesRead:
        return await services.write_preferences(account_id=caller.account_id, data=data)


class EventsController(Controller):
    path = "/api/v1/events"
    tags = ["notifications"]

    @get(
        "",
        summary="Live events of the caller's own account (server-sent events)",
        media_type="text/event-stream",
        response_description="an endless text/event-stream",
        description="`event: notification` when an inbox item arrives, `inbox.read` and"
        " `inbox.read_all` when another device reads; a `: heartbeat` comment every 15 s.",
    )
    async def stream(
        self, caller: CurrentCaller, channels: NamedDependency[LiveEvents]
    ) -> ServerSentEvent:
        return ServerSentEvent(services.live_stream(plugin=channels, account_id=caller.account_id))


async def _require_admin(member: Member) -> None:
    """Webhooks carry every case of the city out: only admins (at the city) keep them."""
    city = await Area.select(Area.path).where(Area.level == "city").first().run()
    policy.require(member.grants, "webhook.manage", city["path"] if city else "\x00")


class WebhookController(Controller):
    """Outbound webhooks: other systems subscribed to case, warning, callout and evacuation
    events (docs/webhooks.md). Admins only."""

    path = "/api/v1/webhooks"
    tags = ["webhooks"]

    @get("", summary="Webhook subscribers (admins)")
    async def list_webhooks(
        self, member: CurrentMember, limit: Limit = 50, cursor: Cursor = None
    ) -> WebhookPage:
        await _require_admin(member)
        return await subscribers.list_subscribers(limit=limit, cursor=cursor)

    @post("", summary="Register a webhook subscriber; its secret is shown this once (admins)")
    async def create_webhook(
        self, member: CurrentMember, data: JSONBody[WebhookCreate]
    ) -> WebhookCreated:
        await _require_admin(member)
        return await subscribers.create_subscriber(data=data, account_id=member.account_id)

    @get("/{webhook_id:int}", summary="One webhook subscriber (admins)")
    async def read_webhook(self, member: CurrentMember, webhook_id: PathId) -> WebhookRead:
        await _require_admin(member)
        return await subscribers.read_subscriber(subscriber_id=webhook_id)

    @patch("/{webhook_id:int}", summary="Change a subscriber's name, URL, kinds or secret")
    async def update_webhook(
        self, member: CurrentMember, webhook_id: PathId, data: JSONBody[WebhookUpdate]
    ) -> WebhookRead:
        await _require_admin(member)
        return await subscribers.update_subscriber(
            subscriber_id=webhook_id, data=data, account_id=member.account_id
        )

    @post("/{webhook_id:int}/pause", status_code=HTTP_200_OK, summary="Pause a subscriber")
    async def pause_webhook(self, member: CurrentMember, webhook_id: PathId) -> WebhookRead:
        await _require_admin(member)
        return await subscribers.pause_subscriber(
            subscriber_id=webhook_id, account_id=member.account_id
        )

    @post(
        "/{webhook_id:int}/resume",
        status_code=HTTP_200_OK,
        summary="Resume a subscriber; the deliveries held meanwhile go first",
    )
    async def resume_webhook(self, member: CurrentMember, webhook_id: PathId) -> WebhookRead:
        await _require_admin(member)
        return await subscribers.resume_subscriber(
            subscriber_id=webhook_id, account_id=member.account_id
        )

    @delete("/{webhook_id:int}", status_code=HTTP_200_OK, summary="Delete a subscriber")
    async def delete_webhook(self, member: CurrentMember, webhook_id: PathId) -> WebhookRead:
        await _require_admin(member)
        return await subscribers.delete_subscriber(
            subscriber_id=webhook_id, account_id=member.account_id
        )

    @get("/{webhook_id:int}/deliveries", summary="A subscriber's delivery log, newest first")
    async def list_deliveries(
        self, member: CurrentMember, webhook_id: PathId, limit: Limit = 50, cursor: Cursor = None
    ) -> WebhookDeliveryPage:
        await _require_admin(member)
        return await subscribers.deliveries(subscriber_id=webhook_id, limit=limit, cursor=cursor)

    @post("/{webhook_id:int}/test", summary="Queue a test event for one subscriber")
    async def test_webhook(self, member: CurrentMember, webhook_id: PathId) -> WebhookTestQueued:
        await _require_admin(member)
        return await subscribers.send_test(subscriber_id=webhook_id, account_id=member.account_id)
