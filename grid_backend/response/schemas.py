from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from grid_backend.core import types as t
from grid_backend.core.types import AreaRef, Datum, LocationIn

Tier = Literal["community", "ground", "air"]
TeamType = Literal["professional", "aviation", "industry", "community"]
Step = Literal["acknowledge", "set_off", "arrive", "finish"]
ResponseStatus = Literal["alerted", "acknowledged", "set_off", "arrived", "finished"]
TIERS: tuple[str, ...] = ("community", "ground", "air")
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
Name = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=100)]
Note = Annotated[t.Text, msgspec.Meta(max_length=2000)]
AreaIds = Annotated[list[t.Id], msgspec.Meta(min_length=1, max_length=50)]


class BaseIn(t.Input):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    datum: Datum = "wgs84"


class TeamCreate(t.Input):
    name: Name
    type: TeamType
    tier: Tier
    base: BaseIn
    area_ids: AreaIds  # the areas the team serves (a district, townships…)
    contact_name: Annotated[t.Text, msgspec.Meta(max_length=64)] = ""
    contact_phone: Annotated[t.Text, msgspec.Meta(max_length=32)] = ""
    note: Note = ""


class TeamUpdate(t.Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    type: TeamType | msgspec.UnsetType = msgspec.UNSET
    tier: Tier | msgspec.UnsetType = msgspec.UNSET
    base: BaseIn | msgspec.UnsetType = msgspec.UNSET
    area_ids: AreaIds | msgspec.UnsetType = msgspec.UNSET
    contact_name: Annotated[t.Text, msgspec.Meta(max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    contact_phone: Annotated[t.Text, msgspec.Meta(max_length=32)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    note: Note | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class TeamRead(msgspec.Struct):
    id: int
    name: str
    type: str
    tier: str
    lat: float
    lng: float
    datum: str
    contact_name: str
    contact_phone: str
    note: str
    active: bool
    areas: list[AreaRef]
    created_at: datetime
    updated_at: datetime
    manageable: bool = False  # the caller may change it


class TeamPage(msgspec.Struct):
    items: list[TeamRead]
    next_cursor: str | None


class TeamSuggestion(msgspec.Struct):
    team: TeamRead
    distance_m: float
    already_dispatched: bool


class SuggestionsRead(msgspec.Struct):
    report_id: int
    community: list[TeamSuggestion]
    ground: list[TeamSuggestion]
    air: list[TeamSuggestion]


class DispatchIn(t.Input):
    team_id: t.Id
    note: Note = ""


class StepIn(t.Input):
    step: Step
    location: LocationIn | None = None
    device_time: AwareTime | None = None  # when the phone recorded the step
    note: Note = ""


class StepRead(msgspec.Struct):
    step: str
    at: datetime
    received_at: datetime
    device_time: datetime | None
    lat: float | None
    lng: float | None
    accuracy_m: float | None
    is_mock: bool
    distance_m: float | None
    actor_id: int | None
    note: str


class ResponseRead(msgspec.Struct):
    id: int
    report_id: int
    kind: Literal["person", "team"]
    account_id: int | None
    account_name: str | None
    team_id: int | None
    team_name: str | None
    duty: str | None
    tier: str
    status: str
    alerted_at: datetime
    acknowledged_at: datetime | None
    set_off_at: datetime | None
    arrived_at: datetime | None
    finished_at: datetime | None
    arrival_distance_m: float | None
    arrival_verified: bool | None
    reaction_minutes: float | None
    arrival_minutes: float | None
    dispatched_by: int | None
    next_step: str | None
    steps: list[StepRead] = []


class ResponseList(msgspec.Struct):
    report_id: int
    items: list[ResponseRead]


class UrgentCase(msgspec.Struct):
    id: int
    status: str
    category: str
    description: str
    lat: float
    lng: float
    grid: AreaRef
    township: AreaRef | None
    created_at: datetime
    waiting: bool  # open, and nobody's arrival verified yet
    responses: list[ResponseRead]


class UrgentCasePage(msgspec.Struct):
    items: list[UrgentCase]
    next_cursor: str | None


class MyResponse(msgspec.Struct):
    response: ResponseRead
    case: UrgentCase


class MyResponsePage(msgspec.Struct):
    items: list[MyResponse]
    next_cursor: str | None


# --- metrics -------------------------------------------------------------------------------


class Measure(msgspec.Struct):
    """One duration measured over records: minutes, nearest-rank percentiles."""

    count: int
    target_minutes: int | None
    within_target: int | None
    share_within_target: float | None
    median_minutes: float | None
    p90_minutes: float | None


class ByTier(msgspec.Struct):
    community: Measure
    ground: Measure
    air: Measure


class ResponseFigures(msgspec.Struct):
    cases: int  # urgent cases reported in the period
    records: int
    reaction: ByTier
    arrival: ByTier
    waiting_cases: int  # open and no verified arrival yet
    unacknowledged: int  # records still only alerted
    not_arrived: int  # records acknowledged or set off, no arrival yet
    unverified_arrivals: int  # arrivals outside the radius, mocked or without a position


class ResponseGroup(msgspec.Struct):
    area: AreaRef
    figures: ResponseFigures


class ResponseStatsRead(msgspec.Struct):
    date_from: date
    date_to: date
    timezone: str
    group_by: str
    total: ResponseFigures
    groups: list[ResponseGroup]
