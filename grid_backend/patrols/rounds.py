"""Extra patrol rounds (加密巡查): tasks added to plans for a period, beside their recurrence.

A plan's `extra_rounds` says how many rounds a warning of each level adds. The caller (alerts)
decides which rounds should exist and keeps the key of each; this module finds the plans,
places the rounds in the period, makes their tasks and cancels them. An extra task is an
ordinary patrol task (reminders, check-ins, missed marking all apply), so it shares the unique
live (plan, window_start) index: a round that would start exactly with another task of its plan
moves on by a minute."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from grid_backend.core.db import fetch, under
from grid_backend.core.sql import postgres, q, values
from grid_backend.patrols.tables import PatrolPlan, PatrolTask
from grid_backend.people.duty import roster
from grid_backend.settings import get_settings

_SHIFTS = 5  # tries at a free window start, a minute apart


@dataclass(frozen=True, slots=True)
class Round:
    plan: dict[str, Any]
    number: int  # 1..n
    window_start: datetime


async def plans_with_rounds(*, area_paths: list[str], level: str) -> list[dict[str, Any]]:
    """Active plans of the grids under these paths that add rounds at this warning level,
    with `rounds` set to that number."""
    if not area_paths:
        return []
    rows = (
        await PatrolPlan.select(
            PatrolPlan.id,
            PatrolPlan.grid,
            PatrolPlan.area_path,
            PatrolPlan.assignee,
            PatrolPlan.duty,
            PatrolPlan.employment,
            PatrolPlan.window_minutes,
            PatrolPlan.valid_from,
            PatrolPlan.valid_to,
            PatrolPlan.revision,
            PatrolPlan.extra_rounds,
        )
        .where((PatrolPlan.status == "active") & under(PatrolPlan.area_path, area_paths))
        .order_by(PatrolPlan.id)
        .run()
    )
    found = []
    for r in rows:
        extra = r["extra_rounds"]
        extra = json.loads(extra) if isinstance(extra, str) else (extra or {})
        count = int(extra.get(level) or 0)
        if count > 0:
            found.append({**r, "rounds": count})
    return found


def round_starts(start: datetime, end: datetime, count: int) -> list[datetime]:
    """`count` window starts spread evenly over [start, end), the first at `start`, on whole
    minutes."""
    step = (end - start) / count
    starts = []
    for k in range(count):
        at = start + step * k
        if at.second or at.microsecond:
            at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        starts.append(at)
    return starts


async def add_round_tasks(rounds: list[Round], *, now: datetime) -> dict[tuple[int, int], int]:
    """Make a task for each round (in the caller's transaction); {(plan id, round): task id}.
    The assignee is the plan's person, or whoever holds its duty on the round's local date;
    a round outside the plan's valid dates is skipped."""
    zone = get_settings().zone
    todo = []
    for r in rounds:
        day = r.window_start.astimezone(zone).date()
        p = r.plan
        if day < p["valid_from"] or (p["valid_to"] is not None and day > p["valid_to"]):
            continue
        todo.append((r, day))
    holders = await roster(
        (r.plan["grid"], r.plan["duty"], r.plan["employment"], day)
        for r, day in todo
        if r.plan["assignee"] is None and r.plan["duty"]
    )
    made: dict[tuple[int, int], int] = {}
    shift = 0
    while todo and shift < _SHIFTS:
        rows = []
        for r, day in todo:
            p = r.plan
            assignee = p["assignee"]
            if assignee is None and p["duty"]:
                assignee = holders.get((p["grid"], p["duty"], p["employment"], day))
            start = r.window_start + timedelta(minutes=shift)
            rows.append(
                (
                    p["id"],
                    p["revision"],
                    p["grid"],
                    p["area_path"],
                    assignee,
                    start.astimezone(zone).date(),
                    start,
                    start + timedelta(minutes=p["window_minutes"]),
                    now,
                )
            )
        by_start = {(t["plan"], _utc(t["window_start"])): t["id"] for t in await _insert(rows)}
        left = []
        for r, day in todo:
            key = (r.plan["id"], r.window_start + timedelta(minutes=shift))
            if key in by_start:
                made[(r.plan["id"], r.number)] = by_start[key]
            else:  # another task of the plan starts then: try a minute later
                left.append((r, day))
        todo = left
        shift += 1
    return made


def _utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite: RETURNING gives the stored text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# hand-written: a district's warning makes thousands of rounds, and building Piccolo rows
# cost five times the database's work
_INSERT = (
    "INSERT INTO patrol_task (plan, plan_revision, grid, area_path, assignee, local_date,"
    " window_start, window_end, created_at, status) {}"
    " ON CONFLICT DO NOTHING RETURNING id, plan, window_start"
)
_UNNEST = (
    "SELECT u.*, 'scheduled' FROM unnest({}::int[], {}::int[], {}::int[], {}::varchar[],"
    " {}::int[], {}::date[], {}::timestamptz[], {}::timestamptz[], {}::timestamptz[]) AS u"
)
_SQLITE_ROWS = 400  # rows per INSERT on SQLite (10 values each, under its variable limit)


async def _insert(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    if not rows:
        return []
    if postgres():  # one statement of arrays; SQLite takes VALUES lists, a chunk at a time
        columns = [list(c) for c in zip(*rows, strict=True)]
        return await fetch(q(_INSERT, q(_UNNEST, *columns)))
    inserted = []
    for i in range(0, len(rows), _SQLITE_ROWS):
        inserted += await fetch(
            q(_INSERT, values([(*r, "scheduled") for r in rows[i : i + _SQLITE_ROWS]]))
        )
    return inserted


async def cancel_round_tasks(task_ids: list[int], *, now: datetime, reason: str) -> int:
    """Cancel those of these tasks nobody has started (in the caller's transaction)."""
    cancelled = 0
    for i in range(0, len(task_ids), 500):
        done = (
            await PatrolTask.update(
                {
                    PatrolTask.status: "cancelled",
                    PatrolTask.cancelled_at: now,
                    PatrolTask.cancel_reason: reason,
                }
            )
            .where(PatrolTask.id.is_in(task_ids[i : i + 500]) & (PatrolTask.status == "scheduled"))
            .returning(PatrolTask.id)
            .run()
        )
        cancelled += len(done)
    return cancelled


__all__ = ["Round", "add_round_tasks", "cancel_round_tasks", "plans_with_rounds", "round_starts"]
