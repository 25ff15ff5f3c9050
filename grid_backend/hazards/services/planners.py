"""The workflow's planners, beside workflow.TRANSITIONS: one short function per action that
checks the action's fields against the case and works out its effects (columns to change,
event details, photos to attach, points to award). PLANNERS maps an action to its planner;
`plan` runs the checks every action shares, then the action's own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from grid_backend.areas.tables import Area
from grid_backend.core import policy
from grid_backend.core.errors import DomainError, invalid
from grid_backend.hazards import workflow
from grid_backend.hazards.schemas import ActionIn
from grid_backend.hazards.services.config import _category, sla_for
from grid_backend.hazards.services.evidence import _check_photos, _route
from grid_backend.hazards.services.roles import Actor
from grid_backend.hazards.tables import HazardReport
from grid_backend.people import duty
from grid_backend.settings import get_settings

_DEFAULT_RECTIFY_MINUTES = 3 * 24 * 60


@dataclass(slots=True)
class Step:
    """What one action changes: columns, event details, photos to attach, points to award."""

    changes: dict[Any, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    photos: list[tuple[list[int], str]] = field(default_factory=list)
    awards: list[dict[str, Any]] = field(default_factory=list)
    lat: float | None = None
    lng: float | None = None


@dataclass(frozen=True, slots=True)
class Planning:
    """What a planner works from, and the step it fills in."""

    case: dict[str, Any]
    data: ActionIn
    actor: Actor
    now: datetime
    step: Step

    @property
    def reporter_rewarded(self) -> bool:
        """Points go to residents who report, not to staff."""
        return self.case["reporter"] is not None and not self.case["reporter_is_staff"]

    def award(self, delta: int, reason: str, key: str) -> None:
        self.step.awards.append(dict(delta=delta, reason=reason, key=key))

    def change(self, values: dict[Any, Any]) -> None:
        self.step.changes.update(values)


Planner = Callable[[Planning], Awaitable[None]]


async def plan(
    t: workflow.Transition, case: dict[str, Any], data: ActionIn, actor: Actor, now: datetime
) -> Step:
    """Validate an action's fields against the case and work out its effects."""
    p = Planning(case, data, actor, now, Step())
    reason = _need_reason(data) if t.reason_required else (data.reason or "").strip()
    p.step.data["reason"] = reason or None
    await PLANNERS[t.action](p)
    return p.step


def _need_reason(data: ActionIn) -> str:
    reason = (data.reason or "").strip()
    if not reason:
        raise invalid("reason", "this action needs a reason", code="reason_required")
    return reason


def _future(field: str, value: datetime | None, now: datetime) -> None:
    """A deadline set by a person: with its UTC offset (a naive time is ambiguous and cannot
    be compared), and later than now."""
    if value is None:
        return
    if value.tzinfo is None:
        raise invalid(field, "give the deadline with its UTC offset")
    if value <= now:
        raise invalid(field, "the deadline must be in the future")


def _shift(value: datetime | None, by: timedelta) -> datetime | None:
    return value + by if value is not None else None


async def _triage_due(p: Planning) -> datetime:
    """When a case back among the registered is due for dispatch again."""
    sla = await sla_for(p.case["category"], p.case["level"])
    return p.now + timedelta(minutes=sla["triage_minutes"])


# --- triage --------------------------------------------------------------------------------


async def _register(p: Planning) -> None:
    data, case = p.data, p.case
    if data.category:
        p.step.changes[HazardReport.category] = (await _category(data.category))["code"]
    if data.level:
        p.step.changes[HazardReport.level] = data.level
    p.step.changes[HazardReport.registered_at] = p.now
    if p.reporter_rewarded:
        p.award(get_settings().points_registered, "registered", f"registered:{case['id']}")


async def _reject(p: Planning) -> None:
    p.step.data["false_report"] = p.data.false_report
    p.step.changes[HazardReport.due_at] = None
    if p.data.false_report and p.reporter_rewarded:
        p.award(get_settings().points_false_report, "false_report", f"false:{p.case['id']}")


async def _merge(p: Planning) -> None:
    data, case = p.data, p.case
    if data.into is None:
        raise invalid(
            "into",
            "name the case this one duplicates",
            code="merge_target_required",
        )
    if data.into == case["id"]:
        raise invalid("into", "a case cannot be merged into itself")
    target = (
        await HazardReport.select(HazardReport.id, HazardReport.status, HazardReport.area_path)
        .where(HazardReport.id == data.into)
        .first()
        .run()
    )
    if target is None or not policy.allows(p.actor.grants, "report.command", target["area_path"]):
        raise invalid(
            "into",
            "no such case in your area",
            code="report_not_found",
        )
    if target["status"] not in workflow.OPEN:
        raise invalid(
            "into",
            "the target case is not open",
            code="report_not_open",
        )
    p.step.changes[HazardReport.merged_into] = target["id"]
    p.step.changes[HazardReport.due_at] = None
    p.step.data["into"] = target["id"]
    if p.reporter_rewarded:  # later reporters of a hazard earn at most the first point
        p.award(get_settings().points_registered, "duplicate", f"registered:{case['id']}")


# --- dispatch ------------------------------------------------------------------------------


async def _dispatch(p: Planning) -> None:
    await _dispatch_target(p)
    supervision = _supervision(p)
    _future("due_at", p.data.due_at, p.now)
    sla = await sla_for(p.case["category"], p.case["level"])
    ack_due = p.now + timedelta(minutes=sla["acknowledge_minutes"])
    if p.data.due_at is not None:
        rectify_due = p.data.due_at
    elif p.case["level"] == "major" and supervision:
        rectify_due = (
            msgspec.convert(supervision["deadline"], datetime)
            if isinstance(supervision["deadline"], str)
            else supervision["deadline"]
        )
    else:
        rectify_due = p.now + timedelta(minutes=sla["rectify_minutes"] or _DEFAULT_RECTIFY_MINUTES)
    p.change(
        {
            HazardReport.dispatched_at: p.now,
            HazardReport.acknowledge_due_at: ack_due,
            HazardReport.rectify_due_at: rectify_due,
            HazardReport.due_at: ack_due,
        }
    )


async def _dispatch_target(p: Planning) -> None:
    """Exactly one of a person, a grid or a board, replacing any earlier one (a reopened
    case dispatched again)."""
    data, step = p.data, p.step
    targets = [x for x in (data.assignee_id, data.grid_id, data.board) if x is not None]
    if len(targets) != 1:
        raise invalid(
            "assignee_id",
            "dispatch to exactly one of assignee_id, grid_id, board",
            code="dispatch_target_required",
        )
    p.change(
        {HazardReport.assignee: None, HazardReport.assigned_area: None, HazardReport.board: None}
    )
    if data.assignee_id is not None:
        await _assignee_ok(data.assignee_id, p.case)
        step.changes[HazardReport.assignee] = data.assignee_id
        step.data["assignee_id"] = data.assignee_id
    if data.grid_id is not None:
        grid = await _dispatch_grid(p, data.grid_id)
        step.changes[HazardReport.assigned_area] = grid
        step.data["grid_id"] = grid
    if data.board is not None:
        if data.board not in policy.BOARDS:
            raise invalid(
                "board", "board is one of %(boards)s", params={"boards": ", ".join(policy.BOARDS)}
            )
        step.changes[HazardReport.board] = data.board
        step.data["board"] = data.board


async def _assignee_ok(account_id: int, case: dict[str, Any]) -> None:
    """An assignee must be on duty somewhere in the case's township (or above it)."""
    township_path = policy.ancestor_path(case["area_path"], "township")
    grants = await duty.grants_of(account_id)
    if not any(
        g.area_path.startswith(township_path) or case["area_path"].startswith(g.area_path)
        for g in grants
    ):
        raise invalid(
            "assignee_id",
            "the assignee holds no duty in this case's township",
            code="assignee_invalid",
        )


async def _dispatch_grid(p: Planning, grid_id: int) -> int:
    """A grid (or micro-grid) the dispatcher commands; its id."""
    grid = await Area.select(Area.id, Area.path, Area.level).where(Area.id == grid_id).first().run()
    if (
        grid is None
        or grid["level"] not in ("grid", "micro_grid")
        or not policy.allows(p.actor.grants, "report.command", grid["path"])
    ):
        raise invalid("grid_id", "no such grid in your area")
    return grid["id"]


def _supervision(p: Planning) -> Any:
    """The supervision listing a major hazard needs before dispatch (given now or before)."""
    data = p.data
    supervision = (
        msgspec.to_builtins(data.supervision) if data.supervision else p.case["supervision"]
    )
    if p.case["level"] == "major" and not supervision:
        raise invalid(
            "supervision",
            "a major hazard needs its supervision listing "
            "(responsibility, measures, funds, deadline, contingency plan)",
            code="supervision_required",
        )
    if data.supervision:
        _future("supervision.deadline", data.supervision.deadline, p.now)
        p.step.changes[HazardReport.supervision] = supervision
    return supervision


async def _acknowledge(p: Planning) -> None:
    p.change({HazardReport.acknowledged_at: p.now, HazardReport.due_at: p.case["rectify_due_at"]})


async def _return(p: Planning) -> None:
    due = await _triage_due(p)
    p.change(
        {
            HazardReport.assignee: None,
            HazardReport.assigned_area: None,
            HazardReport.board: None,
            HazardReport.due_at: due,
        }
    )


# --- the work ------------------------------------------------------------------------------


async def _suspend(p: Planning) -> None:
    p.step.changes[HazardReport.suspended_at] = p.now


async def _resume(p: Planning) -> None:
    case = p.case
    paused = p.now - (case["suspended_at"] or p.now)
    p.step.data["paused_seconds"] = int(paused.total_seconds())
    p.change(
        {
            HazardReport.suspended_at: None,
            HazardReport.due_at: _shift(case["due_at"], paused),
            HazardReport.rectify_due_at: _shift(case["rectify_due_at"], paused),
            HazardReport.acknowledge_due_at: _shift(case["acknowledge_due_at"], paused),
        }
    )


async def _report_fixed(p: Planning) -> None:
    await _check_photos(p.data.photo_ids, p.actor.account_id, "photo_ids", required=True)
    p.step.photos.append((p.data.photo_ids, "after"))
    p.change({HazardReport.fixed_at: p.now, HazardReport.due_at: None})


async def _fix_on_spot(p: Planning) -> None:
    data, case, now = p.data, p.case, p.now
    await _check_photos(data.photo_ids, p.actor.account_id, "photo_ids", required=True)
    p.step.photos.append((data.photo_ids, "after"))
    await _check_photos(
        data.before_photo_ids, p.actor.account_id, "before_photo_ids", required=True
    )
    p.step.photos.insert(0, (data.before_photo_ids, "before"))
    # the fixer and their grid own the case, so a failed check has someone to redo it
    p.change(
        {
            HazardReport.registered_at: now,
            HazardReport.assignee: p.actor.account_id,
            HazardReport.assigned_area: case["grid"],
        }
    )
    if p.reporter_rewarded:
        p.award(get_settings().points_registered, "registered", f"registered:{case['id']}")
    p.change({HazardReport.fixed_at: now, HazardReport.due_at: None})


# --- the check and after -------------------------------------------------------------------


async def _pass_check(p: Planning) -> None:
    p.change({HazardReport.closed_at: p.now, HazardReport.due_at: None})
    if p.reporter_rewarded:
        p.award(get_settings().points_closed, "confirmed", f"confirmed:{p.case['id']}")


async def _fail_check(p: Planning) -> None:
    case = p.case
    rectify_due = case["rectify_due_at"]
    if rectify_due is None:  # fixed on the spot, never dispatched: rework gets the SLA's time
        sla = await sla_for(case["category"], case["level"])
        rectify_due = p.now + timedelta(minutes=sla["rectify_minutes"] or _DEFAULT_RECTIFY_MINUTES)
    p.change(
        {
            HazardReport.rework_count: case["rework_count"] + 1,
            HazardReport.fixed_at: None,
            HazardReport.rectify_due_at: rectify_due,
            HazardReport.due_at: rectify_due,
        }
    )


async def _reopen(p: Planning) -> None:
    due = await _triage_due(p)
    p.change(
        {
            HazardReport.closed_at: None,
            HazardReport.assignee: None,  # registered again: to be dispatched afresh
            HazardReport.assigned_area: None,
            HazardReport.board: None,
            HazardReport.due_at: due,
        }
    )


async def _relocate(p: Planning) -> None:
    data, case = p.data, p.case
    if data.location is None:
        raise invalid("location", "give the corrected location")
    try:
        route = await _route(data.location)
    except DomainError as exc:  # bad input in the body: a 422 naming the field
        if exc.code != "outside_all_grids":
            raise
        raise invalid("location", exc.message_id or "", code=exc.code, params=exc.params) from None
    p.step.data["from"] = {"grid_id": case["grid"], "lat": case["lat"], "lng": case["lng"]}
    p.step.data["to"] = {"grid_id": route["grid"], "lat": route["lat"], "lng": route["lng"]}
    p.change(
        {
            HazardReport.lat: route["lat"],
            HazardReport.lng: route["lng"],
            HazardReport.grid: route["grid"],
            HazardReport.community: route["community"],
            HazardReport.township: route["township"],
            HazardReport.district: route["district"],
            HazardReport.area_path: route["area_path"],
            HazardReport.outside_grid: route["outside_grid"],
        }
    )
    p.step.lat, p.step.lng = route["lat"], route["lng"]


PLANNERS: dict[str, Planner] = {
    "register": _register,
    "reject": _reject,
    "merge": _merge,
    "dispatch": _dispatch,
    "acknowledge": _acknowledge,
    "return": _return,
    "suspend": _suspend,
    "resume": _resume,
    "report_fixed": _report_fixed,
    "fix_on_spot": _fix_on_spot,
    "pass_check": _pass_check,
    "fail_check": _fail_check,
    "reopen": _reopen,
    "relocate": _relocate,
}
assert set(PLANNERS) == set(workflow.TRANSITIONS), "every action has its planner"
