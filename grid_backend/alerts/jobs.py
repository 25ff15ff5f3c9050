"""The escalation job: `grid-backend jobs run alerts.escalate` runs one tick by hand.

A callout's recipients who have not acknowledged are escalated every `escalate_minutes`
(GRID_CALLOUT_ESCALATE_MINUTES, 5 by default) after it was sent: step 1 reminds them, step 2
tells their grid leader, step 3 the dispatchers of their township (its commanders if it has no
dispatcher). Each callout keeps the time its next step is due, so a tick reads only the
callouts that need it. A step moves the waiting recipients in one conditional UPDATE
(`step = n - 1` → `n`) and notifies under dedupe keys, in one transaction per callout that
first moves the callout's own step: a second run, a crashed run or a concurrent one does
nothing twice. A tick that comes late does every step that is due at once. Each step that
moved someone tells the consoles watching the callout's areas live (`callout.unanswered`, with
how many have still not answered)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from grid_backend.alerts import fanout
from grid_backend.alerts.services import Live, board_event, publish_live
from grid_backend.alerts.services.idle import tell_who_waits
from grid_backend.alerts.services.warnings import announce_expired
from grid_backend.alerts.tables import Callout, CalloutArea
from grid_backend.core import clock
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.policy import ancestor_path
from grid_backend.core.sql import q, text
from grid_backend.people.duty import holders

STEPS = 3
BATCH = 200  # callouts per tick; the rest wait for the next

_STEP = (
    "UPDATE callout_recipient SET step = {}, stepped_at = {} WHERE callout = {}"
    " AND acked_at IS NULL AND step = {} RETURNING account, grid, area_path"
)
_REMINDED = text("r.acked_at IS NULL AND r.step = 1")  # the recipients step 1 just moved


async def escalate(now: datetime) -> dict[str, Any]:
    """Escalate the recipients of every callout whose next step is due."""
    due = (
        await Callout.select(
            Callout.id,
            Callout.created_at,
            Callout.escalate_minutes,
            Callout.step,
            Callout.message,
            Callout.message_en,
            Callout.warning,
            Callout.level,
        )
        .where(
            (Callout.status == "active")
            & Callout.next_step_at.is_not_null()
            & (Callout.next_step_at <= now)
        )
        .order_by(Callout.next_step_at)
        .limit(BATCH)
        .run()
    )
    totals = {"callouts": 0, "reminded": 0, "leaders": 0, "dispatchers": 0}
    for callout in due:
        live: Live = []
        async with write_transaction():
            counts = await _escalate_one(callout, now, live)
        publish_live(live)
        totals["callouts"] += counts is not None
        for key, value in (counts or {}).items():
            totals[key] += value
    return totals


async def _escalate_one(
    callout: dict[str, Any], now: datetime, live: Live
) -> dict[str, int] | None:
    every = timedelta(minutes=callout["escalate_minutes"])
    reached = min(STEPS, int((now - callout["created_at"]) / every))
    following = callout["created_at"] + every * (reached + 1) if reached < STEPS else None
    # the callout's row first: a concurrent run waits on it, then finds its step moved
    taken = (
        await Callout.update(
            {Callout.step: max(reached, callout["step"]), Callout.next_step_at: following}
        )
        .where(
            (Callout.id == callout["id"])
            & (Callout.step == callout["step"])
            & (Callout.status == "active")
        )
        .returning(Callout.id)
        .run()
    )
    if not taken:
        return None
    counts = {"reminded": 0, "leaders": 0, "dispatchers": 0}
    waiting = 0
    minutes = callout["escalate_minutes"]
    text = {"text_zh": callout["message"], "text_en": callout["message_en"] or callout["message"]}
    for step in range(callout["step"] + 1, reached + 1):
        moved = await fetch(q(_STEP, step, now, callout["id"], step - 1))
        if not moved:
            break  # everyone has answered: later steps have nobody either
        waiting = len(moved)
        if step == 1:
            live += await fanout.notify_recipients(
                callout_id=callout["id"],
                kind="callout.reminder",
                payload={"callout_id": callout["id"], "warning_id": callout["warning"], **text},
                dedupe_key=f"callout:{callout['id']}:remind",
                now=now,
                where=_REMINDED,
            )
            counts["reminded"] = len(moved)
        elif step == 2:
            counts["leaders"] = await _tell(
                callout, moved, level="grid", duties=(["grid_leader"],), minutes=minutes * 2
            )
        else:
            counts["dispatchers"] = await _tell(
                callout,
                moved,
                level="township",
                duties=(["dispatcher"], ["commander"]),
                minutes=minutes * 3,
            )
    if any(counts.values()):
        areas = await CalloutArea.select(CalloutArea.area_path).where(
            CalloutArea.callout == callout["id"]
        )
        paths = [a["area_path"] for a in areas]
        live += await board_event(
            callout["id"], paths, {"type": "callout.escalated", "step": reached}
        )
        # the consoles' live alerts (header, list of events): who has still not answered
        live += await board_event(
            callout["id"],
            paths,
            {
                "type": "callout.unanswered",
                "step": reached,
                "waiting": waiting,
                "level": callout["level"],
                "minutes": minutes * reached,
                **text,
            },
        )
    return counts


async def _tell(
    callout: dict[str, Any],
    moved: list[dict[str, Any]],
    *,
    level: str,
    duties: tuple[list[str], ...],
    minutes: int,
) -> int:
    """Tell the holders of `duties` (the first list anyone holds) at each `level` area above
    the waiting recipients who is still waiting; nobody is told about themselves."""
    waiting: dict[str, list[int]] = defaultdict(list)
    for r in moved:
        waiting[ancestor_path(r["area_path"], level)].append(r["account"])
    day = clock.today()
    found: dict[str, list[int]] = {}
    for choice in duties:
        left = [p for p in waiting if p not in found]
        if not left:
            break
        found.update(await holders(duties=choice, area_paths=left, day=day))
    return await tell_who_waits(
        waiting,
        found,
        kind="callout.escalated",
        payload={"callout_id": callout["id"], "warning_id": callout["warning"]},
        dedupe=f"callout:{callout['id']}:{level}",
        minutes=minutes,
    )


__all__ = ["escalate"]


async def announce_expiries(now: datetime) -> dict[str, Any]:
    """Warnings that ran out lately, to the webhook subscribers who want `warning.expired`."""
    return await announce_expired(now)
