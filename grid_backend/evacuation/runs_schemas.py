"""Request and answer bodies of evacuations: the start, a household's status, the end,
shelter check-in and the board."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from grid_backend.core import types as t
from grid_backend.core.types import AreaRef, LocationIn

EvacuationStatus = Literal["proposed", "active", "ended", "dismissed"]
HouseholdStatus = Literal["pending", "contacted", "moved", "refused", "not_at_home", "already_safe"]
Destination = Literal["shelter", "relatives", "self_arranged"]
BoardLevel = Literal["district", "township", "community", "grid"]
Note = Annotated[t.Text, msgspec.Meta(max_length=500)]
Ids = Annotated[list[t.Id], msgspec.Meta(max_length=200)]


class EvacuationStart(t.Input):
    area_ids: Ids = []  # everything under these areas
    risk_point_ids: Ids = []  # the households tied to these risk points
    note: Note = ""


class EvacuationEnd(t.Input):
    note: Note = ""


class StatusIn(t.Input):
    status: HouseholdStatus
    destination: Destination | None = None  # of a move
    shelter_id: t.Id | None = None  # with destination `shelter`
    note: Note = ""  # required when a move or "already safe" skips the contact
    reason: Note = ""  # why they refused: required with `refused`
    location: LocationIn | None = None  # the phone's position
    device_time: datetime | None = None  # when the phone recorded it (offline outbox)
    client_id: Annotated[t.Line, msgspec.Meta(min_length=8, max_length=100)] | None = None


class ArrivalIn(t.Input):
    household_id: t.Id | None = None  # a household of the evacuation arrived (moved there)
    people: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None  # or a headcount
    note: Note = ""
    client_id: Annotated[t.Line, msgspec.Meta(min_length=8, max_length=100)] | None = None


class EvacuationRead(msgspec.Struct):
    id: int
    status: str
    source: str
    warning_id: int | None
    areas: list[AreaRef]
    risk_point_ids: list[int]
    owner_area: AreaRef | None
    note: str
    households: int
    people: int
    created_by: int | None
    created_at: datetime
    started_by: int | None
    started_at: datetime | None
    ended_by: int | None
    ended_at: datetime | None
    end_reason: str
    manageable: bool = False  # the caller may confirm or end it


class EvacuationPage(msgspec.Struct):
    items: list[EvacuationRead]
    next_cursor: str | None


class EventRead(msgspec.Struct):
    """One change of a household's status, as recorded."""

    id: int
    evacuation_id: int
    task_id: int
    household_id: int
    from_status: str
    status: str
    destination: str
    shelter_id: int | None
    note: str
    lat: float | None
    lng: float | None
    datum: str
    accuracy_m: float | None
    by: int | None
    at: datetime
    device_time: datetime | None


class TaskRead(msgspec.Struct):
    id: int
    evacuation_id: int
    household_id: int
    helper_id: int
    grid_id: int
    address: str
    head_name: str
    head_phone: str
    people: int
    vulnerable: int
    status: str
    destination: str
    shelter_id: int | None
    note: str
    arrived_at: datetime | None
    returned_at: datetime | None
    updated_at: datetime | None
    updated_by: int | None
    reason: str = ""  # why they refused (the last refusal)


class TaskPage(msgspec.Struct):
    items: list[TaskRead]
    next_cursor: str | None


class ArrivalRead(msgspec.Struct):
    id: int
    evacuation_id: int
    shelter_id: int
    household_id: int | None
    people: int
    at: datetime
    occupancy: int  # people arrived at the shelter in this evacuation, this one included
    capacity: int
    over_capacity: bool
    near_capacity: bool  # at 90 % or more


class Counts(msgspec.Struct):
    """Households (h_) and people (p_) by status; the vulnerable people among them first."""

    vulnerable_to_move: int = 0
    vulnerable_moved: int = 0
    vulnerable_pending: int = 0
    households: int = 0
    people: int = 0
    h_pending: int = 0
    h_contacted: int = 0
    h_moved: int = 0
    h_refused: int = 0
    h_not_at_home: int = 0
    h_already_safe: int = 0
    p_pending: int = 0
    p_contacted: int = 0
    p_moved: int = 0
    p_refused: int = 0
    p_not_at_home: int = 0
    p_already_safe: int = 0
    h_returned: int = 0
    rate: float = 0.0  # 应转尽转: (moved + already safe) / to move, in people


class AreaCounts(msgspec.Struct):
    area: AreaRef
    counts: Counts
    path: str = ""  # the area's place in the tree: the console drills down by it


class HelperProgress(msgspec.Struct):
    helper_id: int
    name: str
    households: int
    done: int  # moved or already safe
    started: int  # no longer pending


class ShelterLoad(msgspec.Struct):
    shelter_id: int
    name: str
    capacity: int
    occupancy: int
    ratio: float
    near_capacity: bool  # 90 % or more
    over_capacity: bool


class Board(msgspec.Struct):
    evacuation_id: int
    status: str
    level: str
    started_at: datetime | None
    seconds_since_start: int | None
    total: Counts
    areas: list[AreaCounts]
    helpers: list[HelperProgress]
    shelters: list[ShelterLoad]


# The phone: a helper's households across the active evacuations, a linked resident's own.
ResidentAnswer = Literal["moved", "safe"]


class AnswerIn(t.Input):
    """A linked resident's own answer: "I have moved" or "I am safe"."""

    answer: ResidentAnswer
    # which of the caller's households (needed when more than one is in the evacuation)
    household_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    location: LocationIn | None = None  # the phone's position
    device_time: datetime | None = None  # when the phone recorded it (offline outbox)
    client_id: Annotated[t.Line, msgspec.Meta(min_length=8, max_length=100)] | None = None


class ShelterBrief(msgspec.Struct):
    id: int
    name: str
    lat: float  # WGS-84
    lng: float
    contact_phone: str
    geo_url: str  # geo:lat,lng (the phone's map app)
    route_url: str  # a walking route in a web map


class AnswerRead(msgspec.Struct):
    answer: str  # moved | safe
    at: datetime
    device_time: datetime | None = None


class MyHousehold(msgspec.Struct):
    """One of the caller's households in an active evacuation (as its helper)."""

    evacuation_id: int
    household_id: int
    address: str
    head_name: str
    head_phone: str
    people: int
    vulnerable: int
    elderly_alone: int
    disabled: int
    children: int
    pregnant: int
    lat: float | None  # the household's place (WGS-84), else its risk point's, else none
    lng: float | None
    status: str
    destination: str
    shelter: ShelterBrief | None  # where it moved, else its planned shelter
    note: str
    reason: str
    updated_at: datetime | None
    resident_answer: AnswerRead | None  # the linked resident's latest answer
    # open shelters serving its grid, its planned one first: where a helper may move it
    shelters: list[ShelterBrief] = msgspec.field(default_factory=list)


class MyHouseholdPage(msgspec.Struct):
    items: list[MyHousehold]
    next_cursor: str | None


class ResidentCard(msgspec.Struct):
    """A linked resident's household in an active evacuation: where to go."""

    evacuation_id: int
    household_id: int
    address: str
    status: str
    shelter: ShelterBrief | None
    answer: AnswerRead | None
    started_at: datetime | None


class ResidentCardPage(msgspec.Struct):
    items: list[ResidentCard]
    next_cursor: str | None
