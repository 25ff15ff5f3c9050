"""Patrol tasks: one patrol of a plan in one window. Read by their assignee and reviewers,
started, finished with a log, or excused after a miss (check-ins are in check_ins.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

from grid_backend.core import audit, clock, pagination, policy
from grid_backend.core.db import engine, fetch, reuse_sqlite_connections, under, write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.sql import TRUE, q
from grid_backend.core.types import AreaRef, Datum
from grid_backend.patrols.schemas import (
    CheckInRead,
    FinishIn,
    LogRead,
    TaskCheckpoint,
    TaskPage,
    TaskRead,
)
from grid_backend.patrols.services.checkpoints import _checkpoints, _position
from grid_backend.patrols.tables import CheckIn, CheckInPhoto, PatrolLog, PatrolTask
from grid_backend.settings import get_settings

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


async def _progress(
    rows: list[dict[str, Any]], with_check_ins: bool
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, dict[str, Any]], dict[int, list[int]]]:
    """The check-ins of the started tasks, the logs of the finished ones and (when asked
    for) the photos of each check-in."""
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
    return check_ins, logs, photos


def _task_checkpoints(
    points: list[dict[str, Any]], check_ins: list[dict[str, Any]], datum: Datum
) -> list[TaskCheckpoint]:
    """A task's checkpoints in the datum asked for, each with its number of check-ins."""
    counts: dict[int, int] = defaultdict(int)
    for c in check_ins:
        counts[c["checkpoint"]] += 1
    cps = []
    for p in points:
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
    return cps


def _log_read(log: dict[str, Any] | None) -> LogRead | None:
    if not log:
        return None
    return LogRead(
        households_visited=log["households_visited"],
        issues_found=log["issues_found"],
        fixed_on_spot=log["fixed_on_spot"],
        hazard_report_ids=log["hazard_report_ids"],
        skipped_checkpoint_ids=log["skipped_checkpoint_ids"],
        narrative=log["narrative"],
        device_time=log["device_time"],
        created_at=log["created_at"],
    )


def _task_read(
    r: dict[str, Any],
    checkpoints: list[TaskCheckpoint],
    log: dict[str, Any] | None,
    check_ins: list[CheckInRead] | None,
) -> TaskRead:
    return TaskRead(
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
        checkpoints=checkpoints,
        skipped_checkpoint_ids=log["skipped_checkpoint_ids"] if log else [],
        log=_log_read(log),
        check_ins=check_ins,
    )


async def _task_reads(
    rows: list[dict[str, Any]], datum: Datum = "wgs84", *, with_check_ins: bool = False
) -> list[TaskRead]:
    """Tasks with their checkpoints, whether each was checked in, and the log if finished."""
    if not rows:
        return []
    points = await _checkpoints({(r["plan"], r["plan_revision"]) for r in rows})
    check_ins, logs, photos = await _progress(rows, with_check_ins)
    return [
        _task_read(
            r,
            _task_checkpoints(
                points[(r["plan"], r["plan_revision"])], check_ins.get(r["id"], []), datum
            ),
            logs.get(r["id"]),
            [_check_in_read(c, photos.get(c["id"], [])) for c in check_ins.get(r["id"], ())]
            if with_check_ins
            else None,
        )
        for r in rows
    ]


async def read_task(
    *, task_id: int, account_id: int, grants: list[policy.Grant], datum: Datum = "wgs84"
) -> TaskRead:
    """One task with checkpoints, check-ins and log: for its assignee and reviewers."""
    async with _one_connection():
        task = await _task(task_id)
        _seen_task(task, account_id, grants)
        return (await _task_reads([task], datum, with_check_ins=True))[0]


@asynccontextmanager
async def _one_connection() -> AsyncIterator[None]:
    """Consecutive reads on one connection where SQLite would open one per query (about 1 ms
    each): only with GRID_SQLITE_REUSE_CONNECTIONS off, since reads otherwise run on kept-open
    connections; PostgreSQL's pool is faster without a transaction."""
    db = engine()
    if (
        db.engine_type == "sqlite"
        and not reuse_sqlite_connections()
        and db.current_transaction.get() is None
    ):
        async with db.transaction():
            yield
    else:
        yield


_MY_TASKS = (
    "SELECT t.*, p.name AS plan_name, p.ordered AS ordered, a.code AS grid_code,"
    " a.name AS grid_name FROM patrol_task t"
    " JOIN patrol_plan p ON p.id = t.plan JOIN area a ON a.id = t.grid"
    " WHERE t.assignee = {} AND t.status <> 'cancelled'"
    " AND (t.local_date >= {} OR t.status = 'in_progress') AND {}"
    " ORDER BY t.window_start, t.id LIMIT {}"
)
_AFTER_WINDOW = "(t.window_start > {} OR (t.window_start = {} AND t.id > {}))"


async def my_tasks(
    *, account_id: int, datum: Datum = "wgs84", limit: int = 50, cursor: str | None = None
) -> TaskPage:
    """The caller's tasks from today on (local dates), and any still in progress, by window."""
    position = pagination.decode(cursor, "w", "time", "id")
    after = TRUE if position is None else q(_AFTER_WINDOW, position[0], position[0], position[1])
    async with _one_connection():
        rows = await fetch(q(_MY_TASKS, account_id, clock.today(), after, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        items = await _task_reads(rows, datum)
    return TaskPage(
        items=items,
        next_cursor=(
            pagination.encode("w", rows[-1]["window_start"], rows[-1]["id"]) if more else None
        ),
    )


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


def _closes(task: dict[str, Any]) -> datetime:
    """Until when a started patrol may still be checked in and finished."""
    return task["window_end"] + timedelta(minutes=get_settings().patrol_finish_grace_minutes)


async def _check_reports(
    ids: list[int], task: dict[str, Any], account_id: int, now: datetime
) -> list[int]:
    """Hazard cases the caller filed while on this patrol."""
    from grid_backend.hazards.tables import HazardReport

    if not ids:
        return []
    if len(set(ids)) != len(ids):
        raise invalid("hazard_report_ids", "a case is listed twice")
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
            "cases %(wrong)s were not reported by you during this patrol",
            code="patrol_report_invalid",
            params={"wrong": wrong},
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
        raise invalid("reason", "give a reason", code="reason_required")
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
