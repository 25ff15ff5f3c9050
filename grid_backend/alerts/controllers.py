from __future__ import annotations

from typing import Literal

from litestar import Controller, get, patch, post
from litestar.params import FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from grid_backend.alerts import services
from grid_backend.alerts.schemas import (
    AckRead,
    BoardLevel,
    BoardRead,
    CalloutCreate,
    CalloutPage,
    CalloutRead,
    CancelIn,
    MyCalloutPage,
    RecipientFilter,
    WarningCreate,
    WarningLevel,
    WarningPage,
    WarningRead,
    WarningUpdate,
)
from grid_backend.areas.services import area_path_of
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import PathId, QueryId
from grid_backend.people.caller import CurrentMember


class WarningController(Controller):
    path = "/api/v1/warnings"
    tags = ["alerts"]

    @post("", summary="Issue a warning (yellow and above add patrol rounds and a callout)")
    async def issue(self, member: CurrentMember, data: JSONBody[WarningCreate]) -> WarningRead:
        return await services.issue_warning(
            data=data, account_id=member.account_id, grants=member.grants
        )

    @get("", summary="Warnings overlapping the caller's area, newest first")
    async def list_warnings(
        self,
        member: CurrentMember,
        active: FromQuery[bool | None] = None,
        level: FromQuery[WarningLevel | None] = None,
        area_id: QueryId = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> WarningPage:
        return await services.list_warnings(
            grants=member.grants,
            active=active,
            level=level,
            area_path=await area_path_of(area_id),
            limit=limit,
            cursor=cursor,
        )

    @get("/{warning_id:int}", summary="One warning")
    async def read(self, member: CurrentMember, warning_id: PathId) -> WarningRead:
        return await services.read_warning(warning_id=warning_id, grants=member.grants)

    @patch("/{warning_id:int}", summary="Change a warning; its rounds and callouts follow")
    async def update(
        self, member: CurrentMember, warning_id: PathId, data: JSONBody[WarningUpdate]
    ) -> WarningRead:
        return await services.update_warning(
            warning_id=warning_id,
            data=data,
            account_id=member.account_id,
            grants=member.grants,
        )

    @post("/{warning_id:int}/cancel", status_code=HTTP_200_OK, summary="Lift a warning")
    async def cancel(
        self, member: CurrentMember, warning_id: PathId, data: JSONBody[CancelIn]
    ) -> WarningRead:
        return await services.cancel_warning(
            warning_id=warning_id,
            reason=data.reason,
            account_id=member.account_id,
            grants=member.grants,
        )


class CalloutController(Controller):
    path = "/api/v1/callouts"
    tags = ["alerts"]

    @post("", summary="Call out the people of some areas, or a named list")
    async def create(self, member: CurrentMember, data: JSONBody[CalloutCreate]) -> CalloutRead:
        return await services.create_callout(
            data=data, account_id=member.account_id, grants=member.grants
        )

    @get("", summary="Callouts the caller watches or was sent, newest first")
    async def list_callouts(
        self,
        member: CurrentMember,
        warning_id: QueryId = None,
        status: FromQuery[Literal["active", "cancelled"] | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> CalloutPage:
        return await services.list_callouts(
            account_id=member.account_id,
            grants=member.grants,
            warning_id=warning_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )

    @get("/{callout_id:int}", summary="One callout")
    async def read(self, member: CurrentMember, callout_id: PathId) -> CalloutRead:
        return await services.read_callout(
            callout_id=callout_id, account_id=member.account_id, grants=member.grants
        )

    @post("/{callout_id:int}/ack", status_code=HTTP_200_OK, summary="Acknowledge (收到)")
    async def ack(self, caller: CurrentCaller, callout_id: PathId) -> AckRead:
        return await services.acknowledge(callout_id=callout_id, account_id=caller.account_id)

    @post("/{callout_id:int}/cancel", status_code=HTTP_200_OK, summary="Stop a callout")
    async def cancel(self, member: CurrentMember, callout_id: PathId) -> CalloutRead:
        return await services.cancel_callout(
            callout_id=callout_id, account_id=member.account_id, grants=member.grants
        )

    @get(
        "/{callout_id:int}/board",
        summary="Who has acknowledged: counts per area and the people, inside the caller's area",
    )
    async def board(
        self,
        member: CurrentMember,
        callout_id: PathId,
        level: FromQuery[BoardLevel] = "grid",
        area_id: QueryId = None,
        status: FromQuery[RecipientFilter | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> BoardRead:
        return await services.board(
            callout_id=callout_id,
            account_id=member.account_id,
            grants=member.grants,
            level=level,
            area_path=await area_path_of(area_id),
            status=status,
            limit=limit,
            cursor=cursor,
        )


class MyCalloutsController(Controller):
    path = "/api/v1/me/callouts"
    tags = ["alerts"]

    @get("", summary="Callouts sent to the caller; by default those waiting for a tap")
    async def mine(
        self,
        caller: CurrentCaller,
        status: FromQuery[Literal["pending", "acked", "all"]] = "pending",
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> MyCalloutPage:
        return await services.my_callouts(
            account_id=caller.account_id, status=status, limit=limit, cursor=cursor
        )
