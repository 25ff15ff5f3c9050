"""Patrol jobs: make the tasks of the coming hours from the plans, and mark missed ones.

`materialise` walks the active plans whose next occurrence falls inside the horizon, in
batches: each batch locks its plans (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the one write
transaction), inserts the tasks with ON CONFLICT DO NOTHING against the unique live
(plan, window_start), and moves each plan's `next_due_at` past the horizon. A re-run finds
nothing due; a concurrent run skips the locked plans or conflicts on the index; a plan change
takes the plan's row lock, so it cannot interleave with a batch that holds it."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.sql import TRUE, in_, postgres, q, values
from grid_backend.patrols.tables import PatrolTask
from grid_backend.people.duty import roster
from grid_backend.settings import get_settings

BATCH = 1000  # plans per transaction
_SQLITE_ROWS = 400  # rows per INSERT on SQLite (10 values each, under its variable limit)
_GAP_LIMIT = 5000  # unassigned tasks looked at per run


# --- recurrence ----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _trigger(kind: str, time: str, days: tuple[str, ...], zone: str) -> CronTrigger:
    hour, minute = (int(x) for x in time.split(":"))
    # day names, never numbers: APScheduler counts 0 = Monday, unlike cron
    day_of_week = ",".join(days) if kind == "weekly" else "*"
    return CronTrigger(day_of_week=day_of_week, hour=hour, minute=minute, timezone=zone)


def trigger_for(recurrence: dict[str, Any]) -> CronTrigger:
    """The cron trigger of a plan's recurrence, in the configured zone."""
    return _trigger(
        recurrence["kind"],
        recurrence["time"],
        tuple(recurrence.get("days") or ()),
        get_settings().timezone,
    )


def occurrences(
    recurrence: dict[str, Any], start: datetime, until: datetime
) -> tuple[list[datetime], datetime | None]:
    """Window starts in [start, until] (aware, UTC), and the first one after `until`."""
    trigger = trigger_for(recurrence)
    found: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= until:
        found.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return [f.astimezone(start.tzinfo) for f in found], fire


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# --- materialise ---------------------------------------------------------------------------

_DUE = (
    "SELECT id, grid, area_path, assignee, duty, employment, CAST(recurrence AS TEXT)"
    " AS recurrence, window_minutes, valid_from, valid_to, revision, next_due_at"
    " FROM patrol_plan WHERE status = 'active' AND (next_due_at IS NULL OR next_due_at <= {})"
    " AND id > {} AND {} ORDER BY id LIMIT {}"
)
# PostgreSQL takes the batch's plans (SQLite has the one write transaction already)
_LOCKED = "{} FOR NO KEY UPDATE SKIP LOCKED"
_SET_DUE = "UPDATE patrol_plan SET next_due_at = {} WHERE {}"


async def _due_plans(
    after: int, horizon_end: datetime, plan_ids: list[int] | None
) -> list[dict[str, Any]]:
    """The next batch of active plans with an occurrence to make before the horizon; on
    PostgreSQL locked (a plan being changed, or taken by another run, waits for the next)."""
    only = TRUE if plan_ids is None else in_("id", plan_ids)
    query = q(_DUE, horizon_end, after, only, BATCH)
    rows = await fetch(q(_LOCKED, query) if postgres() else query)
    parsed: dict[str, Any] = {}
    for r in rows:  # plans share a handful of schedules: parse each text once
        text = r["recurrence"]
        r["recurrence"] = parsed.get(text) or parsed.setdefault(text, _loads(text))
    return rows


_INSERT = (
    "INSERT INTO patrol_task (plan, plan_revision, grid, area_path, assignee, local_date,"
    " window_start, window_end, status, created_at) {}"
    " ON CONFLICT DO NOTHING RETURNING id, assignee"
)
# PostgreSQL: one statement for the whole batch, each column as an array
_UNNEST = (
    "SELECT u.*, 'scheduled', {}::timestamptz FROM unnest({}::int[], {}::int[], {}::int[],"
    " {}::varchar[], {}::int[], {}::date[], {}::timestamptz[], {}::timestamptz[]) AS u"
)


async def _insert_tasks(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Insert task rows, skipping those that exist; (id, assignee) of those inserted."""
    if not rows:
        return []
    if postgres():  # one statement of arrays; SQLite takes VALUES lists, a chunk at a time
        columns = [list(c) for c in zip(*rows, strict=True)][:8]
        return await fetch(q(_INSERT, q(_UNNEST, rows[0][-1], *columns)))
    inserted = []
    for i in range(0, len(rows), _SQLITE_ROWS):
        inserted += await fetch(q(_INSERT, values(rows[i : i + _SQLITE_ROWS])))
    return inserted


async def _set_next_due(next_due: dict[int, datetime | None]) -> None:
    """One UPDATE per distinct next occurrence (plans sharing a schedule share it)."""
    groups: dict[datetime | None, list[int]] = defaultdict(list)
    for plan_id, due in next_due.items():
        groups[due].append(plan_id)
    step = BATCH if postgres() else 500
    for due, ids in groups.items():
        for i in range(0, len(ids), step):
            await fetch(q(_SET_DUE, due, in_("id", ids[i : i + step])))


async def _materialise_batch(
    plans: list[dict[str, Any]],
    now: datetime,
    horizon_end: datetime,
    memo: dict[tuple[Any, ...], tuple[list[datetime], datetime | None]],
) -> tuple[int, int]:
    s = get_settings()
    zone = s.zone
    pending: list[tuple[dict[str, Any], datetime, date]] = []
    next_due: dict[int, datetime | None] = {}
    for p in plans:
        recurrence = _loads(p["recurrence"])
        start = max(p["next_due_at"] or now, now)
        key = (recurrence["kind"], recurrence["time"], tuple(recurrence.get("days") or ()), start)
        if key not in memo:
            memo[key] = occurrences(recurrence, start, horizon_end)
        fires, following = memo[key]
        # never None for a cron without an end; a far date keeps the plan out of later runs
        next_due[p["id"]] = following or now + timedelta(days=3650)
        for fire in fires:
            day = fire.astimezone(zone).date()
            if day < p["valid_from"] or (p["valid_to"] is not None and day > p["valid_to"]):
                continue
            pending.append((p, fire, day))
    holders = await roster(
        (p["grid"], p["duty"], p["employment"], day)
        for p, _, day in pending
        if p["assignee"] is None and p["duty"]
    )
    rows = []
    for p, fire, day in pending:
        assignee = p["assignee"]
        if assignee is None and p["duty"]:
            assignee = holders.get((p["grid"], p["duty"], p["employment"], day))
        rows.append(
            (
                p["id"],
                p["revision"],
                p["grid"],
                p["area_path"],
                assignee,
                day,
                fire,
                fire + timedelta(minutes=p["window_minutes"]),
                "scheduled",
                now,
            )
        )
    created = await _insert_tasks(rows)
    await _set_next_due(next_due)
    return len(created), sum(1 for r in created if r["assignee"] is None)


async def materialise(now: datetime, *, plan_ids: list[int] | None = None) -> dict[str, Any]:
    """Make the tasks of every active plan (or of the given plans) whose windows start
    between now and now + GRID_PATROL_HORIZON_HOURS; idempotent."""
    horizon_end = now + timedelta(hours=get_settings().patrol_horizon_hours)
    memo: dict[tuple[Any, ...], tuple[list[datetime], datetime | None]] = {}
    totals = {"plans": 0, "created": 0, "unassigned": 0}
    after = 0
    while True:
        async with write_transaction():
            plans = await _due_plans(after, horizon_end, plan_ids)
            if plans:
                created, unassigned = await _materialise_batch(plans, now, horizon_end, memo)
                totals["plans"] += len(plans)
                totals["created"] += created
                totals["unassigned"] += unassigned
        if len(plans) < BATCH:
            break
        after = plans[-1]["id"]
    totals["gaps_filled"] = await fill_gaps(now, plan_ids=plan_ids)
    return totals


async def fill_gaps(now: datetime, *, plan_ids: list[int] | None = None) -> int:
    """Give future unassigned tasks to whoever now holds the plan's duty on their date (a
    gap filled by a new assignment); tasks already given to someone keep their assignee."""
    query = (
        PatrolTask.select(
            PatrolTask.id,
            PatrolTask.grid,
            PatrolTask.local_date,
            PatrolTask.plan.duty.as_alias("duty"),
            PatrolTask.plan.employment.as_alias("employment"),
        )
        .where(
            (PatrolTask.status == "scheduled")
            & PatrolTask.assignee.is_null()
            & (PatrolTask.window_start > now)
            & PatrolTask.plan.duty.is_not_null()
        )
        .order_by(PatrolTask.id)
        .limit(_GAP_LIMIT)
    )
    if plan_ids is not None:
        query = query.where(PatrolTask.plan.is_in(plan_ids))
    gaps = await query.run()
    if not gaps:
        return 0
    needs = {t["id"]: (t["grid"], t["duty"], t["employment"], t["local_date"]) for t in gaps}
    holders = await roster(needs.values())
    by_account: dict[int, list[int]] = defaultdict(list)
    for task_id, need in needs.items():
        if need in holders:
            by_account[holders[need]].append(task_id)
    filled = 0
    async with write_transaction():
        for account_id, ids in by_account.items():
            done = (
                await PatrolTask.update({PatrolTask.assignee: account_id})
                .where(
                    PatrolTask.id.is_in(ids)
                    & PatrolTask.assignee.is_null()
                    & (PatrolTask.status == "scheduled")
                )
                .returning(PatrolTask.id)
                .run()
            )
            filled += len(done)
    return filled


async def mark_missed(now: datetime) -> dict[str, Any]:
    """Tasks whose window ended without being started are missed; started ones too, once
    GRID_PATROL_FINISH_GRACE_MINUTES have passed after the window without a finish (their
    start and check-ins stay on the task)."""
    grace = timedelta(minutes=get_settings().patrol_finish_grace_minutes)
    async with write_transaction():
        unstarted = (
            await PatrolTask.update({PatrolTask.status: "missed", PatrolTask.missed_at: now})
            .where((PatrolTask.status == "scheduled") & (PatrolTask.window_end <= now))
            .returning(PatrolTask.id)
            .run()
        )
        unfinished = (
            await PatrolTask.update({PatrolTask.status: "missed", PatrolTask.missed_at: now})
            .where((PatrolTask.status == "in_progress") & (PatrolTask.window_end <= now - grace))
            .returning(PatrolTask.id)
            .run()
        )
    return {"missed": len(unstarted), "started_unfinished": len(unfinished)}


async def cancel_future(plan_id: int, now: datetime, reason: str) -> int:
    """Cancel a plan's tasks that have not started and whose window opens after now (call in
    the transaction that changes the plan, after its row is updated)."""
    done = (
        await PatrolTask.update(
            {
                PatrolTask.status: "cancelled",
                PatrolTask.cancelled_at: now,
                PatrolTask.cancel_reason: reason,
            }
        )
        .where(
            (PatrolTask.plan == plan_id)
            & (PatrolTask.status == "scheduled")
            & (PatrolTask.window_start > now)
        )
        .returning(PatrolTask.id)
        .run()
    )
    return len(done)


__all__ = ["cancel_future", "fill_gaps", "mark_missed", "materialise", "occurrences", "trigger_for"]
