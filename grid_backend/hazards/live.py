"""Live case events for the consoles of the areas a case is in (docs/live.md): a new case, an
urgent one, a deadline 30 minutes away, a deadline passed, and an urgent case marked seen.

Who receives them: the holders of the duties that may read the case (`report.read`) at its area
or above, on duty today: the reading rule, so no event reaches another township's console.
They go over the callout board's stream (GET /api/v1/events, one channel per account, Redis
fan-out between replicas). An urgent case rings on those consoles until someone on duty marks
it seen: once per case (a unique key), on its timeline, audited, and announced so the alarm
stops on every console of the area. The API of the alarms is here too."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.status_codes import HTTP_200_OK

from grid_backend.core import audit, clock, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import Conflict, NotFound
from grid_backend.core.revisions import RevisionCache
from grid_backend.core.types import PathId
from grid_backend.hazards import timeline, workflow
from grid_backend.hazards.services import Actor
from grid_backend.hazards.services.config import category_names
from grid_backend.hazards.tables import Announcement, HazardReport
from grid_backend.notify import services as notify
from grid_backend.people.caller import CurrentMember
from grid_backend.people.duty import holders

logger = logging.getLogger("grid_backend.hazards")

EXCERPT = 80  # characters of the description an event carries
MAX_ALARMS = 50

_watchers = RevisionCache("assignments", max_entries=20_000)


async def watchers(area_path: str) -> list[int]:
    """Who receives the live events of a case in this area: holders of `report.read` duties
    at it or above, on duty today."""
    day = clock.today()
    hit, found = await _watchers.lookup(area_path, day)
    if hit:
        return found
    held = await holders(
        duties=sorted(policy.RULES["report.read"]),
        area_paths=policy.ancestors_and_self(area_path),
        day=day,
    )
    found = sorted({a for accounts in held.values() for a in accounts})
    _watchers.store(area_path, found)
    return found


_COLUMNS = (
    HazardReport.id,
    HazardReport.status,
    HazardReport.urgent,
    HazardReport.level,
    HazardReport.category,
    HazardReport.description,
    HazardReport.area_path,
    HazardReport.due_at,
    HazardReport.created_at,
    HazardReport.grid.name.as_alias("grid_name"),
    HazardReport.community.name.as_alias("community_name"),
)


async def _cases(case_ids: list[int]) -> list[dict[str, Any]]:
    if not case_ids:
        return []
    rows = await HazardReport.select(*_COLUMNS).where(HazardReport.id.is_in(case_ids)).run()
    names = await category_names()
    for r in rows:
        r["category_zh"], r["category_en"] = names.get(r["category"], (r["category"],) * 2)
    return rows


def case_event(kind: str, case: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The event's JSON: enough to show a line or a banner without asking the server again."""
    description = case["description"] or ""
    return {
        "type": kind,
        "case_id": case["id"],
        "status": case["status"],
        "urgent": case["urgent"],
        "level": case["level"],
        "category": case["category"],
        "category_zh": case["category_zh"],
        "category_en": case["category_en"],
        "place": " / ".join(n for n in (case["community_name"], case["grid_name"]) if n),
        "excerpt": description[:EXCERPT] + ("…" if len(description) > EXCERPT else ""),
        "created_at": _iso(case["created_at"]),
        "due_at": _iso(case["due_at"]),
        "at": clock.now().isoformat(),
        **extra,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def announce(kind: str, case_ids: list[int], **extra: Any) -> int:
    """Publish `kind` for these cases to their areas' consoles (after the change committed);
    how many (account, event) pairs went out. Best effort, as every live event: a failure is
    logged, never the caller's error (the change is committed and the record is in the
    database)."""
    try:
        return await _announce(kind, case_ids, **extra)
    except Exception:
        logger.warning("live %s events not published for cases %s", kind, case_ids, exc_info=True)
        return 0


async def _announce(kind: str, case_ids: list[int], **extra: Any) -> int:
    by_path: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in await _cases(case_ids):
        by_path[case["area_path"]].append(case_event(kind, case, **extra))
    sent = 0
    for path, events in by_path.items():
        accounts = await watchers(path)
        for event in events:
            sent += len(accounts) if notify.publish(accounts, event) else 0
    return sent


async def announce_new(case_id: int, *, urgent: bool) -> int:
    """A case was filed: `case.urgent` for an urgent one (the consoles ring), else `case.new`."""
    return await announce("case.urgent" if urgent else "case.new", [case_id])


# --- urgent cases seen --------------------------------------------------------------------


class Alarm(msgspec.Struct):
    case_id: int
    status: str
    category: str
    category_name: str
    place: str
    excerpt: str
    created_at: datetime
    due_at: datetime | None


class Seen(msgspec.Struct):
    case_id: int
    seen_by_id: int | None
    seen_by_name: str
    seen_at: datetime
    already: bool  # True: someone had marked it seen before; nothing was recorded again


async def alarms(*, actor: Actor, english: bool = False) -> list[Alarm]:
    """Urgent open cases in the caller's areas that nobody on duty has marked seen yet,
    newest first."""
    scope = under(HazardReport.area_path, policy.scopes(actor.grants, "report.read"))
    if scope is None:
        return []
    rows = (
        await HazardReport.select(HazardReport.id)
        .where(
            HazardReport.urgent.eq(True) & HazardReport.status.is_in(list(workflow.OPEN)) & scope
        )
        .order_by(HazardReport.id, ascending=False)
        .limit(MAX_ALARMS)
        .run()
    )
    ids = [r["id"] for r in rows]
    if not ids:
        return []
    seen = {
        r["report"]
        for r in await Announcement.select(Announcement.report)
        .where(Announcement.report.is_in(ids) & (Announcement.kind == "seen"))
        .run()
    }
    cases = sorted(await _cases([i for i in ids if i not in seen]), key=lambda c: -c["id"])
    return [_alarm(case_event("case.urgent", c), english) for c in cases]


def _alarm(event: dict[str, Any], english: bool) -> Alarm:
    return Alarm(
        case_id=event["case_id"],
        status=event["status"],
        category=event["category"],
        category_name=event["category_en" if english else "category_zh"],
        place=event["place"],
        excerpt=event["excerpt"],
        created_at=datetime.fromisoformat(event["created_at"]),
        due_at=datetime.fromisoformat(event["due_at"]) if event["due_at"] else None,
    )


async def mark_seen(*, report_id: int, actor: Actor) -> Seen:
    """Someone on duty saw an urgent case: once per case, on its timeline and in the audit
    trail; the consoles of its area stop ringing. A second mark changes nothing."""
    case = (
        await HazardReport.select(
            HazardReport.id, HazardReport.status, HazardReport.urgent, HazardReport.area_path
        )
        .where(HazardReport.id == report_id)
        .first()
        .run()
    )
    if case is None or not policy.allows(actor.grants, "report.read", case["area_path"]):
        raise NotFound("report_not_found")  # as reading it: ids reveal nothing
    if not case["urgent"]:
        raise Conflict("report_not_urgent")
    now = clock.now()
    async with write_transaction():
        won = (
            await Announcement.insert(
                Announcement(
                    report=report_id,
                    kind="seen",
                    key=f"seen:{report_id}",
                    account=actor.account_id,
                    created_at=now,
                )
            )
            .on_conflict(target=Announcement.key, action="DO NOTHING")
            .returning(Announcement.id)
            .run()
        )
        if won:
            duty = policy.duty_covering(actor.grants, case["area_path"])
            await timeline.record_event(
                report_id,
                action="urgent_seen",
                from_status=case["status"],
                to_status=case["status"],
                actor_id=actor.account_id,
                duty=duty,
                public=False,
            )
            await audit.record(
                actor_id=actor.account_id,
                action="case.urgent_seen",
                object_type="hazard_report",
                object_id=report_id,
                area_path=case["area_path"],
            )
    seen = await _seen(report_id)
    if won:
        await announce(
            "case.seen",
            [report_id],
            seen_by_id=seen.seen_by_id,
            seen_by_name=seen.seen_by_name,
            seen_at=seen.seen_at.isoformat(),
        )
        return seen
    return msgspec.structs.replace(seen, already=True)


async def _seen(report_id: int) -> Seen:
    row = (
        await Announcement.select(
            Announcement.account, Announcement.created_at, Announcement.account.name
        )
        .where(Announcement.key == f"seen:{report_id}")
        .first()
        .run()
    )
    assert row is not None  # written above, or before
    return Seen(
        case_id=report_id,
        seen_by_id=row["account"],
        seen_by_name=row["account.name"] or "",
        seen_at=row["created_at"],
        already=False,
    )


class AlarmController(Controller):
    path = "/api/v1"
    tags = ["hazards"]

    @get(
        "/urgent-alarms",
        summary="Urgent open cases in the caller's areas that nobody on duty has marked seen",
        description="What the console's banner shows on load; live changes arrive as"
        " `case.urgent` and `case.seen` on GET /api/v1/events.",
    )
    async def list_alarms(self, member: CurrentMember) -> list[Alarm]:
        return await alarms(
            actor=Actor(member.account_id, member.grants),
            english=member.english,
        )

    @post(
        "/reports/{report_id:int}/seen",
        status_code=HTTP_200_OK,
        summary='Mark an urgent case seen ("看到了"): its alarm stops on every console of its area',
        description="Once per case: a second call answers who saw it first, with"
        " `already: true`, and records nothing. On the case's timeline (`urgent_seen`) and in"
        " the audit trail.",
    )
    async def seen(self, member: CurrentMember, report_id: PathId) -> Seen:
        return await mark_seen(report_id=report_id, actor=Actor(member.account_id, member.grants))


__all__ = [
    "Alarm",
    "AlarmController",
    "Seen",
    "alarms",
    "announce",
    "announce_new",
    "case_event",
    "mark_seen",
    "watchers",
]
