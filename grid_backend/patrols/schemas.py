from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from grid_backend.core import types as t
from grid_backend.core.types import AreaRef, Datum, LocationIn

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WarningLevel = Literal["blue", "yellow", "orange", "red"]
PlanStatus = Literal["active", "paused", "ended"]
TaskStatus = Literal["scheduled", "in_progress", "completed", "missed", "cancelled"]
Name = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=100)]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
DEFAULT_RADIUS_M = 50.0


class Recurrence(t.Input):
    """Daily at a local time, or on given weekdays at a local time (GRID_TIMEZONE)."""

    kind: Literal["daily", "weekly"]
    time: Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    days: Annotated[list[Day], msgspec.Meta(max_length=7)] = []


class CheckpointIn(t.Input):
    """A registered risk point, or an ad-hoc position (lat, lng, datum)."""

    risk_point_id: t.Id | None = None
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    datum: Datum = "wgs84"
    name: Name | None = None
    radius_m: Annotated[float, msgspec.Meta(ge=5, le=5000)] = DEFAULT_RADIUS_M


Checkpoints = Annotated[list[CheckpointIn], msgspec.Meta(min_length=1, max_length=50)]
ExtraRounds = Annotated[
    dict[WarningLevel, Annotated[int, msgspec.Meta(ge=0, le=10)]], msgspec.Meta()
]
WindowMinutes = Annotated[int, msgspec.Meta(ge=5, le=1440)]


class PlanCreate(t.Input):
    name: Name
    grid_id: t.Id
    recurrence: Recurrence
    checkpoints: Checkpoints
    account_id: t.Id | None = None  # one person, or
    duty: Annotated[t.Text, msgspec.Meta(max_length=32)] | None = None  # a duty of the grid
    employment: Literal["full_time", "part_time"] | None = None  # of a grid_worker duty
    ordered: bool = False
    window_minutes: WindowMinutes = 120
    valid_from: date | None = None
    valid_to: date | None = None
    extra_rounds: ExtraRounds = {}


class PlanUpdate(t.Input):
    """Fields to change; naming account_id or duty replaces who patrols."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    recurrence: Recurrence | msgspec.UnsetType = msgspec.UNSET
    checkpoints: Checkpoints | msgspec.UnsetType = msgspec.UNSET
    account_id: t.Id | msgspec.UnsetType | None = msgspec.UNSET
    duty: Annotated[t.Text, msgspec.Meta(max_length=32)] | msgspec.UnsetType | None = msgspec.UNSET
    employment: Literal["full_time", "part_time"] | msgspec.UnsetType | None = msgspec.UNSET
    ordered: bool | msgspec.UnsetType = msgspec.UNSET
    window_minutes: WindowMinutes | msgspec.UnsetType = msgspec.UNSET
    valid_from: date | msgspec.UnsetType = msgspec.UNSET
    valid_to: date | msgspec.UnsetType | None = msgspec.UNSET
    extra_rounds: ExtraRounds | msgspec.UnsetType = msgspec.UNSET


class CheckpointRead(msgspec.Struct):
    id: int
    seq: int
    name: str
    risk_point_id: int | None
    lat: float
    lng: float
    datum: str
    radius_m: float


class PlanRead(msgspec.Struct):
    id: int
    name: str
    grid: AreaRef
    account_id: int | None
    account_name: str | None
    duty: str | None
    employment: str | None
    ordered: bool
    recurrence: dict[str, Any]
    window_minutes: int
    valid_from: date
    valid_to: date | None
    extra_rounds: dict[str, int]
    status: str
    revision: int
    checkpoints: list[CheckpointRead]
    next_windows: list[datetime]  # the next few window starts (UTC)
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None


class PlanSummary(msgspec.Struct):
    id: int
    name: str
    grid: AreaRef
    account_id: int | None
    duty: str | None
    recurrence: dict[str, Any]
    window_minutes: int
    status: str
    valid_from: date
    valid_to: date | None


class PlanPage(msgspec.Struct):
    items: list[PlanSummary]
    next_cursor: str | None


class TaskCheckpoint(msgspec.Struct):
    id: int
    seq: int
    name: str
    risk_point_id: int | None
    lat: float
    lng: float
    datum: str
    radius_m: float
    checked_in: bool
    check_ins: int


class CheckInCreate(t.Input):
    checkpoint_id: t.Id
    location: LocationIn
    photo_ids: Annotated[list[t.Id], msgspec.Meta(max_length=50)] = []
    note: Annotated[t.Text, msgspec.Meta(max_length=2000)] = ""
    device_time: AwareTime | None = None
    client_id: Annotated[t.Text, msgspec.Meta(min_length=8, max_length=100)] | None = None


class CheckInRead(msgspec.Struct):
    id: int
    task_id: int
    checkpoint_id: int
    at: datetime  # server time
    device_time: datetime | None
    lat: float  # WGS-84
    lng: float
    sent_lat: float
    sent_lng: float
    sent_datum: str
    accuracy_m: float | None
    source: str
    is_mock: bool
    distance_m: float
    within_radius: bool
    out_of_order: bool
    flagged: bool  # outside the radius, a mock position or out of order
    photo_ids: list[int]
    note: str
    client_id: str | None


class FinishIn(t.Input):
    households_visited: Count = 0
    issues_found: Count = 0
    fixed_on_spot: Count = 0
    hazard_report_ids: Annotated[list[t.Id], msgspec.Meta(max_length=50)] = []
    narrative: Annotated[t.Text, msgspec.Meta(max_length=5000)] = ""
    device_time: AwareTime | None = None


class StartIn(t.Input):
    device_time: AwareTime | None = None


class ExcuseIn(t.Input):
    reason: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=500)]


class LogRead(msgspec.Struct):
    households_visited: int
    issues_found: int
    fixed_on_spot: int
    hazard_report_ids: list[int]
    skipped_checkpoint_ids: list[int]
    narrative: str
    device_time: datetime | None
    created_at: datetime


class TaskRead(msgspec.Struct):
    id: int
    plan_id: int
    plan_name: str
    grid: AreaRef
    assignee_id: int | None
    unassigned: bool
    local_date: date
    window_start: datetime
    window_end: datetime
    status: str
    ordered: bool
    started_at: datetime | None
    started_on_time: bool | None
    finished_at: datetime | None
    missed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    excused: bool
    excuse_reason: str | None
    checkpoints: list[TaskCheckpoint]
    skipped_checkpoint_ids: list[int]  # for a finished task: checkpoints with no check-in
    log: LogRead | None = None
    check_ins: list[CheckInRead] | None = None  # in the one-task view


class TaskPage(msgspec.Struct):
    items: list[TaskRead]
    next_cursor: str | None


class StatsRow(msgspec.Struct):
    tasks: int  # not cancelled, local date in the period
    completed: int
    missed: int  # not excused
    excused: int
    pending: int  # scheduled or in progress
    started: int
    on_time_starts: int
    completion_rate: float | None  # completed / (completed + missed); excused left out
    on_time_rate: float | None  # on-time starts / starts
    grid: AreaRef | None = None
    account_id: int | None = None
    account_name: str | None = None


class StatsRead(msgspec.Struct):
    date_from: date
    date_to: date
    group_by: str
    totals: StatsRow
    unassigned: int  # tasks no one held the duty for
    items: list[StatsRow]
    next_cursor: str | None
