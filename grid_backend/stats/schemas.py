from __future__ import annotations

from datetime import date, datetime

import msgspec

from grid_backend.core.types import AreaRef
from grid_backend.response.schemas import ResponseFigures


class CaseFigures(msgspec.Struct):
    """Cases inside the area now (not limited to the period)."""

    open: int  # submitted, registered, dispatched, in progress, suspended or pending check
    overdue: int  # open, not suspended, past the deadline of the current stage
    awaiting_triage: int  # submitted
    in_rectification: int  # dispatched or in progress
    pending_check: int
    suspended: int
    urgent_open: int
    major_open: int


class Rectification(msgspec.Struct):
    """Hazards reported in the period and accepted (registered, dispatched, … closed): the
    share of them closed now, against the target."""

    accepted: int
    closed: int
    rate: float | None  # closed / accepted
    target: float  # GRID_RECTIFICATION_TARGET_PERCENT / 100
    met: bool | None
    major_accepted: int
    major_closed: int
    major_rate: float | None


class PatrolToday(msgspec.Struct):
    """Today's patrol tasks (local date), as GET /api/v1/patrols/stats counts them."""

    date: date
    tasks: int
    completed: int
    missed: int
    excused: int
    pending: int
    completion_rate: float | None  # completed / (completed + missed)
    done_share: float | None  # completed / tasks


class Coverage(msgspec.Struct):
    """Grids with a leader, a worker and an emergency officer on duty today."""

    date: date
    grids: int
    fully_covered: int
    share: float | None
    lacking_grid_leader: int
    lacking_grid_worker: int
    lacking_emergency_officer: int


class TrendDay(msgspec.Struct):
    date: date
    reported: int  # cases reported that local day
    closed: int  # cases closed that local day
    patrol_tasks: int
    patrol_completed: int
    patrol_missed: int


class ChannelCount(msgspec.Struct):
    """Cases reported in the period through one channel (app, patrol, hotline, QR, SOS...)."""

    channel: str
    cases: int


class DashboardRead(msgspec.Struct):
    area: AreaRef | None  # the area asked for; None: the caller's whole area
    scope: list[AreaRef]  # the areas the figures cover
    date_from: date
    date_to: date
    timezone: str
    generated_at: datetime
    cases: CaseFigures
    rectification: Rectification
    patrols_today: PatrolToday | None
    coverage: Coverage
    response: ResponseFigures | None  # None: the caller may not read response times
    trend: list[TrendDay]
    channels: list[ChannelCount] = []  # most cases first


class PointsEntryRow(msgspec.Struct):
    id: int
    account_id: int
    account_name: str
    account_phone: str  # masked
    delta: int
    reason: str
    report_id: int | None
    grid_name: str | None
    note: str
    created_at: datetime


class PointsReview(msgspec.Struct):
    total_awarded: int  # positive entries matching the filters
    total_deducted: int  # negative entries matching the filters (a negative number)
    people: int
    entries: list[PointsEntryRow]
    next_cursor: str | None
