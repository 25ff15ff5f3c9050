"""Taking a workflow action on a case, in the steps the flow (grid_backend.flows.cases) runs:
the checks and the plan, then in one write transaction the transition with its event and
photos, the points awarded, and the merge into another case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grid_backend.core import clock
from grid_backend.core.errors import Conflict, Forbidden, NotFound
from grid_backend.hazards import rewards, webhooks, workflow
from grid_backend.hazards.schemas import ActionIn
from grid_backend.hazards.services.evidence import _attach
from grid_backend.hazards.services.planners import Step, plan
from grid_backend.hazards.services.reading import _case, case_view
from grid_backend.hazards.services.roles import Actor, _event, roles_for
from grid_backend.hazards.tables import HazardEvent, HazardReport


@dataclass(frozen=True, slots=True)
class Action:
    """One action on one case, checked and planned, ready to be written."""

    case: dict[str, Any]
    data: ActionIn
    actor: Actor
    transition: workflow.Transition
    step: Step
    target: str  # the status after the action
    now: datetime


async def plan_action(*, report_id: int, data: ActionIn, actor: Actor) -> Action:
    """Check the action against the case and the table, and plan its effects."""
    case = await _case(report_id)
    if await case_view(case, actor) is None:  # the reporter sees the case: refused with a 403
        raise NotFound("report_not_found")
    t = workflow.TRANSITIONS[data.action]
    if case["status"] not in t.sources:
        raise Conflict(
            "action_not_allowed",
            detail="%(action)s is not possible while the case is %(status)s",
            params={"action": data.action, "status": case["status"]},
        )
    roles = roles_for(case, actor)
    needed = t.major_roles if case["level"] == "major" and t.major_roles is not None else t.roles
    if not needed & roles:
        raise Forbidden(f"{data.action} needs one of: {', '.join(sorted(needed))}")
    now = clock.now()
    step = await plan(t, case, data, actor, now)
    target = t.target or case["status"]
    step.changes.update({HazardReport.status: target, HazardReport.updated_at: now})
    return Action(case, data, actor, t, step, target, now)


async def apply_action(a: Action) -> int:
    """Write the transition, its event and its photos (in the caller's write transaction);
    the event's id. Refused if the case changed since it was read."""
    case, step, report_id = a.case, a.step, a.case["id"]
    # the status in the condition makes a concurrent action on the same case lose cleanly
    updated = (
        await HazardReport.update(step.changes)
        .where((HazardReport.id == report_id) & (HazardReport.status == case["status"]))
        .returning(HazardReport.id)
        .run()
    )
    if not updated:
        raise Conflict(
            "report_changed",
            detail="the case changed meanwhile; reload it",
        )
    event_id = await _event(
        report_id,
        a.actor,
        action=a.transition.action,
        from_status=case["status"],
        to_status=a.target,
        note=(a.data.reason or a.data.note or "").strip(),
        data=step.data,
        lat=step.lat,
        lng=step.lng,
        public=a.transition.public,
        path=case["area_path"],
    )
    for ids, kind in step.photos:
        await _attach(report_id, ids, kind, a.actor.account_id, event_id)
    await webhooks.case_moved(
        case,
        step.changes,
        action=a.transition.action,
        from_status=case["status"],
        to_status=a.target,
        timeline_event_id=event_id,
    )
    return event_id


async def award_points(a: Action, event_id: int, award: dict[str, Any]) -> int:
    """One of the action's awards to the reporter, noted on its event; the points given."""
    case = a.case
    given = await rewards.award(account_id=case["reporter"], report_id=case["id"], **award)
    if given:
        await (
            HazardEvent.update({HazardEvent.data: {**a.step.data, "points": given}})
            .where(HazardEvent.id == event_id)
            .run()
        )
    return given


async def merge_into(a: Action) -> None:
    """A merged case's supporters (and its reporter) join the case it was merged into."""
    case, into = a.case, a.data.into
    target = (
        await HazardReport.select(HazardReport.status).where(HazardReport.id == into).first().run()
    )
    assert target is not None  # checked when the merge was planned; cases are never deleted
    target_status = target["status"]
    await (
        HazardReport.update(
            {HazardReport.supporters: HazardReport.supporters + 1 + case["supporters"]}
        )
        .where(HazardReport.id == into)
        .run()
    )
    await _event(
        into,  # type: ignore[arg-type]  # a merge plan has its target
        a.actor,
        action="merged_in",
        from_status=target_status,
        to_status=target_status,
        note="",
        data={"from": case["id"]},
        public=False,
        path=case["area_path"],
    )
