"""Patrols: plans, their tasks, check-ins at checkpoints, patrol logs and statistics."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from grid_backend.areas.services import to_wgs84
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import audit, clock, geo, policy
from grid_backend.core.db import engine, fetch, under, write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound, invalid
from grid_backend.core.pagination import cursor_id, decode_cursor, encode_cursor, next_cursor
from grid_backend.core.types import AreaRef
from grid_backend.media.services import uploaded_by
from grid_backend.patrols import jobs
from grid_backend.patrols.schemas import (
    CheckInCreate,
    CheckInRead,
    CheckpointIn,
    CheckpointRead,
    FinishIn,
    LogRead,
    PlanCreate,
    PlanPage,
    PlanRead,
    PlanSummary,
    PlanUpdate,
    Recurrence,
    StatsRead,
    StatsRow,
    TaskCheckpoint,
    TaskPage,
    TaskRead,
)
from grid_backend.patrols.tables import (
    CheckIn,
    CheckInPhoto,
    PatrolCheckpoint,
    PatrolLog,
    PatrolPlan,
    PatrolTask,
)
from grid_backend.people.tables import Account, Assignment
from grid_backend.settings import get_settings

GRID_LEVELS = ("grid", "micro_grid")
OPEN_STATUSES = ("scheduled", "in_progress")
MAX_STATS_DAYS = 366

# --- plans ---------------------------------------------------------------------------------

_PLAN_COLUMNS = (
    *PatrolPlan.all_columns(),
    PatrolPlan.grid.code.as_alias("grid_code"),
    PatrolPlan.grid.name.as_alias("grid_name"),
    PatrolPlan.assignee.name.as_alias("assignee_name"),
)


async def _plan(plan_id: int) -> dict[str, Any]:
    row = (
        await PatrolPlan.select(*_PLAN_COLUMNS)
        .where(PatrolPlan.id == plan_id)
        .output(load_json=True)
        .first()
        .run()
    )
    if row is None:
        raise NotFound("plan_not_found")
    return row


def _seen_plan(plan: dict[str, Any], grants: list[policy.Grant]) -> None:
    """Plans outside the caller's area do not exist for them."""
    if not policy.allows(grants, "patrol.review", plan["area_path"]):
        raise NotFound("plan_not_found")


# hand-written, like the task query below: on the worker's hot path, building the Piccolo
# queries cost more than running them
_CHECKPOINTS = (
    "SELECT id, plan, seq, name, risk_point, lat, lng, radius_m, revision_from, revision_to"
    " FROM patrol_checkpoint WHERE plan {plans} ORDER BY seq"
)


async def _checkpoints(plan_revisions: set[tuple[int, int]]) -> dict[tuple[int, int], list[dict]]:
    """The checkpoints of each (plan, revision), in order."""
    if not plan_revisions:
        return {}
    where, args = jobs.sql_in(sorted({p for p, _ in plan_revisions}))
    rows = await fetch(_CHECKPOINTS.replace("{plans}", where), *args)
    by_plan: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_plan[r["plan"]].append(r)
    return {
        (plan_id, revision): [
            r
            for r in by_plan[plan_id]
            if r["revision_from"] <= revision
            and (r["revision_to"] is None or r["revision_to"] > revision)
        ]
        for plan_id, revision in plan_revisions
    }


def _position(row: dict[str, Any], datum: str) -> tuple[float, float]:
    """(lat, lng) of a stored WGS-84 position in the datum the client asked for."""
    if datum == "wgs84":
        return row["lat"], row["lng"]
    lng, lat = geo.convert(row["lng"], row["lat"], "wgs84", datum)  # type: ignore[arg-type]
    return round(lat, 7), round(lng, 7)


def _checkpoint_read(r: dict[str, Any], datum: str) -> CheckpointRead:
    lat, lng = _position(r, datum)
    return CheckpointRead(
        id=r["id"],
        seq=r["seq"],
        name=r["name"],
        risk_point_id=r["risk_point"],
        lat=lat,
        lng=lng,
        datum=datum,
        radius_m=r["radius_m"],
    )


def next_windows(plan: dict[str, Any], now: datetime, count: int = 3) -> list[datetime]:
    """The next few window starts of an active plan, inside its active period."""
    if plan["status"] != "active":
        return []
    zone = get_settings().zone
    start = max(now, datetime.combine(plan["valid_from"], datetime.min.time(), zone))
    trigger = jobs.trigger_for(plan["recurrence"])
    found: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and len(found) < count:
        if plan["valid_to"] is not None and fire.astimezone(zone).date() > plan["valid_to"]:
            break
        found.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire)
    return found


async def read_plan(*, plan_id: int, grants: list[policy.Grant], datum: str = "wgs84") -> PlanRead:
    """One plan with its current checkpoints and next windows."""
    plan = await _plan(plan_id)
    _seen_plan(plan, grants)
    points = (await _checkpoints({(plan_id, plan["revision"])}))[(plan_id, plan["revision"])]
    return PlanRead(
        id=plan["id"],
        name=plan["name"],
        grid=AreaRef(id=plan["grid"], code=plan["grid_code"], name=plan["grid_name"]),
        account_id=plan["assignee"],
        account_name=plan["assignee_name"],
        duty=plan["duty"],
        employment=plan["employment"],
        ordered=plan["ordered"],
        recurrence=plan["recurrence"],
        window_minutes=plan["window_minutes"],
        valid_from=plan["valid_from"],
        valid_to=plan["valid_to"],
        extra_rounds=plan["extra_rounds"] or {},
        status=plan["status"],
        revision=plan["revision"],
        checkpoints=[_checkpoint_read(c, datum) for c in points],
        next_windows=next_windows(plan, clock.now()),
        created_by=plan["created_by"],
        created_at=plan["created_at"],
        updated_at=plan["updated_at"],
        ended_at=plan["ended_at"],
    )


async def list_plans(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> PlanPage:
    """Plans inside the caller's area, in id order."""
    paths = policy.scopes(grants, "patrol.review")
    if not paths:
        return PlanPage(items=[], next_cursor=None)
    query = (
        PatrolPlan.select(*_PLAN_COLUMNS)
        .where(under(PatrolPlan.area_path, paths))
        .output(load_json=True)
    )
    if area_path:
        query = query.where(PatrolPlan.area_path.like(area_path + "%"))
    if status:
        query = query.where(PatrolPlan.status == status)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(PatrolPlan.id > after)
    rows = await query.order_by(PatrolPlan.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    return PlanPage(
        items=[
            PlanSummary(
                id=r["id"],
                name=r["name"],
                grid=AreaRef(id=r["grid"], code=r["grid_code"], name=r["grid_name"]),
                account_id=r["assignee"],
                duty=r["duty"],
                recurrence=r["recurrence"],
                window_minutes=r["window_minutes"],
                status=r["status"],
                valid_from=r["valid_from"],
                valid_to=r["valid_to"],
            )
            for r in rows
        ],
        next_cursor=cursor_out,
    )


def _check_recurrence(recurrence: Recurrence, field: str = "recurrence") -> dict[str, Any]:
    days = list(recurrence.days)
    if recurrence.kind == "weekly" and not days:
        raise invalid(
            f"{field}.days",
            "a weekly recurrence names its days, e.g. ['tue', 'fri']",
            code="recurrence_invalid",
            detail_zh="每周巡查须指定星期",
        )
    if recurrence.kind == "daily" and days:
        raise invalid(
            f"{field}.days",
            "a daily recurrence has no days; use kind 'weekly'",
            code="recurrence_invalid",
            detail_zh="每日巡查不需指定星期",
        )
    if len(set(days)) != len(days):
        raise invalid(
            f"{field}.days",
            "a day is listed twice",
            code="recurrence_invalid",
            detail_zh="星期重复",
        )
    order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return {"kind": recurrence.kind, "time": recurrence.time, "days": sorted(days, key=order.index)}


async def _check_who(
    *, account_id: int | None, duty: str | None, employment: str | None, grid: dict[str, Any]
) -> None:
    """Exactly one of an account holding a duty in (or over) the grid, or a grid duty."""
    if (account_id is None) == (duty is None):
        raise invalid(
            "account_id",
            "name who patrols: account_id or duty, not both",
            detail_zh="请指定巡查人员或职责（二选一）",
        )
    if duty is not None:
        if duty not in policy.DUTY_LEVELS or "grid" not in policy.DUTY_LEVELS[duty]:
            raise invalid(
                "duty",
                "duty is one held in a grid, e.g. grid_worker",
                code="duty_unknown",
                detail_zh="须为网格内的职责，如网格员",
            )
        if employment is not None and duty != "grid_worker":
            raise invalid(
                "employment",
                "employment is for grid_worker only",
                detail_zh="仅网格员可指定专职或兼职",
            )
        return
    if employment is not None:
        raise invalid(
            "employment", "employment goes with a duty", detail_zh="专职或兼职须与职责一起指定"
        )
    path = grid["path"]
    ancestors = [path[: i + 1] for i, c in enumerate(path) if c == "/"]
    today = clock.today()
    held = (
        await Assignment.exists()
        .where(
            (Assignment.account == account_id)
            & (Assignment.area_path.is_in(ancestors) | Assignment.area_path.like(path + "%"))
            & (Assignment.valid_from <= today)
            & (Assignment.valid_to.is_null() | (Assignment.valid_to >= today))
        )
        .run()
    )
    if not held:
        raise invalid(
            "account_id",
            "the person holds no duty in this grid",
            code="patrol_assignee_invalid",
            detail_zh="该人员不在此网格任职",
        )


async def _checkpoint_rows(
    items: list[CheckpointIn], grants: list[policy.Grant]
) -> list[dict[str, Any]]:
    """Checkpoints as stored (WGS-84), from risk points in the caller's area or positions."""
    ids = [c.risk_point_id for c in items if c.risk_point_id is not None]
    points = {}
    if ids:
        rows = (
            await RiskPoint.select(
                RiskPoint.id,
                RiskPoint.name,
                RiskPoint.lat,
                RiskPoint.lng,
                RiskPoint.area_path,
                RiskPoint.is_active,
            )
            .where(RiskPoint.id.is_in(ids))
            .run()
        )
        points = {r["id"]: r for r in rows}
    if len(set(ids)) != len(ids):
        raise invalid("checkpoints", "a risk point is listed twice", detail_zh="风险点位重复")
    out = []
    for i, c in enumerate(items):
        field = f"checkpoints[{i}]"
        has_position = c.lat is not None or c.lng is not None
        if (c.risk_point_id is None) == (not has_position) or (
            has_position and (c.lat is None or c.lng is None)
        ):
            raise invalid(
                field,
                "a checkpoint is a risk_point_id or a position (lat, lng, datum)",
                detail_zh="巡查点须为风险点位或坐标（二选一）",
            )
        if c.risk_point_id is not None:
            rp = points.get(c.risk_point_id)
            if (
                rp is None
                or not rp["is_active"]
                or not policy.allows(grants, "patrol.plan", rp["area_path"])
            ):
                raise invalid(
                    f"{field}.risk_point_id",
                    "no such risk point in your area",
                    code="risk_point_not_found",
                    detail_zh="风险点位不存在或不在您的辖区",
                )
            lat, lng, sent_lat, sent_lng, datum = (
                rp["lat"],
                rp["lng"],
                rp["lat"],
                rp["lng"],
                "wgs84",
            )
            name = c.name or rp["name"]
        else:
            assert c.lat is not None
            assert c.lng is not None
            lng, lat = to_wgs84(c.lat, c.lng, c.datum)
            sent_lat, sent_lng, datum = c.lat, c.lng, c.datum
            name = c.name or f"巡查点{i + 1}"
        out.append(
            {
                "seq": i + 1,
                "name": name,
                "risk_point": c.risk_point_id,
                "lat": lat,
                "lng": lng,
                "sent_lat": sent_lat,
                "sent_lng": sent_lng,
                "sent_datum": datum,
                "radius_m": c.radius_m,
            }
        )
    return out


async def _insert_checkpoints(plan_id: int, revision: int, rows: list[dict[str, Any]]) -> None:
    await PatrolCheckpoint.insert(
        *[PatrolCheckpoint(plan=plan_id, revision_from=revision, **r) for r in rows]
    ).run()


def _check_period(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise invalid("valid_to", "valid_to is before valid_from", detail_zh="结束日期早于开始日期")


async def create_plan(*, data: PlanCreate, account_id: int, grants: list[policy.Grant]) -> PlanRead:
    """Make a patrol plan for a grid and its first tasks."""
    grid = (
        await Area.select(Area.id, Area.path, Area.level)
        .where(Area.id == data.grid_id)
        .first()
        .run()
    )
    if grid is None or grid["level"] not in GRID_LEVELS:
        raise invalid("grid_id", "no such grid", code="area_not_found", detail_zh="网格不存在")
    policy.require(grants, "patrol.plan", grid["path"])
    recurrence = _check_recurrence(data.recurrence)
    await _check_who(
        account_id=data.account_id, duty=data.duty, employment=data.employment, grid=grid
    )
    points = await _checkpoint_rows(data.checkpoints, grants)
    valid_from = data.valid_from or clock.today()
    _check_period(valid_from, data.valid_to)
    now = clock.now()
    async with write_transaction():
        row = (
            await PatrolPlan.insert(
                PatrolPlan(
                    name=data.name.strip(),
                    grid=grid["id"],
                    area_path=grid["path"],
                    assignee=data.account_id,
                    duty=data.duty,
                    employment=data.employment,
                    ordered=data.ordered,
                    recurrence=recurrence,
                    window_minutes=data.window_minutes,
                    valid_from=valid_from,
                    valid_to=data.valid_to,
                    extra_rounds=dict(data.extra_rounds),
                    status="active",
                    revision=1,
                    created_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(PatrolPlan.id)
            .run()
        )[0]
        await _insert_checkpoints(row["id"], 1, points)
        await audit.record(
            actor_id=account_id,
            action="patrol_plan.create",
            object_type="patrol_plan",
            object_id=row["id"],
            area_path=grid["path"],
            detail={"name": data.name, "recurrence": recurrence, "checkpoints": len(points)},
        )
    await jobs.materialise(now, plan_ids=[row["id"]])
    return await read_plan(plan_id=row["id"], grants=grants)


def _changeable(plan: dict[str, Any], grants: list[policy.Grant]) -> None:
    _seen_plan(plan, grants)
    policy.require(grants, "patrol.plan", plan["area_path"])
    if plan["status"] == "ended":
        raise Conflict("plan_ended", detail="the plan has ended; make a new one")


async def _write_plan(
    plan: dict[str, Any],
    changes: dict[Any, Any],
    *,
    actor_id: int,
    action: str,
    detail: dict[str, Any],
    cancel_reason: str | None,
    reschedule: bool,
    checkpoints: list[dict[str, Any]] | None = None,
) -> None:
    """Update the plan row (its lock orders this against a materialiser holding the plan),
    then cancel the tasks to come when the change affects them, in one transaction.
    `reschedule`: the materialiser makes the plan's tasks afresh from now on."""
    now = clock.now()
    changes[PatrolPlan.updated_at] = now
    if reschedule:
        changes[PatrolPlan.next_due_at] = None
    async with write_transaction():
        updated = (
            await PatrolPlan.update(changes)
            .where((PatrolPlan.id == plan["id"]) & (PatrolPlan.revision == plan["revision"]))
            .returning(PatrolPlan.id)
            .run()
        )
        if not updated:
            raise Conflict("conflict", detail="the plan changed meanwhile; reload it")
        if checkpoints is not None:
            revision = changes[PatrolPlan.revision]
            await (
                PatrolCheckpoint.update({PatrolCheckpoint.revision_to: revision})
                .where(
                    (PatrolCheckpoint.plan == plan["id"]) & PatrolCheckpoint.revision_to.is_null()
                )
                .run()
            )
            await _insert_checkpoints(plan["id"], revision, checkpoints)
        cancelled = await jobs.cancel_future(plan["id"], now, cancel_reason) if cancel_reason else 0
        await audit.record(
            actor_id=actor_id,
            action=action,
            object_type="patrol_plan",
            object_id=plan["id"],
            area_path=plan["area_path"],
            detail={**detail, "tasks_cancelled": cancelled},
        )


async def update_plan(
    *, plan_id: int, data: PlanUpdate, account_id: int, grants: list[policy.Grant]
) -> PlanRead:
    """Change a plan; a change to who, where or when cancels its tasks to come and makes
    them again from the new plan."""
    plan = await _plan(plan_id)
    _changeable(plan, grants)
    changes: dict[Any, Any] = {}
    detail: dict[str, Any] = {}
    affects = False
    unset = msgspec.UNSET
    if data.name is not unset:
        changes[PatrolPlan.name] = data.name.strip()
        detail["name"] = data.name
    if data.extra_rounds is not unset:
        changes[PatrolPlan.extra_rounds] = dict(data.extra_rounds)
        detail["extra_rounds"] = dict(data.extra_rounds)
    if data.recurrence is not unset:
        changes[PatrolPlan.recurrence] = _check_recurrence(data.recurrence)
        detail["recurrence"] = changes[PatrolPlan.recurrence]
        affects = True
    if data.window_minutes is not unset:
        changes[PatrolPlan.window_minutes] = data.window_minutes
        detail["window_minutes"] = data.window_minutes
        affects = True
    if data.ordered is not unset:
        changes[PatrolPlan.ordered] = data.ordered
        detail["ordered"] = data.ordered
        affects = True
    if any(v is not unset for v in (data.account_id, data.duty, data.employment)):
        if data.account_id not in (unset, None):
            who = (data.account_id, None, None)
        elif data.duty not in (unset, None):
            employment = None if data.employment is unset else data.employment
            who = (None, data.duty, employment)
        elif data.account_id is unset and data.duty is unset and plan["duty"]:
            who = (None, plan["duty"], data.employment)  # only the employment changes
        else:
            who = (None, None, None)  # refused by _check_who
        grid = {"id": plan["grid"], "path": plan["area_path"]}
        await _check_who(account_id=who[0], duty=who[1], employment=who[2], grid=grid)  # type: ignore[arg-type]
        changes.update(
            {PatrolPlan.assignee: who[0], PatrolPlan.duty: who[1], PatrolPlan.employment: who[2]}
        )
        detail.update({"account_id": who[0], "duty": who[1], "employment": who[2]})
        affects = True
    valid_from = plan["valid_from"] if data.valid_from is unset else data.valid_from
    valid_to = plan["valid_to"] if data.valid_to is unset else data.valid_to
    if data.valid_from is not unset or data.valid_to is not unset:
        _check_period(valid_from, valid_to)
        changes.update({PatrolPlan.valid_from: valid_from, PatrolPlan.valid_to: valid_to})
        detail.update(
            {
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else None,
            }
        )
        affects = True
    points = None
    if data.checkpoints is not unset:
        points = await _checkpoint_rows(data.checkpoints, grants)
        detail["checkpoints"] = len(points)
        affects = True
    if affects:
        changes[PatrolPlan.revision] = plan["revision"] + 1
    if changes:
        await _write_plan(
            plan,
            changes,
            actor_id=account_id,
            action="patrol_plan.update",
            detail=detail,
            cancel_reason="plan_changed" if affects else None,
            reschedule=affects,
            checkpoints=points,
        )
        if affects and plan["status"] == "active":
            await jobs.materialise(clock.now(), plan_ids=[plan_id])
    return await read_plan(plan_id=plan_id, grants=grants)


async def set_plan_status(
    *, plan_id: int, action: str, account_id: int, grants: list[policy.Grant]
) -> PlanRead:
    """Pause, resume or end a plan; pausing and ending cancel its tasks to come."""
    plan = await _plan(plan_id)
    _changeable(plan, grants)
    target = {"pause": "paused", "resume": "active", "end": "ended"}[action]
    if plan["status"] == target:
        return await read_plan(plan_id=plan_id, grants=grants)  # already so: a retry
    changes: dict[Any, Any] = {PatrolPlan.status: target}
    if action == "end":
        changes[PatrolPlan.ended_at] = clock.now()
    await _write_plan(
        plan,
        changes,
        actor_id=account_id,
        action=f"patrol_plan.{action}",
        detail={"from": plan["status"], "to": target},
        cancel_reason={"pause": "plan_paused", "end": "plan_ended"}.get(action),
        reschedule=True,
    )
    if target == "active":
        await jobs.materialise(clock.now(), plan_ids=[plan_id])
    return await read_plan(plan_id=plan_id, grants=grants)


# --- tasks ---------------------------------------------------------------------------------

_TASK_COLUMNS = (
    *PatrolTask.all_columns(),
    PatrolTask.plan.name.as_alias("plan_name"),
    PatrolTask.plan.ordered.as_alias("ordered"),
    PatrolTask.grid.code.as_alias("grid_code"),
    PatrolTask.grid.name.as_alias("grid_name"),
)


async def _task(task_id: int) -> dict[str, Any]:
    row = await PatrolTask.select(*_TASK_COLUMNS).where(PatrolTask.id == task_id).first().run()
    if row is None:
        raise NotFound("task_not_found")
    return row


def _seen_task(task: dict[str, Any], account_id: int, grants: list[policy.Grant]) -> None:
    if task["assignee"] != account_id and not policy.allows(
        grants, "patrol.review", task["area_path"]
    ):
        raise NotFound("task_not_found")


def _own_task(task: dict[str, Any], account_id: int, grants: list[policy.Grant]) -> None:
    """Only the assignee acts on a task; others who may see it are refused, the rest never
    learn it exists."""
    _seen_task(task, account_id, grants)
    if task["assignee"] != account_id:
        raise Forbidden("only the task's assignee may do this")


def _check_in_read(r: dict[str, Any], photos: list[int]) -> CheckInRead:
    return CheckInRead(
        id=r["id"],
        task_id=r["task"],
        checkpoint_id=r["checkpoint"],
        at=r["at"],
        device_time=r["device_time"],
        lat=r["lat"],
        lng=r["lng"],
        sent_lat=r["sent_lat"],
        sent_lng=r["sent_lng"],
        sent_datum=r["sent_datum"],
        accuracy_m=r["accuracy_m"],
        source=r["location_source"],
        is_mock=r["is_mock"],
        distance_m=r["distance_m"],
        within_radius=r["within_radius"],
        out_of_order=r["out_of_order"],
        flagged=(not r["within_radius"]) or r["is_mock"] or r["out_of_order"],
        photo_ids=photos,
        note=r["note"],
        client_id=r["client_id"],
    )


async def _check_in_photos(ids: list[int]) -> dict[int, list[int]]:
    if not ids:
        return {}
    rows = (
        await CheckInPhoto.select(CheckInPhoto.check_in, CheckInPhoto.photo)
        .where(CheckInPhoto.check_in.is_in(ids))
        .order_by(CheckInPhoto.position)
        .run()
    )
    out: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        out[r["check_in"]].append(r["photo"])
    return out


async def _task_reads(
    rows: list[dict[str, Any]], datum: str = "wgs84", *, with_check_ins: bool = False
) -> list[TaskRead]:
    """Tasks with their checkpoints, whether each was checked in, and the log if finished."""
    if not rows:
        return []
    points = await _checkpoints({(r["plan"], r["plan_revision"]) for r in rows})
    begun = [r["id"] for r in rows if r["started_at"] is not None]
    check_ins: dict[int, list[dict[str, Any]]] = defaultdict(list)
    logs: dict[int, dict[str, Any]] = {}
    if begun:
        query = (
            CheckIn.select() if with_check_ins else CheckIn.select(CheckIn.task, CheckIn.checkpoint)
        )
        for c in await query.where(CheckIn.task.is_in(begun)).order_by(CheckIn.id).run():
            check_ins[c["task"]].append(c)
        finished = [r["id"] for r in rows if r["status"] == "completed"]
        if finished:
            logs = {
                log["task"]: log
                for log in await PatrolLog.select()
                .where(PatrolLog.task.is_in(finished))
                .output(load_json=True)
                .run()
            }
    photos = (
        await _check_in_photos([c["id"] for cs in check_ins.values() for c in cs])
        if with_check_ins
        else {}
    )
    out = []
    for r in rows:
        counts: dict[int, int] = defaultdict(int)
        for c in check_ins.get(r["id"], ()):
            counts[c["checkpoint"]] += 1
        cps = []
        for p in points[(r["plan"], r["plan_revision"])]:
            lat, lng = _position(p, datum)
            cps.append(
                TaskCheckpoint(
                    id=p["id"],
                    seq=p["seq"],
                    name=p["name"],
                    risk_point_id=p["risk_point"],
                    lat=lat,
                    lng=lng,
                    datum=datum,
                    radius_m=p["radius_m"],
                    checked_in=counts[p["id"]] > 0,
                    check_ins=counts[p["id"]],
                )
            )
        log = logs.get(r["id"])
        out.append(
            TaskRead(
                id=r["id"],
                plan_id=r["plan"],
                plan_name=r["plan_name"],
                grid=AreaRef(id=r["grid"], code=r["grid_code"], name=r["grid_name"]),
                assignee_id=r["assignee"],
                unassigned=r["assignee"] is None,
                local_date=r["local_date"],
                window_start=r["window_start"],
                window_end=r["window_end"],
                status=r["status"],
                ordered=r["ordered"],
                started_at=r["started_at"],
                started_on_time=r["started_on_time"],
                finished_at=r["finished_at"],
                missed_at=r["missed_at"],
                cancelled_at=r["cancelled_at"],
                cancel_reason=r["cancel_reason"],
                excused=r["excused_at"] is not None,
                excuse_reason=r["excuse_reason"],
                checkpoints=cps,
                skipped_checkpoint_ids=log["skipped_checkpoint_ids"] if log else [],
                log=LogRead(
                    households_visited=log["households_visited"],
                    issues_found=log["issues_found"],
                    fixed_on_spot=log["fixed_on_spot"],
                    hazard_report_ids=log["hazard_report_ids"],
                    skipped_checkpoint_ids=log["skipped_checkpoint_ids"],
                    narrative=log["narrative"],
                    device_time=log["device_time"],
                    created_at=log["created_at"],
                )
                if log
                else None,
                check_ins=[
                    _check_in_read(c, photos.get(c["id"], [])) for c in check_ins.get(r["id"], ())
                ]
                if with_check_ins
                else None,
            )
        )
    return out


async def read_task(
    *, task_id: int, account_id: int, grants: list[policy.Grant], datum: str = "wgs84"
) -> TaskRead:
    """One task with checkpoints, check-ins and log: for its assignee and reviewers."""
    async with _one_connection():
        task = await _task(task_id)
        _seen_task(task, account_id, grants)
        return (await _task_reads([task], datum, with_check_ins=True))[0]


@asynccontextmanager
async def _one_connection() -> AsyncIterator[None]:
    """Consecutive reads on one connection: SQLite opens one per query otherwise (about
    1 ms each); PostgreSQL's pool is faster without a transaction."""
    db = engine()
    if db.engine_type == "sqlite" and db.current_transaction.get() is None:
        async with db.transaction():
            yield
    else:
        yield


def _encode_window_cursor(row: dict[str, Any]) -> str:
    stamp = int(row["window_start"].timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"w:{stamp}:{row['id']}".encode()).decode().rstrip("=")


def _decode_window_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, stamp, task_id = raw.split(":")
        if kind == "w":
            return datetime.fromtimestamp(int(stamp) / 1_000_000, UTC), cursor_id(task_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
        pass
    raise invalid("cursor", "cursor is not one this server issued", detail_zh="分页游标无效")


_MY_TASKS = (
    "SELECT t.*, p.name AS plan_name, p.ordered AS ordered, a.code AS grid_code,"
    " a.name AS grid_name FROM patrol_task t"
    " JOIN patrol_plan p ON p.id = t.plan JOIN area a ON a.id = t.grid"
    " WHERE t.assignee = {} AND t.status <> 'cancelled'"
    " AND (t.local_date >= {} OR t.status = 'in_progress') {after}"
    " ORDER BY t.window_start, t.id LIMIT {}"
)


async def my_tasks(
    *, account_id: int, datum: str = "wgs84", limit: int = 50, cursor: str | None = None
) -> TaskPage:
    """The caller's tasks from today on (local dates), and any still in progress, by window."""
    args: list[Any] = [account_id, clock.today()]
    after = ""
    position = _decode_window_cursor(cursor)
    if position is not None:
        after = "AND (t.window_start > {} OR (t.window_start = {} AND t.id > {}))"
        args += [position[0], position[0], position[1]]
    sql = _MY_TASKS.replace("{after}", after)
    async with _one_connection():
        rows = await fetch(sql, *args, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        items = await _task_reads(rows, datum)
    return TaskPage(items=items, next_cursor=_encode_window_cursor(rows[-1]) if more else None)


async def list_tasks(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    plan_id: int | None = None,
    status: str | None = None,
    unassigned: bool | None = None,
    assignee_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TaskPage:
    """Tasks inside the caller's area (for supervisors: gaps, misses, who did what)."""
    paths = policy.scopes(grants, "patrol.review")
    if not paths:
        return TaskPage(items=[], next_cursor=None)
    query = PatrolTask.select(*_TASK_COLUMNS).where(under(PatrolTask.area_path, paths))
    if area_path:
        query = query.where(PatrolTask.area_path.like(area_path + "%"))
    if plan_id is not None:
        query = query.where(PatrolTask.plan == plan_id)
    if status:
        query = query.where(PatrolTask.status == status)
    if unassigned is not None:
        query = query.where(
            PatrolTask.assignee.is_null() if unassigned else PatrolTask.assignee.is_not_null()
        )
    if assignee_id is not None:
        query = query.where(PatrolTask.assignee == assignee_id)
    if date_from:
        query = query.where(PatrolTask.local_date >= date_from)
    if date_to:
        query = query.where(PatrolTask.local_date <= date_to)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(PatrolTask.id > after)
    rows = await query.order_by(PatrolTask.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    return TaskPage(items=await _task_reads(rows), next_cursor=cursor_out)


async def start_task(
    *,
    task_id: int,
    account_id: int,
    grants: list[policy.Grant],
    device_time: datetime | None = None,
) -> TaskRead:
    """Begin a patrol, from GRID_PATROL_EARLY_START_MINUTES before its window to its end."""
    task = await _task(task_id)
    _own_task(task, account_id, grants)
    if task["status"] == "in_progress":
        return await read_task(task_id=task_id, account_id=account_id, grants=grants)
    if task["status"] != "scheduled":
        raise Conflict("task_state_conflict", detail=f"the task is {task['status']}")
    s = get_settings()
    now = clock.now()
    opens = task["window_start"] - timedelta(minutes=s.patrol_early_start_minutes)
    if now < opens or now >= task["window_end"]:
        raise Conflict(
            "task_window_closed",
            detail=f"the task can be started from {opens.isoformat()} until "
            f"{task['window_end'].isoformat()}",
        )
    on_time = now <= task["window_start"] + timedelta(minutes=s.patrol_on_time_minutes)
    async with write_transaction():
        await (
            PatrolTask.update(
                {
                    PatrolTask.status: "in_progress",
                    PatrolTask.started_at: now,
                    PatrolTask.started_on_time: on_time,
                    PatrolTask.start_device_time: device_time,
                }
            )
            .where((PatrolTask.id == task_id) & (PatrolTask.status == "scheduled"))
            .run()
        )
    task = await _task(task_id)
    if task["status"] != "in_progress":  # cancelled or marked missed meanwhile
        raise Conflict("task_state_conflict", detail=f"the task is {task['status']}")
    return await read_task(task_id=task_id, account_id=account_id, grants=grants)


def _digest(data: msgspec.Struct) -> str:
    body = msgspec.structs.replace(data, client_id=None)
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


async def _earlier_check_in(task_id: int, key: str) -> dict[str, Any] | None:
    return (
        await CheckIn.select()
        .where((CheckIn.task == task_id) & (CheckIn.client_id == key))
        .first()
        .run()
    )


async def _replay(earlier: dict[str, Any], digest: str) -> CheckInRead:
    if earlier["request_digest"] != digest:
        raise Conflict(
            "idempotency_conflict",
            detail="this Idempotency-Key was used for a different check-in",
            detail_zh="该幂等键已用于另一次不同的签到",
        )
    return _check_in_read(earlier, (await _check_in_photos([earlier["id"]])).get(earlier["id"], []))


async def _check_photos(ids: list[int], account_id: int) -> None:
    limit = get_settings().media_max_photos
    if len(ids) > limit:
        raise invalid(
            "photo_ids",
            f"at most {limit} photos",
            code="photo_count_exceeded",
            detail_zh="照片过多",
        )
    if len(set(ids)) != len(ids):
        raise invalid("photo_ids", "a photo is listed twice", detail_zh="照片重复")
    mine = await uploaded_by(ids, account_id) if ids else set()
    missing = [i for i in ids if i not in mine]
    if missing:
        raise invalid(
            "photo_ids",
            f"photos {missing} were not uploaded by you",
            code="photo_not_yours",
            detail_zh="只能使用本人上传的照片",
        )


class _Raced(Exception):
    """Another request with the same client id committed first."""


def _is_unique_violation(exc: Exception) -> bool:
    return type(exc).__name__ in ("UniqueViolationError", "IntegrityError") or "UNIQUE" in str(exc)


def _closes(task: dict[str, Any]) -> datetime:
    """Until when a started patrol may still be checked in and finished."""
    return task["window_end"] + timedelta(minutes=get_settings().patrol_finish_grace_minutes)


async def check_in(
    *,
    task_id: int,
    data: CheckInCreate,
    account_id: int,
    grants: list[policy.Grant],
    idempotency_key: str | None = None,
) -> tuple[CheckInRead, bool]:
    """Record a check-in at a checkpoint of a started task; flagged, never refused, when it is
    outside the radius, from a mock position or out of order. True if it is a replay."""
    task = await _task(task_id)
    _own_task(task, account_id, grants)
    key = idempotency_key or data.client_id
    digest = _digest(data)
    if key:
        earlier = await _earlier_check_in(task_id, key)
        if earlier is not None:
            return await _replay(earlier, digest), True
    if task["status"] != "in_progress":
        raise Conflict("task_state_conflict", detail=f"the task is {task['status']}")
    now = clock.now()
    if now > _closes(task):
        raise Conflict("task_window_closed", detail="the patrol's time is over")
    points = (await _checkpoints({(task["plan"], task["plan_revision"])}))[
        (task["plan"], task["plan_revision"])
    ]
    point = next((p for p in points if p["id"] == data.checkpoint_id), None)
    if point is None:
        raise invalid(
            "checkpoint_id",
            "not a checkpoint of this task",
            code="checkpoint_unknown",
            detail_zh="巡查点不属于该任务",
        )
    await _check_photos(data.photo_ids, account_id)
    loc = data.location
    lng, lat = to_wgs84(loc.lat, loc.lng, loc.datum)
    distance = round(geo.distance_m(point["lng"], point["lat"], lng, lat), 1)
    try:
        async with write_transaction():
            if key and await _earlier_check_in(task_id, key):
                raise _Raced()
            out_of_order = False
            if task["ordered"]:
                done = {
                    r["checkpoint"]
                    for r in await CheckIn.select(CheckIn.checkpoint)
                    .where(CheckIn.task == task_id)
                    .run()
                }
                out_of_order = any(p["seq"] < point["seq"] and p["id"] not in done for p in points)
            row = (
                await CheckIn.insert(
                    CheckIn(
                        task=task_id,
                        checkpoint=point["id"],
                        account=account_id,
                        lat=lat,
                        lng=lng,
                        sent_lat=loc.lat,
                        sent_lng=loc.lng,
                        sent_datum=loc.datum,
                        accuracy_m=loc.accuracy_m,
                        location_source=loc.source,
                        is_mock=loc.is_mock,
                        distance_m=distance,
                        within_radius=distance <= point["radius_m"],
                        out_of_order=out_of_order,
                        note=data.note.strip(),
                        device_time=data.device_time,
                        at=now,
                        client_id=key,
                        request_digest=digest,
                    )
                )
                .returning(CheckIn.id)
                .run()
            )[0]
            row = await CheckIn.select().where(CheckIn.id == row["id"]).first().run()
            if data.photo_ids:
                await CheckInPhoto.insert(
                    *[
                        CheckInPhoto(check_in=row["id"], photo=pid, position=i)
                        for i, pid in enumerate(data.photo_ids)
                    ]
                ).run()
    except _Raced:
        earlier = await _earlier_check_in(task_id, key)  # type: ignore[arg-type]
        return await _replay(earlier, digest), True  # type: ignore[arg-type]
    except Exception as exc:
        if key and _is_unique_violation(exc):  # a parallel retry won the race
            earlier = await _earlier_check_in(task_id, key)
            if earlier is not None:
                return await _replay(earlier, digest), True
        raise
    return _check_in_read(row, list(data.photo_ids)), False


async def _check_reports(
    ids: list[int], task: dict[str, Any], account_id: int, now: datetime
) -> list[int]:
    """Hazard cases the caller filed while on this patrol."""
    from grid_backend.hazards.tables import HazardReport

    if not ids:
        return []
    if len(set(ids)) != len(ids):
        raise invalid("hazard_report_ids", "a case is listed twice", detail_zh="隐患重复")
    since = min(task["started_at"] or task["window_start"], task["window_start"])
    rows = (
        await HazardReport.select(HazardReport.id)
        .where(
            HazardReport.id.is_in(ids)
            & (HazardReport.reporter == account_id)
            & (HazardReport.created_at >= since)
            & (HazardReport.created_at <= now)
        )
        .run()
    )
    found = {r["id"] for r in rows}
    wrong = [i for i in ids if i not in found]
    if wrong:
        raise invalid(
            "hazard_report_ids",
            f"cases {wrong} were not reported by you during this patrol",
            code="patrol_report_invalid",
            detail_zh="只能关联本人在巡查期间上报的隐患",
        )
    return ids


async def finish_task(
    *, task_id: int, data: FinishIn, account_id: int, grants: list[policy.Grant]
) -> TaskRead:
    """Finish a started patrol with its log; checkpoints without a check-in are listed as
    skipped. Finishing a finished task again returns it unchanged."""
    task = await _task(task_id)
    _own_task(task, account_id, grants)
    if task["status"] == "completed":
        return await read_task(task_id=task_id, account_id=account_id, grants=grants)
    if task["status"] != "in_progress":
        raise Conflict("task_state_conflict", detail=f"the task is {task['status']}")
    now = clock.now()
    if now > _closes(task):
        raise Conflict("task_window_closed", detail="the patrol's time is over")
    if data.fixed_on_spot > data.issues_found:
        raise invalid(
            "fixed_on_spot",
            "more fixed on the spot than issues found",
            detail_zh="即查即改数量不能多于发现问题数量",
        )
    reports = await _check_reports(list(data.hazard_report_ids), task, account_id, now)
    points = (await _checkpoints({(task["plan"], task["plan_revision"])}))[
        (task["plan"], task["plan_revision"])
    ]
    async with write_transaction():
        done = {
            r["checkpoint"]
            for r in await CheckIn.select(CheckIn.checkpoint).where(CheckIn.task == task_id).run()
        }
        skipped = [p["id"] for p in points if p["id"] not in done]
        updated = (
            await PatrolTask.update({PatrolTask.status: "completed", PatrolTask.finished_at: now})
            .where((PatrolTask.id == task_id) & (PatrolTask.status == "in_progress"))
            .returning(PatrolTask.id)
            .run()
        )
        if not updated:
            raise Conflict("task_state_conflict", detail="the task changed meanwhile")
        await PatrolLog.insert(
            PatrolLog(
                task=task_id,
                account=account_id,
                households_visited=data.households_visited,
                issues_found=data.issues_found,
                fixed_on_spot=data.fixed_on_spot,
                hazard_report_ids=reports,
                skipped_checkpoint_ids=skipped,
                narrative=data.narrative.strip(),
                device_time=data.device_time,
                created_at=now,
            )
        ).run()
    return await read_task(task_id=task_id, account_id=account_id, grants=grants)


async def excuse_task(
    *, task_id: int, reason: str, account_id: int, grants: list[policy.Grant]
) -> TaskRead:
    """Excuse a missed task with a reason (audited); it then counts as neither done nor
    missed."""
    task = await _task(task_id)
    _seen_task(task, account_id, grants)
    policy.require(grants, "patrol.excuse", task["area_path"])
    if task["status"] != "missed":
        raise Conflict("task_state_conflict", detail=f"the task is {task['status']}, not missed")
    if task["excused_at"] is not None:
        raise Conflict("task_state_conflict", detail="the task is already excused")
    reason = reason.strip()
    if not reason:
        raise invalid("reason", "give a reason", code="reason_required", detail_zh="请填写原因")
    now = clock.now()
    async with write_transaction():
        updated = (
            await PatrolTask.update(
                {
                    PatrolTask.excused_at: now,
                    PatrolTask.excused_by: account_id,
                    PatrolTask.excuse_reason: reason,
                }
            )
            .where(
                (PatrolTask.id == task_id)
                & (PatrolTask.status == "missed")
                & PatrolTask.excused_at.is_null()
            )
            .returning(PatrolTask.id)
            .run()
        )
        if not updated:
            raise Conflict("task_state_conflict", detail="the task changed meanwhile")
        await audit.record(
            actor_id=account_id,
            action="patrol_task.excuse",
            object_type="patrol_task",
            object_id=task_id,
            area_path=task["area_path"],
            detail={"reason": reason, "assignee_id": task["assignee"]},
        )
    return await read_task(task_id=task_id, account_id=account_id, grants=grants)


# --- statistics ----------------------------------------------------------------------------

_STATS_SQL = (
    "SELECT {key} COUNT(*) AS tasks,"
    " SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,"
    " SUM(CASE WHEN status = 'missed' AND excused_at IS NULL THEN 1 ELSE 0 END) AS missed,"
    " SUM(CASE WHEN excused_at IS NOT NULL THEN 1 ELSE 0 END) AS excused,"
    " SUM(CASE WHEN status IN ('scheduled', 'in_progress') THEN 1 ELSE 0 END) AS pending,"
    " SUM(CASE WHEN started_at IS NOT NULL THEN 1 ELSE 0 END) AS started,"
    " SUM(CASE WHEN started_on_time THEN 1 ELSE 0 END) AS on_time_starts,"
    " SUM(CASE WHEN assignee IS NULL THEN 1 ELSE 0 END) AS unassigned"
    " FROM patrol_task WHERE status <> 'cancelled'"
    " AND local_date >= {} AND local_date <= {} AND ({scope})"
)


_NOT_COUNTS = {"completion_rate", "on_time_rate", "grid", "account_id", "account_name"}


def _row(r: dict[str, Any] | None) -> StatsRow:
    r = r or {}
    n = {k: int(r.get(k) or 0) for k in StatsRow.__struct_fields__ if k not in _NOT_COUNTS}
    decided = n["completed"] + n["missed"]
    return StatsRow(
        **n,
        completion_rate=round(n["completed"] / decided, 4) if decided else None,
        on_time_rate=round(n["on_time_starts"] / n["started"], 4) if n["started"] else None,
    )


async def stats(
    *,
    grants: list[policy.Grant],
    area_path: str | None,
    date_from: date | None,
    date_to: date | None,
    group_by: str,
    limit: int = 50,
    cursor: str | None = None,
) -> StatsRead:
    """Completion and punctuality of the tasks whose local date is in the period, inside the
    area (or the caller's whole area), in total and by grid or by person."""
    if area_path is not None:
        policy.require(grants, "patrol.review", area_path)
        paths = [area_path]
    else:
        paths = policy.scopes(grants, "patrol.review")
        if not paths:
            raise Forbidden()
    date_to = date_to or clock.today()
    date_from = date_from or date_to - timedelta(days=6)
    if date_from > date_to:
        raise invalid("from", "from is after to", detail_zh="开始日期晚于结束日期")
    if (date_to - date_from).days >= MAX_STATS_DAYS:
        raise invalid("from", f"at most {MAX_STATS_DAYS} days", detail_zh="统计期间过长")
    scope = " OR ".join("area_path LIKE {}" for _ in paths)
    args: list[Any] = [date_from, date_to, *[p + "%" for p in paths]]
    total_sql = _STATS_SQL.replace("{key}", "").replace("{scope}", scope)
    totals = (await fetch(total_sql, *args))[0]
    column = "grid" if group_by == "grid" else "assignee"
    grouped = _STATS_SQL.replace("{key}", f"{column} AS key,").replace("{scope}", scope)
    grouped += f" AND {column} IS NOT NULL"
    after = decode_cursor(cursor)
    if after is not None:
        grouped += f" AND {column} > {{}}"
        args.append(after)
    grouped += f" GROUP BY {column} ORDER BY {column} LIMIT {int(limit) + 1}"
    rows = await fetch(grouped, *args)
    more = len(rows) > limit
    rows = rows[:limit]
    keys = [r["key"] for r in rows]
    items = []
    if group_by == "grid":
        areas = (
            {
                a["id"]: a
                for a in await Area.select(Area.id, Area.code, Area.name)
                .where(Area.id.is_in(keys))
                .run()
            }
            if keys
            else {}
        )
        for r in rows:
            a = areas[r["key"]]
            item = _row(r)
            item.grid = AreaRef(id=a["id"], code=a["code"], name=a["name"])
            items.append(item)
    else:
        names = (
            {
                a["id"]: a["name"]
                for a in await Account.select(Account.id, Account.name)
                .where(Account.id.is_in(keys))
                .run()
            }
            if keys
            else {}
        )
        for r in rows:
            item = _row(r)
            item.account_id = r["key"]
            item.account_name = names.get(r["key"])
            items.append(item)
    return StatsRead(
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        totals=_row(totals),
        unassigned=int(totals.get("unassigned") or 0),
        items=items,
        next_cursor=encode_cursor(keys[-1]) if more else None,
    )
