"""What a case's subscribers receive (docs/webhooks.md, `Case`): the case's state after the
change, never the reporter. Written in the transaction of the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from grid_backend.hazards.tables import HazardReport
from grid_backend.notify.services import webhooks

_FIELDS = (
    "id",
    "status",
    "category",
    "level",
    "urgent",
    "channel",
    "description",
    "lat",
    "lng",
    "area_path",
    "grid",
    "township",
    "district",
    "assignee",
    "board",
    "due_at",
    "created_at",
    "updated_at",
    "closed_at",
)
# what a query must select for case_data (the deadline job reads cases itself)
CASE_COLUMNS = tuple(getattr(HazardReport, name) for name in _FIELDS)
_NAMES = {"grid": "grid_id", "township": "township_id", "district": "district_id"}


def case_data(case: dict[str, Any], changes: dict[Any, Any] | None = None) -> dict[str, Any]:
    """The case's fields (WGS-84 position) after `changes` (columns or names to values)."""
    merged = dict(case)
    for column, value in (changes or {}).items():
        name = column if isinstance(column, str) else column._meta.name
        merged[name] = value
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = merged.get(name)
        if name == "assignee":
            out["assignee_id"] = value
        else:
            out[_NAMES.get(name, name)] = (
                value.isoformat() if isinstance(value, datetime) else value
            )
    return out


async def case_created(case: dict[str, Any], timeline_event_id: int) -> None:
    """case.created, once per case."""
    await webhooks.emit(
        kind="case.created",
        key=f"case.created:{case['id']}",
        data={"case": case_data(case), "timeline_event_id": timeline_event_id},
        urgent=bool(case.get("urgent")),
    )


async def case_moved(
    case: dict[str, Any],
    changes: dict[Any, Any],
    *,
    action: str,
    from_status: str,
    to_status: str,
    timeline_event_id: int,
) -> None:
    """case.status_changed (and case.assigned on a dispatch, case.closed on closing)."""
    data = {
        "case": case_data(case, changes),
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "timeline_event_id": timeline_event_id,
    }
    kinds = []
    if from_status != to_status:
        kinds.append("case.status_changed")
    if action == "dispatch":
        kinds.append("case.assigned")
    if to_status == "closed" and from_status != "closed":
        kinds.append("case.closed")
    for kind in kinds:
        await webhooks.emit(kind=kind, key=f"{kind}:{timeline_event_id}", data=data)


async def deadline_missed(case: dict[str, Any], due: datetime) -> None:
    """case.deadline_missed, once per case and deadline."""
    await webhooks.emit(
        kind="case.deadline_missed",
        key=f"case.deadline_missed:{case['id']}:{due.isoformat()}",
        data={"case": case_data(case), "due_at": due.isoformat()},
    )
