"""Deadline reminders and escalations of hazard cases, through the notification outbox.

Before a stage's deadline (30 min) the person responsible is reminded; once it has passed the
case escalates up the area tree: the assignee (or the township's dispatchers) at once, the
township's dispatchers and commander after 2 h, the district's supervisors after 24 h.
Escalation changes who is told, not the status. Every notification has a dedupe key naming the
case, the deadline and the step, so a repeated or interrupted run sends nothing twice.

Apart from those notifications to the people responsible, the consoles of a case's area are
told live when its deadline is 30 minutes away and when it passes (`announce_deadlines`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from grid_backend.core import clock
from grid_backend.core.db import write_transaction
from grid_backend.core.policy import ancestor_path
from grid_backend.hazards import live, webhooks, workflow
from grid_backend.hazards.tables import Announcement, HazardReport
from grid_backend.notify import services as notify
from grid_backend.people.duty import holders
from grid_backend.settings import get_settings

REMIND_BEFORE = timedelta(minutes=30)
# (time past the deadline, who is told)
# a deadline missed longer ago is not sent to webhooks: the first run after an upgrade (or a
# long outage) must not send every case that went overdue long ago
MISSED_LATE = timedelta(hours=24)
ESCALATION = (
    (timedelta(0), "responsible"),
    (timedelta(hours=2), "township"),
    (timedelta(hours=24), "district"),
)


async def remind_deadlines(now: datetime) -> dict[str, Any]:
    """Remind before each case deadline and escalate after it (idempotent by dedupe keys)."""
    running = list(workflow.RUNNING)
    cases = (
        await HazardReport.select(*webhooks.CASE_COLUMNS)
        .where(
            HazardReport.status.is_in(running)
            & HazardReport.due_at.is_not_null()
            & (HazardReport.due_at <= now + REMIND_BEFORE)
        )
        .limit(5000)
        .run()
    )
    day = clock.today()
    townships = [ancestor_path(c["area_path"], "township") for c in cases]
    districts = [ancestor_path(c["area_path"], "district") for c in cases]
    command = await holders(duties=["dispatcher", "commander"], area_paths=townships, day=day)
    dispatch_only = await holders(duties=["dispatcher"], area_paths=townships, day=day)
    supervisors = await holders(duties=["supervisor"], area_paths=districts, day=day)
    sent = 0
    zone = get_settings().zone
    async with write_transaction():
        for case in cases:
            responsible = (
                [case["assignee"]]
                if case["assignee"]
                else dispatch_only.get(ancestor_path(case["area_path"], "township"), [])
            )
            due = case["due_at"]
            steps: list[tuple[str, list[int]]] = []
            if due > now:
                steps.append(("before", responsible))
            else:
                if now - due < MISSED_LATE:  # once per case and deadline (the event's key)
                    await webhooks.deadline_missed(case, due)
                for after, who in ESCALATION:
                    if now - due < after:
                        break
                    steps.append(
                        (
                            f"overdue+{int(after.total_seconds() // 3600)}h",
                            {
                                "responsible": responsible,
                                "township": command.get(
                                    ancestor_path(case["area_path"], "township"), []
                                ),
                                "district": supervisors.get(
                                    ancestor_path(case["area_path"], "district"), []
                                ),
                            }[who],
                        )
                    )
            for step, people in steps:
                kind = "case.overdue" if step != "before" else "case.due_soon"
                for account_id in people:
                    new = await notify.enqueue(
                        recipient_id=account_id,
                        kind=kind,
                        payload={
                            "case_id": case["id"],
                            "status": case["status"],
                            "due_at": due.isoformat(),
                            "step": step,
                            "due_local": due.astimezone(zone).strftime("%m-%d %H:%M"),
                        },
                        dedupe_key=f"case:{case['id']}:due:{due.isoformat()}:{step}:account:{account_id}",
                        urgent=step != "before",
                    )
                    sent += bool(new)
    return {"cases": len(cases), "notified": sent}


ANNOUNCE_BEFORE = timedelta(minutes=30)
# an older deadline is not announced: the first run after an upgrade (or a long outage) must
# not ring for every case that went overdue long ago
ANNOUNCE_LATE = timedelta(hours=24)


async def announce_deadlines(now: datetime) -> dict[str, Any]:
    """Announce to the consoles of their areas each case whose deadline is 30 minutes away
    (`case.due_soon`) or has just passed (`case.overdue`): once per case, deadline and kind
    (a unique key), so a repeated or concurrent run announces nothing twice. A process that
    cannot publish (a CLI command) leaves them to the server's scheduler."""
    if not notify.can_publish():
        return {"cases": 0, "announced": 0, "skipped": "no live events in this process"}
    cases = (
        await HazardReport.select(HazardReport.id, HazardReport.due_at)
        .where(
            HazardReport.status.is_in(list(workflow.RUNNING))
            & HazardReport.due_at.is_not_null()
            & (HazardReport.due_at <= now + ANNOUNCE_BEFORE)
            & (HazardReport.due_at > now - ANNOUNCE_LATE)
        )
        .limit(5000)
        .run()
    )
    marks = [
        Announcement(
            report=c["id"],
            kind=kind,
            key=f"{kind}:{c['id']}:{c['due_at'].isoformat()}",
            created_at=now,
        )
        for c in cases
        for kind in ("overdue" if c["due_at"] <= now else "due_soon",)
    ]
    if marks:  # most were announced on an earlier tick: insert only the new ones
        made = await Announcement.select(Announcement.key).where(
            Announcement.report.is_in([c["id"] for c in cases])
            & Announcement.kind.is_in(["due_soon", "overdue"])
        )
        keys = {m["key"] for m in made}
        marks = [m for m in marks if m.key not in keys]
    new: list[dict[str, Any]] = []
    if marks:
        async with write_transaction():
            new = (
                await Announcement.insert(*marks)
                .on_conflict(target=Announcement.key, action="DO NOTHING")
                .returning(Announcement.report, Announcement.kind)
                .run()
            )
    announced = 0
    for kind in ("due_soon", "overdue"):
        ids = [m["report"] for m in new if m["kind"] == kind]
        if ids:
            await live.announce(f"case.{kind}", ids)
            announced += len(ids)
    return {"cases": len(cases), "announced": announced}


# a deadline mark is needed only while its deadline may still be announced (ANNOUNCE_LATE)
KEEP_DEADLINE_MARKS = timedelta(days=2)


async def prune_announcements(now: datetime) -> dict[str, Any]:
    """Delete deadline marks old enough that their deadlines are never announced again (the
    "seen" marks of urgent cases stay: they keep the alarm down)."""
    async with write_transaction():
        gone = (
            await Announcement.delete()
            .where(
                Announcement.kind.is_in(["due_soon", "overdue"])
                & (Announcement.created_at < now - KEEP_DEADLINE_MARKS)
            )
            .returning(Announcement.id)
            .run()
        )
    return {"deleted": len(gone)}
