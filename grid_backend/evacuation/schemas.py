from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from grid_backend.core import types as t
from grid_backend.core.types import AreaRef, Datum

ShelterKind = Literal["school", "community_centre", "open_ground", "other"]
Name = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=100)]
ContactName = Annotated[t.Text, msgspec.Meta(max_length=64)]
ContactPhone = Annotated[t.Text, msgspec.Meta(max_length=32)]
# people; the upper bound only keeps numbers sane (the largest open grounds hold tens of
# thousands)
Capacity = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
AreaIds = Annotated[list[t.Id], msgspec.Meta(min_length=1, max_length=50)]


class PlaceIn(t.Input):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    datum: Datum = "wgs84"


class ShelterCreate(t.Input):
    name: Name
    kind: ShelterKind
    location: PlaceIn
    capacity: Capacity
    area_ids: AreaIds  # the areas whose people it takes in (a community, grids…)
    contact_name: ContactName = ""
    contact_phone: ContactPhone = ""
    open: bool = True


class ShelterUpdate(t.Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    kind: ShelterKind | msgspec.UnsetType = msgspec.UNSET
    location: PlaceIn | msgspec.UnsetType = msgspec.UNSET
    capacity: Capacity | msgspec.UnsetType = msgspec.UNSET
    area_ids: AreaIds | msgspec.UnsetType = msgspec.UNSET
    contact_name: ContactName | msgspec.UnsetType = msgspec.UNSET
    contact_phone: ContactPhone | msgspec.UnsetType = msgspec.UNSET
    open: bool | msgspec.UnsetType = msgspec.UNSET


class ShelterRead(msgspec.Struct):
    id: int
    name: str
    kind: str
    lat: float
    lng: float
    datum: str
    capacity: int
    contact_name: str
    contact_phone: str
    open: bool
    retired: bool
    retired_at: datetime | None
    retired_by: int | None
    areas: list[AreaRef]  # the areas it serves
    # the nearest area above all of them (None only if they share no root in the tree)
    owner_area: AreaRef | None
    created_at: datetime
    updated_at: datetime
    created_by: int | None
    updated_by: int | None
    manageable: bool = False  # the caller may change it


class ShelterPage(msgspec.Struct):
    items: list[ShelterRead]
    next_cursor: str | None


# --- threatened households (受威胁户) -------------------------------------------------------

Address = Annotated[t.Line, msgspec.Meta(min_length=1, max_length=200)]
HeadName = Annotated[t.Line, msgspec.Meta(min_length=1, max_length=64)]
HeadPhone = Annotated[t.Line, msgspec.Meta(min_length=1, max_length=32)]
People = Annotated[int, msgspec.Meta(ge=1, le=100)]  # one household; 100 only keeps it sane
Members = Annotated[int, msgspec.Meta(ge=0, le=100)]
WatchGroup = Annotated[t.Line, msgspec.Meta(max_length=64)]
Note = Annotated[t.Text, msgspec.Meta(max_length=500)]
VULNERABLE_KINDS = ("elderly_alone", "disabled", "children", "pregnant")


class HouseholdCreate(t.Input):
    grid_id: t.Id  # a grid-level area
    address: Address
    head_name: HeadName
    head_phone: HeadPhone  # a mainland mobile (138 1234 5678) or a landline with its area code
    people: People
    helper_id: t.Id  # 包保责任人: an account on duty in or over the grid
    elderly_alone: Members = 0
    disabled: Members = 0  # disabled or bedridden
    children: Members = 0  # young children
    pregnant: Members = 0
    risk_point_id: t.Id | None = None
    shelter_id: t.Id | None = None  # a shelter serving the grid (or an area above or below)
    watch_group: WatchGroup = ""  # 十户联防 group
    resident_id: t.Id | None = None  # a resident's account linked to the household
    location: PlaceIn | None = None
    note: Note = ""


class HouseholdUpdate(t.Input):
    grid_id: t.Id | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType = msgspec.UNSET
    head_name: HeadName | msgspec.UnsetType = msgspec.UNSET
    head_phone: HeadPhone | msgspec.UnsetType = msgspec.UNSET
    people: People | msgspec.UnsetType = msgspec.UNSET
    helper_id: t.Id | msgspec.UnsetType = msgspec.UNSET
    elderly_alone: Members | msgspec.UnsetType = msgspec.UNSET
    disabled: Members | msgspec.UnsetType = msgspec.UNSET
    children: Members | msgspec.UnsetType = msgspec.UNSET
    pregnant: Members | msgspec.UnsetType = msgspec.UNSET
    risk_point_id: t.Id | msgspec.UnsetType | None = msgspec.UNSET
    shelter_id: t.Id | msgspec.UnsetType | None = msgspec.UNSET
    watch_group: WatchGroup | msgspec.UnsetType = msgspec.UNSET
    resident_id: t.Id | msgspec.UnsetType | None = msgspec.UNSET
    location: PlaceIn | msgspec.UnsetType | None = msgspec.UNSET
    note: Note | msgspec.UnsetType = msgspec.UNSET


class Ref(msgspec.Struct):
    """Something named, by id (a helper, a shelter, a risk point)."""

    id: int
    name: str


class GridRef(msgspec.Struct):
    id: int
    code: str
    name: str
    path: str  # the grid's place in the tree, names from the district down
    area_path: str  # its materialised path of codes


class Position(msgspec.Struct):
    lat: float
    lng: float
    datum: str
    source: Literal["household", "risk_point"]


class HouseholdRead(msgspec.Struct):
    id: int
    grid: GridRef
    address: str
    head_name: str
    head_phone: str  # masked (138****5678) when `masked`
    people: int
    elderly_alone: int
    disabled: int
    children: int
    pregnant: int
    # people needing help to move: the four counts added up, at most `people`
    vulnerable: int
    vulnerable_flags: list[str]  # the kinds present, in the order of the counts above
    helper: Ref
    shelter: Ref | None
    risk_point: Ref | None
    watch_group: str
    resident_id: int | None  # None when `masked`
    position: Position | None  # its own, else its risk point's, in ?datum=
    note: str
    retired: bool
    retired_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: int | None
    updated_by: int | None
    masked: bool = False  # the caller does not cover the grid: phone masked, no resident
    manageable: bool = False  # the caller may change it


class HouseholdPage(msgspec.Struct):
    items: list[HouseholdRead]
    next_cursor: str | None


class LedgerImported(msgspec.Struct):
    rows: int
    created: int
    updated: int
    unchanged: int
    household_ids: list[int]  # in the order of the rows


# --- evacuation routes (drawn on the printed risk map) ---------------------------------------

RoutePoints = Annotated[list[PlaceIn], msgspec.Meta(min_length=2, max_length=500)]
ClusterLabel = Annotated[t.Line, msgspec.Meta(max_length=64)]


class RouteCreate(t.Input):
    """A way out: from a risk point or a household cluster (a label such as "7号楼") to a
    shelter, as a line of points (each in its datum, stored in WGS-84)."""

    name: Name
    area_id: t.Id  # the community or grid it belongs to
    points: RoutePoints
    shelter_id: t.Id
    from_risk_point_id: t.Id | None = None
    from_cluster: ClusterLabel = ""


class RoutePoint(msgspec.Struct):
    lat: float
    lng: float


class RouteRead(msgspec.Struct):
    id: int
    name: str
    area: AreaRef
    points: list[RoutePoint]
    datum: str
    from_risk_point_id: int | None
    from_risk_point_name: str | None
    from_cluster: str
    shelter_id: int
    shelter_name: str
    retired: bool
    retired_at: datetime | None
    retired_by: int | None
    created_at: datetime
    created_by: int | None
    manageable: bool = False


class RoutePage(msgspec.Struct):
    items: list[RouteRead]
    next_cursor: str | None
