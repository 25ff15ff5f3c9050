"""The 141 case workflow as data (DESIGN.md §4): one table of (action, from, to, who),
read by the API, by the detail view's "what may I do now" list and by the console.

Roles are relative to a case:
  command     dispatcher, commander or district supervisor whose area covers the case
  assignee    the person the case was dispatched to, staff of the grid it was dispatched to,
              or a board handler of its board in that township
  grid_staff  grid leader, worker, emergency officer or responder of the case's grid
  acceptor    a district supervisor covering the case (closes major hazards)"""

from __future__ import annotations

from dataclasses import dataclass

OPEN = frozenset(
    {"submitted", "registered", "dispatched", "in_progress", "suspended", "pending_check"}
)
STATUSES = (*sorted(OPEN), "closed", "rejected", "merged")
# open cases whose clock runs: a suspended case's deadline stops (DESIGN.md §4), so it is never
# overdue, reminded or escalated (sorted: stable SQL for IN lists)
RUNNING = tuple(sorted(OPEN - {"suspended"}))


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str | None  # None: the status stays (relocate)
    roles: frozenset[str]
    reason_required: bool = False
    public: bool = True  # shown in the reporter's timeline
    major_roles: frozenset[str] | None = None  # who may do it when the case is major


def _t(
    action: str,
    sources: set[str] | frozenset[str],
    target: str | None,
    roles: set[str],
    **kw: object,
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), **kw)  # type: ignore[arg-type]  # kw: Transition's optional fields, as given in TRANSITIONS


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("register", {"submitted"}, "registered", {"command"}),
        _t("reject", {"submitted"}, "rejected", {"command"}, reason_required=True),
        _t("merge", {"submitted", "registered"}, "merged", {"command"}),
        _t("dispatch", {"registered"}, "dispatched", {"command"}),
        _t("acknowledge", {"dispatched"}, "in_progress", {"assignee"}),
        _t("return", {"dispatched"}, "registered", {"assignee", "command"}, reason_required=True),
        _t("suspend", {"in_progress"}, "suspended", {"command"}, reason_required=True),
        _t("resume", {"suspended"}, "in_progress", {"command"}, reason_required=True),
        _t("report_fixed", {"in_progress"}, "pending_check", {"assignee"}),
        _t(
            "pass_check",
            {"pending_check"},
            "closed",
            {"command"},
            major_roles=frozenset({"acceptor"}),
        ),
        _t(
            "fail_check",
            {"pending_check"},
            "in_progress",
            {"command", "acceptor"},
            reason_required=True,
        ),
        _t("fix_on_spot", {"submitted"}, "pending_check", {"grid_staff"}),
        _t("reopen", {"closed", "rejected"}, "registered", {"command"}, reason_required=True),
        _t("relocate", OPEN, None, {"command"}, public=False),
    )
}

ACTIONS = tuple(TRANSITIONS)


def allowed(status: str, level: str, roles: set[str]) -> list[str]:
    """The actions a person holding these roles may take on a case in this state."""
    result = []
    for t in TRANSITIONS.values():
        if status not in t.sources:
            continue
        needed = t.major_roles if level == "major" and t.major_roles is not None else t.roles
        if needed & roles:
            result.append(t.action)
    return result


# What a resident reads instead of the status code.
PLAIN_STATUS: dict[str, str] = {  # English; zh-CN in messages.po (msgctxt "plain status")
    "submitted": "Received, waiting to be reviewed",
    "registered": "Accepted, being assigned",
    "dispatched": "Assigned to the people responsible",
    "in_progress": "Being fixed",
    "suspended": "On hold",
    "pending_check": "Fixed, waiting for a check",
    "closed": "Closed: the hazard was dealt with",
    "rejected": "Not accepted",
    "merged": "Merged with a report of the same hazard",
}
