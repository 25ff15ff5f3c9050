from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_200_OK

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
)


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
