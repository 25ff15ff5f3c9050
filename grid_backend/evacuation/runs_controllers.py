from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from grid_backend.core.errors import invalid
from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import PathId
from grid_backend.evacuation import runs
from grid_backend.evacuation.runs_schemas import (
    AnswerIn,
    AnswerRead,
    ArrivalIn,
    ArrivalRead,
    Board,
    BoardLevel,
    EvacuationEnd,
    EvacuationPage,
    EvacuationRead,
    EvacuationStart,
    EvacuationStatus,
    EventRead,
    HouseholdStatus,
    MyHouseholdPage,
    ResidentCardPage,
    StatusIn,
    TaskPage,
    TaskRead,
)
from grid_backend.people.caller import CurrentMember


def _key(request: Request[Any, Any, Any]) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 8 <= len(key) <= 100:
        raise invalid("Idempotency-Key", "8 to 100 characters")
    return key


def _created(result: Any, replayed: bool) -> Response[Any]:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(result, status_code=200 if replayed else 201, headers=headers)


class EvacuationController(Controller):
    """Evacuations (转移避险): started by hand or proposed by a warning, households moved by
    their helpers, checked in at shelters, and the board."""

    path = "/api/v1/evacuations"
    tags = ["evacuation"]

    @get("", summary="Evacuations overlapping the caller's areas, newest first")
    async def list_evacuations(
        self,
        member: CurrentMember,
        status: FromQuery[EvacuationStatus | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> EvacuationPage:
        return await runs.list_evacuations(
            grants=member.grants, status=status, limit=limit, cursor=cursor
        )

    @post("", summary="Start an evacuation (Idempotency-Key: a retry returns the first)")
    async def start(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        data: JSONBody[EvacuationStart],
    ) -> Response[EvacuationRead]:
        result, replayed = await runs.start_evacuation(
            data=data,
            account_id=member.account_id,
            grants=member.grants,
            idempotency_key=_key(request),
        )
        return _created(result, replayed)

    @get("/my-households", summary="The caller's households (as helper) in active evacuations")
    async def my_households(
        self, member: CurrentMember, limit: Limit = 100, cursor: Cursor = None
    ) -> MyHouseholdPage:
        return await runs.my_households(
            account_id=member.account_id, grants=member.grants, limit=limit, cursor=cursor
        )

    @get("/my-household", summary="A resident's own household in active evacuations")
    async def my_household(
        self, member: CurrentMember, limit: Limit = 20, cursor: Cursor = None
    ) -> ResidentCardPage:
        return await runs.my_household(account_id=member.account_id, limit=limit, cursor=cursor)

    @post(
        "/{evacuation_id:int}/my-household/answer",
        summary="A linked resident answers: moved or safe (Idempotency-Key or client_id)",
    )
    async def answer(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        evacuation_id: PathId,
        data: JSONBody[AnswerIn],
    ) -> Response[AnswerRead]:
        result, replayed = await runs.answer(
            evacuation_id=evacuation_id,
            data=data,
            account_id=member.account_id,
            idempotency_key=_key(request),
        )
        return _created(result, replayed)

    @get("/{evacuation_id:int}", summary="One evacuation")
    async def read(self, member: CurrentMember, evacuation_id: PathId) -> EvacuationRead:
        return await runs.read_evacuation(evacuation_id=evacuation_id, grants=member.grants)

    @post("/{evacuation_id:int}/confirm", status_code=HTTP_200_OK, summary="Confirm a proposal")
    async def confirm(self, member: CurrentMember, evacuation_id: PathId) -> EvacuationRead:
        return await runs.confirm_evacuation(
            evacuation_id=evacuation_id, account_id=member.account_id, grants=member.grants
        )

    @post("/{evacuation_id:int}/end", status_code=HTTP_200_OK, summary="End it: people return")
    async def end(
        self,
        member: CurrentMember,
        evacuation_id: PathId,
        data: JSONBody[EvacuationEnd | None] = None,
    ) -> EvacuationRead:
        return await runs.end_evacuation(
            evacuation_id=evacuation_id,
            data=data or EvacuationEnd(),
            account_id=member.account_id,
            grants=member.grants,
        )

    @get("/{evacuation_id:int}/households", summary="Its households the caller may see")
    async def households(
        self,
        member: CurrentMember,
        evacuation_id: PathId,
        mine: FromQuery[bool] = False,
        status: FromQuery[HouseholdStatus | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> TaskPage:
        return await runs.list_tasks(
            evacuation_id=evacuation_id,
            account_id=member.account_id,
            grants=member.grants,
            mine=mine,
            status=status,
            limit=limit,
            cursor=cursor,
        )

    @get("/{evacuation_id:int}/households/{household_id:int}", summary="One household's task")
    async def household(
        self, member: CurrentMember, evacuation_id: PathId, household_id: PathId
    ) -> TaskRead:
        return await runs.read_task(
            evacuation_id=evacuation_id,
            household_id=household_id,
            account_id=member.account_id,
            grants=member.grants,
        )

    @get(
        "/{evacuation_id:int}/households/{household_id:int}/timeline",
        summary="A household's status changes, oldest first",
    )
    async def household_timeline(
        self, member: CurrentMember, evacuation_id: PathId, household_id: PathId
    ) -> list[EventRead]:
        return await runs.timeline(
            evacuation_id=evacuation_id,
            household_id=household_id,
            account_id=member.account_id,
            grants=member.grants,
        )

    @post(
        "/{evacuation_id:int}/households/{household_id:int}/status",
        summary="Record a household's status (Idempotency-Key or client_id)",
    )
    async def status(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        evacuation_id: PathId,
        household_id: PathId,
        data: JSONBody[StatusIn],
    ) -> Response[EventRead]:
        result, replayed = await runs.record_status(
            evacuation_id=evacuation_id,
            household_id=household_id,
            data=data,
            account_id=member.account_id,
            grants=member.grants,
            idempotency_key=_key(request),
        )
        return _created(result, replayed)

    @post(
        "/{evacuation_id:int}/shelters/{shelter_id:int}/arrivals",
        summary="Check people in at a shelter: a household or a headcount (Idempotency-Key)",
    )
    async def arrival(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        evacuation_id: PathId,
        shelter_id: PathId,
        data: JSONBody[ArrivalIn],
    ) -> Response[ArrivalRead]:
        result, replayed = await runs.check_in(
            evacuation_id=evacuation_id,
            shelter_id=shelter_id,
            data=data,
            account_id=member.account_id,
            grants=member.grants,
            idempotency_key=_key(request),
        )
        return _created(result, replayed)

    @get("/{evacuation_id:int}/board", summary="The board: counts by area, helpers, shelters")
    async def board(
        self,
        member: CurrentMember,
        evacuation_id: PathId,
        level: FromQuery[BoardLevel] = "township",
    ) -> Board:
        return await runs.board(evacuation_id=evacuation_id, level=level, grants=member.grants)
