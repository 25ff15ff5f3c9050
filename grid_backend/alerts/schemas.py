from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from grid_backend.core import types as t
from grid_backend.core.types import AreaRef

WarningLevel = Literal["blue", "yellow", "orange", "red"]
WarningType = Literal["heavy_rain", "geological", "flood", "forest_fire", "other"]
WarningStatus = Literal["upcoming", "active", "expired", "cancelled"]
CalloutDuty = Literal[
    "responder", "site_monitor", "emergency_officer", "grid_leader", "grid_worker"
]
RecipientFilter = Literal["pending", "acked"]
BoardLevel = Literal["district", "township", "community", "grid", "micro_grid"]
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
AreaIds = Annotated[list[t.Id], msgspec.Meta(min_length=1, max_length=200)]
Message = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=1000)]
Reason = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=500)]
EscalateMinutes = Annotated[int, msgspec.Meta(ge=1, le=240)]

# who a callout reaches when no list is given: the grid's emergency team (DESIGN.md §1) and
# its grid workers, who know every household and carry the warning to the door (docs/design.md
# "Callouts: who is called out")
DEFAULT_DUTIES: tuple[str, ...] = (
    "responder",
    "site_monitor",
    "emergency_officer",
    "grid_leader",
    "grid_worker",
)


class WarningCreate(t.Input):
    level: WarningLevel
    type: WarningType
    area_ids: AreaIds
    expires_at: AwareTime
    message: Message
    starts_at: AwareTime | None = None  # default now
    # None: a callout for yellow and above; True also for blue; False: none
    callout: bool | None = None
    escalate_minutes: EscalateMinutes | None = None  # default GRID_CALLOUT_ESCALATE_MINUTES


class WarningUpdate(t.Input):
    """Fields to change. Raising the level (to yellow or above) calls everyone out again;
    adding areas calls out the people of the new areas."""

    level: WarningLevel | msgspec.UnsetType = msgspec.UNSET
    type: WarningType | msgspec.UnsetType = msgspec.UNSET
    area_ids: AreaIds | msgspec.UnsetType = msgspec.UNSET
    expires_at: AwareTime | msgspec.UnsetType = msgspec.UNSET
    message: Message | msgspec.UnsetType = msgspec.UNSET


class CancelIn(t.Input):
    reason: Reason


class PersonRef(msgspec.Struct):
    id: int
    name: str


class WarningRead(msgspec.Struct):
    id: int
    level: str
    type: str
    message: str
    areas: list[AreaRef]
    starts_at: datetime
    expires_at: datetime
    status: WarningStatus
    issued_by: PersonRef | None
    revision: int
    callout_ids: list[int]
    extra_tasks: int  # extra patrol tasks live now (not cancelled)
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str | None


class WarningPage(msgspec.Struct):
    items: list[WarningRead]
    next_cursor: str | None


class CalloutCreate(t.Input):
    """Everyone holding one of `duties` in the grids under `area_ids`, or the people named by
    `account_ids` (each must hold a duty there)."""

    area_ids: AreaIds
    message: Message
    message_en: Annotated[t.Text, msgspec.Meta(max_length=1000)] = ""
    duties: Annotated[list[CalloutDuty], msgspec.Meta(min_length=1, max_length=5)] | None = None
    account_ids: Annotated[list[t.Id], msgspec.Meta(min_length=1, max_length=1000)] | None = None
    escalate_minutes: EscalateMinutes | None = None


class MyAck(msgspec.Struct):
    acked_at: datetime | None
    step: int  # 0 none, 1 reminded, 2 grid leader told, 3 township told


class CalloutRead(msgspec.Struct):
    id: int
    warning_id: int | None
    level: str | None
    message: str
    message_en: str
    areas: list[AreaRef]
    status: str
    escalate_minutes: int
    step: int
    next_step_at: datetime | None
    created_by: PersonRef | None
    created_at: datetime
    cancelled_at: datetime | None
    # counts for those who may watch the board; None for a recipient only
    recipients: int | None
    acked: int | None
    mine: MyAck | None  # the caller's own acknowledgement when they are a recipient


class CalloutPage(msgspec.Struct):
    items: list[CalloutRead]
    next_cursor: str | None


class AckRead(msgspec.Struct):
    callout_id: int
    account_id: int
    acked_at: datetime
    already: bool  # True when this tap repeated an earlier one


class BoardArea(msgspec.Struct):
    area: AreaRef
    recipients: int
    acked: int
    pending: int
    escalated: int  # pending and already escalated past the reminder
    parent_name: str | None = None  # the area above (a grid's community): grids repeat names


class BoardPerson(msgspec.Struct):
    account_id: int
    name: str
    phone: str
    duty: str
    grid: AreaRef | None
    acked_at: datetime | None
    step: int
    status: Literal["acked", "pending", "reminded", "escalated"]
    community: str | None = None  # the name of the grid's community: grids repeat names


class BoardTotals(msgspec.Struct):
    recipients: int
    acked: int
    pending: int
    escalated: int


class BoardRead(msgspec.Struct):
    callout: CalloutRead
    level: str
    totals: BoardTotals
    areas: list[BoardArea]  # at `level`, most pending first (at most 500)
    areas_truncated: bool
    people: list[BoardPerson]
    next_cursor: str | None


class MyCallout(msgspec.Struct):
    id: int
    warning_id: int | None
    level: str | None
    message: str
    message_en: str
    status: str
    created_at: datetime
    acked_at: datetime | None
    step: int
    grid: AreaRef | None


class MyCalloutPage(msgspec.Struct):
    items: list[MyCallout]
    next_cursor: str | None
