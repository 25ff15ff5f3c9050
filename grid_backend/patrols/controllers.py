from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromQuery, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK

from grid_backend.areas.services import area_path_of
from grid_backend.core import geojson
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.errors import invalid
from grid_backend.core.pagination import Cursor, DateFrom, DateTo, Limit
from grid_backend.core.types import DatumParam, PathId, QueryId, in_window
from grid_backend.patrols import services
from grid_backend.patrols.schemas import (
    CheckInCreate,
    CheckInRead,
    ExcuseIn,
    FinishIn,
    PlanCreate,
    PlanPage,
    PlanRead,
    PlanStatus,
    PlanUpdate,
    StartIn,
    StatsRead,
    TaskPage,
    TaskRead,
    TaskStatus,
)
from grid_backend.people.caller import CurrentMember


class PatrolPlanController(Controller):
    path = "/api/v1/patrol-plans"
    tags = ["patrols"]

    @post("", summary="Make a patrol plan for a grid (its tasks are made at once)")
    async def create_plan(self, member: CurrentMember, data: JSONBody[PlanCreate]) -> PlanRead:
        return await services.create_plan(
            data=data, account_id=member.account_id, grants=member.grants
        )

    @get("", summary="Patrol plans inside the caller's area")
    async def list_plans(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        status: FromQuery[PlanStatus | None] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> PlanPage:
        return await services.list_plans(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            status=status,
            limit=limit,
            cursor=cursor,
        )

    @get("/{plan_id:int}", summary="One patrol plan with its checkpoints and next windows")
    async def read_plan(
        self, member: CurrentMember, plan_id: PathId, datum: DatumParam = "wgs84"
    ) -> PlanRead:
        return await services.read_plan(plan_id=plan_id, grants=member.grants, datum=datum)

    @patch("/{plan_id:int}", summary="Change a plan; its tasks to come are made again")
    async def update_plan(
        self, member: CurrentMember, plan_id: PathId, data: JSONBody[PlanUpdate]
    ) -> PlanRead:
        return await services.update_plan(
            plan_id=plan_id, data=data, account_id=member.account_id, grants=member.grants
        )

    @post("/{plan_id:int}/pause", status_code=HTTP_200_OK, summary="Pause a plan")
    async def pause(self, member: CurrentMember, plan_id: PathId) -> PlanRead:
        return await services.set_plan_status(
            plan_id=plan_id,
            action="pause",
            account_id=member.account_id,
            grants=member.grants,
        )

    @post("/{plan_id:int}/resume", status_code=HTTP_200_OK, summary="Resume a paused plan")
    async def resume(self, member: CurrentMember, plan_id: PathId) -> PlanRead:
        return await services.set_plan_status(
            plan_id=plan_id,
            action="resume",
            account_id=member.account_id,
            grants=member.grants,
        )

    @post("/{plan_id:int}/end", status_code=HTTP_200_OK, summary="End a plan for good")
    async def end(self, member: CurrentMember, plan_id: PathId) -> PlanRead:
        return await services.set_plan_status(
            plan_id=plan_id,
            action="end",
            account_id=member.account_id,
            grants=member.grants,
        )


class PatrolTaskController(Controller):
    path = "/api/v1/tasks"
    tags = ["patrols"]

    @get("", summary="Patrol tasks inside the caller's area (supervisors)")
    async def list_tasks(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        plan_id: QueryId = None,
        status: FromQuery[TaskStatus | None] = None,
        unassigned: FromQuery[bool | None] = None,
        assignee_id: QueryId = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> TaskPage:
        in_window("from", date_from)
        in_window("to", date_to)
        return await services.list_tasks(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            plan_id=plan_id,
            status=status,
            unassigned=unassigned,
            assignee_id=assignee_id,
            date_from=date_from,
            date_to=date_to,
            limit=limit,
            cursor=cursor,
        )

    @get("/{task_id:int}", summary="One task with its checkpoints, check-ins and log")
    async def read_task(
        self, member: CurrentMember, task_id: PathId, datum: DatumParam = "wgs84"
    ) -> TaskRead:
        return await services.read_task(
            task_id=task_id, account_id=member.account_id, grants=member.grants, datum=datum
        )

    @post("/{task_id:int}/start", status_code=HTTP_200_OK, summary="Start one's patrol task")
    async def start(
        self,
        member: CurrentMember,
        task_id: PathId,
        data: JSONBody[StartIn | None] = None,
    ) -> TaskRead:
        return await services.start_task(
            task_id=task_id,
            account_id=member.account_id,
            grants=member.grants,
            device_time=data.device_time if data else None,
        )

    @post(
        "/{task_id:int}/check-ins",
        summary="Check in at a checkpoint (Idempotency-Key or client_id: a retry returns the first)",
    )
    async def check_in(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        task_id: PathId,
        data: JSONBody[CheckInCreate],
    ) -> Response[CheckInRead]:
        key = request.headers.get("idempotency-key")
        if key is not None and not 8 <= len(key) <= 100:
            raise invalid("Idempotency-Key", "8 to 100 characters")
        result, replayed = await services.check_in(
            task_id=task_id,
            data=data,
            account_id=member.account_id,
            grants=member.grants,
            idempotency_key=key,
        )
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(result, status_code=200 if replayed else 201, headers=headers)

    @post("/{task_id:int}/finish", status_code=HTTP_200_OK, summary="Finish with the patrol log")
    async def finish(
        self, member: CurrentMember, task_id: PathId, data: JSONBody[FinishIn]
    ) -> TaskRead:
        return await services.finish_task(
            task_id=task_id, data=data, account_id=member.account_id, grants=member.grants
        )

    @post("/{task_id:int}/excuse", status_code=HTTP_200_OK, summary="Excuse a missed task")
    async def excuse(
        self, member: CurrentMember, task_id: PathId, data: JSONBody[ExcuseIn]
    ) -> TaskRead:
        return await services.excuse_task(
            task_id=task_id,
            reason=data.reason,
            account_id=member.account_id,
            grants=member.grants,
        )


class MyTasksController(Controller):
    path = "/api/v1/me/tasks"
    tags = ["patrols"]

    @get("", summary="The caller's patrol tasks: today and upcoming, with checkpoints")
    async def my_tasks(
        self,
        caller: CurrentCaller,
        datum: DatumParam = "wgs84",
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> TaskPage:
        return await services.my_tasks(
            account_id=caller.account_id, datum=datum, limit=limit, cursor=cursor
        )


class PatrolStatsController(Controller):
    path = "/api/v1/patrols"
    tags = ["patrols"]

    @get("/stats", summary="Completion and punctuality by grid or person over a period")
    async def stats(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        group_by: FromQuery[Literal["grid", "person"]] = "grid",
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> StatsRead:
        in_window("from", date_from)
        in_window("to", date_to)
        return await services.stats(
            grants=member.grants,
            area_path=await area_path_of(area_id),
            date_from=date_from,
            date_to=date_to,
            group_by=group_by,
            limit=limit,
            cursor=cursor,
        )

    @get(
        "/check-ins/export.geojson",
        summary="Check-ins of the patrols in the caller's areas over a period, as GeoJSON",
    )
    async def export_check_ins(
        self,
        member: CurrentMember,
        area_id: QueryId = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        crs: geojson.CrsParam = "wgs84",
    ) -> Stream:
        in_window("from", date_from)
        in_window("to", date_to)
        rows, features, first, last = await services.export_check_ins(
            grants=member.grants,
            account_id=member.account_id,
            area_path=await area_path_of(area_id),
            date_from=date_from,
            date_to=date_to,
        )
        name = f"patrol-check-ins-{first:%Y%m%d}-{last:%Y%m%d}.geojson"
        return Stream(
            geojson.stream(features, name="patrol_check_ins", crs=crs),
            media_type=geojson.MEDIA_TYPE,
            headers=geojson.download_headers(name, rows=rows, label=f"巡查打卡-{name[17:]}"),
        )
