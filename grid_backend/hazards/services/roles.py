"""Who may do what on a case: the actor, the workflow roles, the duty acted under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grid_backend.core import policy
from grid_backend.hazards import timeline


@dataclass(frozen=True, slots=True)
class Actor:
    account_id: int  # NO_ACCOUNT: a report that comes with no account (Open311)
    grants: list[policy.Grant]

    @property
    def is_staff(self) -> bool:
        return bool(self.grants)


NO_ACCOUNT = 0  # the account id of an Actor that has none (ids start at 1)

_GRID_DUTIES = frozenset({"grid_leader", "grid_worker", "emergency_officer", "responder"})


def roles_for(case: dict[str, Any], actor: Actor) -> set[str]:
    """The workflow roles (see workflow.py) this person holds on this case now."""
    roles = set()
    path = case["area_path"]
    if policy.allows(actor.grants, "report.command", path):
        roles.add("command")
    if policy.allows(actor.grants, "report.accept_major", path):
        roles.add("acceptor")
    if policy.allows(actor.grants, "report.fix_on_spot", path):
        roles.add("grid_staff")
    if case["assignee"] == actor.account_id:
        roles.add("assignee")
    for g in actor.grants:
        if (
            case.get("assigned_area_path")
            and g.duty in _GRID_DUTIES
            and case["assigned_area_path"].startswith(g.area_path)
        ):
            roles.add("assignee")
        if (
            case["board"]
            and g.duty == "board_handler"
            and g.board == case["board"]
            and path.startswith(g.area_path)
        ):
            roles.add("assignee")
    return roles


def _duty_for(actor: Actor, path: str) -> str | None:
    """The duty under which the person acts on a case (the first that covers it)."""
    covering = policy.duty_covering(actor.grants, path)
    if covering is not None:
        return covering
    # staff acting outside their areas (an assignee, a merge) still show a duty: their first
    return actor.grants[0].duty if actor.grants else None


async def _event(
    report_id: int,
    actor: Actor | None,
    *,
    action: str,
    from_status: str | None,
    to_status: str,
    note: str,
    data: dict[str, Any] | None = None,
    lat: float | None = None,
    lng: float | None = None,
    public: bool = True,
    path: str = "",
) -> int:
    """A timeline event by this person (or by no one), under the duty they act in."""
    return await timeline.record_event(
        report_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor.account_id if actor and actor.account_id != NO_ACCOUNT else None,
        duty=_duty_for(actor, path) if actor else None,
        note=note,
        data=data,
        lat=lat,
        lng=lng,
        public=public,
    )
