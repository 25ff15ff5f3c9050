"""Patrol plans: who patrols which grid when, along which checkpoints; made, changed, paused,
resumed and ended, each change cancelling and remaking the tasks it affects."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec

from grid_backend.areas.tables import Area
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import Conflict, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.types import AreaRef, Datum
from grid_backend.patrols import jobs
from grid_backend.patrols.schemas import (
    PlanCreate,
    PlanPage,
    PlanRead,
    PlanSummary,
    PlanUpdate,
    Recurrence,
)
from grid_backend.patrols.services.checkpoints import (
    _checkpoint_read,
    _checkpoint_rows,
    _checkpoints,
    _insert_checkpoints,
)
from grid_backend.patrols.tables import PatrolCheckpoint, PatrolPlan
from grid_backend.people.duty import grants_of
from grid_backend.settings import get_settings

GRID_LEVELS = ("grid", "micro_grid")
OPEN_STATUSES = ("scheduled", "in_progress")

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


async def read_plan(
    *, plan_id: int, grants: list[policy.Grant], datum: Datum = "wgs84"
) -> PlanRead:
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
        )
    if recurrence.kind == "daily" and days:
        raise invalid(
            f"{field}.days",
            "a daily recurrence has no days; use kind 'weekly'",
            code="recurrence_invalid",
        )
    if len(set(days)) != len(days):
        raise invalid(
            f"{field}.days",
            "a day is listed twice",
            code="recurrence_invalid",
        )
    order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return {"kind": recurrence.kind, "time": recurrence.time, "days": sorted(days, key=order.index)}


async def _check_who(
    *,
    account_id: int | None,
    duty: str | None,
    employment: str | msgspec.UnsetType | None,  # UNSET: an update that keeps the plan's
    grid: dict[str, Any],
) -> None:
    """Exactly one of an account holding a duty in (or over) the grid, or a grid duty."""
    if (account_id is None) == (duty is None):
        raise invalid(
            "account_id",
            "name who patrols: account_id or duty, not both",
        )
    if duty is not None:
        if duty not in policy.DUTY_LEVELS or "grid" not in policy.DUTY_LEVELS[duty]:
            raise invalid(
                "duty",
                "duty is one held in a grid, e.g. grid_worker",
                code="duty_unknown",
            )
        if employment is not None and duty != "grid_worker":
            raise invalid(
                "employment",
                "employment is for grid_worker only",
            )
        return
    if employment is not None:
        raise invalid("employment", "employment goes with a duty")
    assert account_id is not None  # exactly one of account_id and duty, and duty is None
    path = grid["path"]
    ancestors = [path[: i + 1] for i, c in enumerate(path) if c == "/"]
    grants = await grants_of(account_id, on=clock.today())
    if not any(g.area_path in ancestors or g.area_path.startswith(path) for g in grants):
        raise invalid(
            "account_id",
            "the person holds no duty in this grid",
            code="patrol_assignee_invalid",
        )


def _check_period(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise invalid("valid_to", "valid_to is before valid_from")


async def create_plan(*, data: PlanCreate, account_id: int, grants: list[policy.Grant]) -> PlanRead:
    """Make a patrol plan for a grid and its first tasks."""
    grid = (
        await Area.select(Area.id, Area.path, Area.level)
        .where(Area.id == data.grid_id)
        .first()
        .run()
    )
    if grid is None or grid["level"] not in GRID_LEVELS:
        raise invalid("grid_id", "no such grid", code="area_not_found")
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


async def _new_who(plan: dict[str, Any], data: PlanUpdate) -> tuple[Any, Any, Any]:
    """(account, duty, employment) after an update that names who patrols, checked."""
    unset = msgspec.UNSET
    who: tuple[Any, Any, Any]
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
    await _check_who(account_id=who[0], duty=who[1], employment=who[2], grid=grid)
    return who


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
        who = await _new_who(plan, data)
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
