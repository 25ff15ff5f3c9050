"""Taking a workflow action on a case: the transition (hazards), the points it awards, the
notifications (notify), and a merge's effect on the other case, all in one transaction."""

from __future__ import annotations

from typing import Any

from grid_backend.core import i18n
from grid_backend.core.db import write_transaction
from grid_backend.hazards import workflow
from grid_backend.hazards.schemas import ActionIn, ReportRead
from grid_backend.hazards.services import Actor, read_report
from grid_backend.hazards.services import actions as hazards
from grid_backend.notify import services as notify

_POINT_REASONS = {  # English; zh-CN in messages.po (msgctxt "points notice")
    "registered": "your report was accepted",
    "confirmed": "the hazard was fixed and closed",
    "duplicate": "a repeat report of a known hazard",
    "false_report": "the report was found to be false",
}


async def act(*, report_id: int, data: ActionIn, actor: Actor) -> ReportRead:
    """Take one workflow action on a case: checked against the table, written with its event
    in one transaction, refused if the case changed meanwhile."""
    action = await hazards.plan_action(report_id=report_id, data=data, actor=actor)
    async with write_transaction():
        event_id = await hazards.apply_action(action)
        for award in action.step.awards:
            given = await hazards.award_points(action, event_id, award)
            if given:
                await _notify_points(action, given, award["reason"], event_id)
        await _notify_change(action, event_id)
        if action.transition.action == "merge":
            await hazards.merge_into(action)
    # a return or a relocation can take the case out of the actor's sight: they still get
    # the result of what they did rather than a 404 for a change that was made
    return await read_report(report_id=report_id, actor=actor, acted=True)


async def _notify_points(action: hazards.Action, delta: int, reason: str, event_id: int) -> None:
    """Tell a resident they earned (or lost) points, in the case's transaction."""
    account_id, report_id = action.case["reporter"], action.case["id"]
    text = _POINT_REASONS.get(reason)
    zh, en = i18n.both("points notice", text) if text else (reason, reason)
    await notify.enqueue(
        recipient_id=account_id,
        kind="points.awarded",
        payload={"case_id": report_id, "delta": delta, "reason_zh": zh, "reason_en": en},
        dedupe_key=f"points:{event_id}:account:{account_id}",
    )


async def _notify_change(action: hazards.Action, event_id: int) -> None:
    """The outbox side of an action: the reporter hears of a new state, an assignee of a
    case dispatched to them (written in the case's transaction, so never lost or doubled)."""
    case: dict[str, Any] = action.case
    t, target, actor = action.transition, action.target, action.actor
    reporter = case["reporter"]
    if reporter and reporter != actor.account_id and target != case["status"] and t.public:
        zh, en = i18n.both("plain status", workflow.PLAIN_STATUS[target])
        await notify.enqueue(
            recipient_id=reporter,
            kind="case.status_changed",
            payload={"case_id": case["id"], "status": target, "status_zh": zh, "status_en": en},
            dedupe_key=f"case:{case['id']}:event:{event_id}:account:{reporter}",
        )
    assignee = action.step.data.get("assignee_id")
    if t.action == "dispatch" and assignee and assignee != actor.account_id:
        await notify.enqueue(
            recipient_id=assignee,
            kind="case.assigned",
            payload={"case_id": case["id"], "category": case["category"]},
            dedupe_key=f"case:{case['id']}:assigned:{event_id}:account:{assignee}",
        )
