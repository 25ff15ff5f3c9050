from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from grid_backend.areas.services import area_path_of
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.pagination import Cursor, DateFrom, DateTo, Limit
from grid_backend.core.types import DatumParam, PathId, QueryId, in_window
from grid_backend.people.caller import CurrentMember
from grid_backend.response import services
from grid_backend.response.schemas import (
    DispatchIn,
    MyResponsePage,
    ResponseList,
    ResponseRead,
    ResponseStatsRead,
    StepIn,
    SuggestionsRead,
    TeamCreate,
    TeamPage,
    TeamRead,
    TeamType,
    TeamUpdate,
    Tier,
    UrgentCasePage,
)


class ResponseController(Controller):
    """Responses to urgent cases: records and their steps, team dispatch and suggestions."""

    path = "/api/v1/reports"
    tags = ["response"]

    @get("/{report_id:int}/responses", summary="Responses to a case, with their steps")
    async def list_responses(
        self, member: CurrentMember, report_id: PathId, datum: DatumParam = "wgs84"
    ) -> ResponseList:
        return await services.list_responses(
            report_id=report_id,
            account_id=member.account_id,
            grants=member.grants,
            datum=datum,
        )

    @post(
        "/{report_id:int}/responses",
        summary="Dispatch a rescue team to an urgent case (again: its record, 200)",
    )
    async def dispatch(
        self, member: CurrentMember, report_id: PathId, data: JSONBody[DispatchIn]
    ) -> Response[ResponseRead]:
        record, created = await services.dispatch_team(
            report_id=report_id,
            data=data,
            account_id=member.account_id,
            grants=member.grants,
        )
        return Response(record, status_code=201 if created else 200)

    @post(
        "/{report_id:int}/responses/{response_id:int}/steps",
        status_code=HTTP_200_OK,
        summary="Record the next step: acknowledge, set_off, arrive, finish",
    )
    async def step(
        self,
        member: CurrentMember,
        report_id: PathId,
        response_id: PathId,
        data: JSONBody[StepIn],
    ) -> ResponseRead:
        return await services.record_step(
            report_id=report_id,
            response_id=response_id,
            data=data,
            account_id=member.account_id,
            grants=member.grants,
        )

    @get(
        "/{report_id:int}/team-suggestions",
        summary="The nearest active rescue teams of each tier serving the case's area",
    )
    async def suggestions(
        self,
        member: CurrentMember,
        report_id: PathId,
        per_tier: Annotated[int, QueryParameter(ge=1, le=20)] = 3,
        datum: DatumParam = "wgs84",
    ) -> SuggestionsRead:
        return await services.suggest_teams(
            report_id=report_id, grants=member.grants, per_tier=per_tier, datum=datum
        )


class UrgentCaseController(Controller):
    path = "/api/v1/urgent-cases"
    tags = ["response"]

    @get("", summary="Urgent cases in the caller's areas with their responses, newest first")
    async def list_urgent(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        open: FromQuery[bool | None] = None,
        waiting: FromQuery[bool | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> UrgentCasePage:
        return await services.list_urgent(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            open_only=open,
            waiting=waiting,
            limit=limit,
            cursor=cursor,
        )


class MyResponsesController(Controller):
    path = "/api/v1/me/responses"
    tags = ["response"]

    @get("", summary="The caller's own responses to urgent cases (unfinished unless finished=true)")
    async def mine(
        self,
        caller: CurrentCaller,
        finished: FromQuery[bool] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> MyResponsePage:
        return await services.my_responses(
            account_id=caller.account_id, finished=finished, limit=limit, cursor=cursor
        )


class RescueTeamController(Controller):
    path = "/api/v1/rescue-teams"
    tags = ["response"]

    @get("", summary="Rescue teams serving the caller's areas")
    async def list_teams(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        tier: FromQuery[Tier | None] = None,
        type: FromQuery[TeamType | None] = None,
        active: FromQuery[bool | None] = True,
        limit: Limit = 50,
        cursor: Cursor = None,
        datum: DatumParam = "wgs84",
    ) -> TeamPage:
        return await services.list_teams(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            tier=tier,
            team_type=type,
            active=active,
            limit=limit,
            cursor=cursor,
            datum=datum,
        )

    @post("", summary="Register a rescue team")
    async def create_team(self, member: CurrentMember, data: JSONBody[TeamCreate]) -> TeamRead:
        return await services.create_team(
            data=data, account_id=member.account_id, grants=member.grants
        )

    @get("/{team_id:int}", summary="One rescue team")
    async def read_team(
        self, member: CurrentMember, team_id: PathId, datum: DatumParam = "wgs84"
    ) -> TeamRead:
        return await services.read_team(team_id=team_id, grants=member.grants, datum=datum)

    @patch("/{team_id:int}", summary="Change a rescue team")
    async def update_team(
        self, member: CurrentMember, team_id: PathId, data: JSONBody[TeamUpdate]
    ) -> TeamRead:
        return await services.update_team(
            team_id=team_id, data=data, account_id=member.account_id, grants=member.grants
        )

    @delete("/{team_id:int}", status_code=HTTP_200_OK, summary="Retire a rescue team")
    async def retire_team(self, member: CurrentMember, team_id: PathId) -> TeamRead:
        return await services.retire_team(
            team_id=team_id, account_id=member.account_id, grants=member.grants
        )


class ResponseStatsController(Controller):
    path = "/api/v1/stats/response-times"
    tags = ["response"]

    @get("", summary="Reaction and arrival times of urgent cases (docs/metrics.md)")
    async def response_times(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        group_by: FromQuery[Literal["township", "district"]] = "township",
    ) -> ResponseStatsRead:
        in_window("from", date_from)
        in_window("to", date_to)
        return await services.response_times(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            date_from=date_from,
            date_to=date_to,
            group_by=group_by,
        )
