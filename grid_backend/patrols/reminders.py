"""Patrol reminders and escalations through the outbox: before a window opens (30 min), when
half of it has passed without a start, at a miss (to the grid's leaders), and after repeated
misses (3 in 7 days, to the township's dispatchers). Dedupe keys make every run idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from grid_backend.core import clock
from grid_backend.core.db import write_transaction
from grid_backend.core.policy import ancestor_path
from grid_backend.notify import services as notify
from grid_backend.patrols.tables import PatrolTask
from grid_backend.people.duty import holders
from grid_backend.settings import get_settings

BEFORE = timedelta(minutes=30)
REPEATED = 3  # misses in 7 days that reach the township


async def remind_patrols(now: datetime) -> dict[str, Any]:
    """One pass over tasks near their window, unstarted halfway, and recently missed."""
    zone = get_settings().zone
    columns = (
        PatrolTask.id,
        PatrolTask.assignee,
        PatrolTask.window_start,
        PatrolTask.window_end,
        PatrolTask.area_path,
        PatrolTask.grid,
        PatrolTask.grid.name.as_alias("grid_name"),
        PatrolTask.assignee.name.as_alias("assignee_name"),
    )
    soon = (
        await PatrolTask.select(*columns)
        .where(
            (PatrolTask.status == "scheduled")
            & PatrolTask.assignee.is_not_null()
            & (PatrolTask.window_start > now - timedelta(hours=12))
            & (PatrolTask.window_start <= now + BEFORE)
            & (PatrolTask.window_end > now)
        )
        .limit(20_000)
        .run()
    )
    missed = (
        await PatrolTask.select(*columns)
        .where(
            (PatrolTask.status == "missed")
            & PatrolTask.excused_at.is_null()
            & (PatrolTask.missed_at >= now - timedelta(days=1))
        )
        .limit(20_000)
        .run()
    )
    day = clock.today()
    leaders = await holders(
        duties=["grid_leader"], area_paths=[t["area_path"] for t in missed], day=day
    )
    counts: dict[str, int] = {"before": 0, "not_started": 0, "missed": 0, "repeated": 0}

    def local(t: dict[str, Any]) -> str:
        return t["window_start"].astimezone(zone).strftime("%m-%d %H:%M")

    async with write_transaction():
        for t in soon:
            payload = {"task_id": t["id"], "grid_name": t["grid_name"], "starts_local": local(t)}
            if now < t["window_start"]:
                key, kind, step = "before", "patrol.reminder", "before"
            elif now >= t["window_start"] + (t["window_end"] - t["window_start"]) / 2:
                key, kind, step = "half", "patrol.not_started", "not_started"
            else:
                continue
            counts[step] += bool(
                await notify.enqueue(
                    recipient_id=t["assignee"],
                    kind=kind,
                    payload=payload,
                    dedupe_key=f"task:{t['id']}:{key}:account:{t['assignee']}",
                )
            )
        for t in missed:
            payload = {
                "task_id": t["id"],
                "grid_name": t["grid_name"],
                "starts_local": local(t),
                "assignee_name": t["assignee_name"] or "未指派",
            }
            for leader in leaders.get(t["area_path"], []):
                counts["missed"] += bool(
                    await notify.enqueue(
                        recipient_id=leader,
                        kind="patrol.missed",
                        payload=payload,
                        dedupe_key=f"task:{t['id']}:missed:account:{leader}",
                    )
                )
        counts["repeated"] = await _repeated_misses(now, day)
    return counts


async def _repeated_misses(now: datetime, day: Any) -> int:
    """Tell the township's dispatchers about anyone with 3 unexcused misses in 7 days (once a
    week per person)."""
    rows = (
        await PatrolTask.select(
            PatrolTask.assignee,
            PatrolTask.area_path,
            PatrolTask.assignee.name.as_alias("assignee_name"),
        )
        .where(
            (PatrolTask.status == "missed")
            & PatrolTask.excused_at.is_null()
            & PatrolTask.assignee.is_not_null()
            & (PatrolTask.window_start >= now - timedelta(days=7))
        )
        .run()
    )
    per_person: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        per_person.setdefault(r["assignee"], []).append(r)
    repeat = {a: rs for a, rs in per_person.items() if len(rs) >= REPEATED}
    if not repeat:
        return 0
    dispatchers = await holders(
        duties=["dispatcher"],
        day=day,
        area_paths=[ancestor_path(rs[0]["area_path"], "township") for rs in repeat.values()],
    )
    week = day.isocalendar()
    sent = 0
    for assignee, rs in repeat.items():
        for dispatcher in dispatchers.get(ancestor_path(rs[0]["area_path"], "township"), []):
            sent += bool(
                await notify.enqueue(
                    recipient_id=dispatcher,
                    kind="patrol.repeated_misses",
                    payload={"assignee_name": rs[0]["assignee_name"], "count": len(rs)},
                    dedupe_key=f"misses:{assignee}:{week.year}-W{week.week}:account:{dispatcher}",
                )
            )
    return sent
