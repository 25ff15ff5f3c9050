from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from grid_backend.core import types as t
from grid_backend.core.types import Datum

Level = Literal["city", "district", "township", "community", "grid", "micro_grid"]
Kind = Literal["comprehensive", "dedicated"]
RiskPointType = Literal[
    "landslide",
    "flood_underpass",
    "gas_station",
    "hazardous_chemicals",
    "construction_site",
    "old_building",
    "other",
]
RiskLevel = Literal["low", "medium", "high", "major"]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lng = Annotated[float, msgspec.Meta(ge=-180, le=180)]


class AreaBrief(msgspec.Struct):
    id: int
    code: str
    name: str
    level: str


class AreaRead(msgspec.Struct):
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str
    kind: str
    households: int | None
    population: int | None
    bbox: list[float] | None  # [min_lng, min_lat, max_lng, max_lat], WGS-84


class AreaDetail(msgspec.Struct):
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str
    kind: str
    households: int | None
    population: int | None
    bbox: list[float] | None
    boundary: dict[str, Any] | None  # GeoJSON geometry, WGS-84 unless ?datum= says otherwise
    boundary_valid_from: datetime | None
    datum: str
    ancestors: list[AreaBrief]
    children: list[AreaBrief]
    children_count: int


class AreaPage(msgspec.Struct):
    items: list[AreaRead]
    next_cursor: str | None


class ImportResult(msgspec.Struct):
    created: int
    updated: int
    boundaries_changed: int
    codes: list[str]


class Position(msgspec.Struct):
    lat: float
    lng: float
    datum: str


class TeamMember(msgspec.Struct):
    account_id: int
    name: str
    duty: str
    phone: str
    area_id: int
    employment: str | None = None


class LocateRead(msgspec.Struct):
    grid: AreaBrief
    micro_grid: AreaBrief | None
    ancestors: list[AreaBrief]  # district, township, community
    outside_grid: bool  # true when the point is in no grid and the nearest was taken
    distance_m: float
    position: Position  # WGS-84, as stored and matched
    team: list[TeamMember]
    phones_masked: bool


class CoverageGrid(msgspec.Struct):
    id: int
    code: str
    name: str
    missing: list[str]


class CoverageRead(msgspec.Struct):
    area: AreaBrief
    date: str
    grids: int
    lacking_grid_leader: int
    lacking_grid_worker: int
    lacking_emergency_officer: int
    fully_covered: int
    items: list[CoverageGrid]
    next_cursor: str | None


class Contact(t.Input):
    name: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=64)]
    role: Annotated[t.Text, msgspec.Meta(max_length=64)] = ""
    phone: Annotated[t.Text, msgspec.Meta(max_length=32)] = ""


class RiskPointCreate(t.Input):
    name: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=100)]
    type: RiskPointType
    risk_level: RiskLevel
    lat: Lat
    lng: Lng
    datum: Datum = "wgs84"
    code: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
        | None
    ) = None
    threatened_households: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    contacts: Annotated[list[Contact], msgspec.Meta(max_length=20)] = []
    note: Annotated[t.Text, msgspec.Meta(max_length=2000)] = ""


class RiskPointUpdate(t.Input):
    name: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=100)] | None = None
    type: RiskPointType | None = None
    risk_level: RiskLevel | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    datum: Datum = "wgs84"
    threatened_households: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | None = None
    contacts: Annotated[list[Contact], msgspec.Meta(max_length=20)] | None = None
    note: Annotated[t.Text, msgspec.Meta(max_length=2000)] | None = None
    is_active: bool | None = None


class RiskPointRead(msgspec.Struct):
    id: int
    code: str
    name: str
    type: str
    risk_level: str
    lat: float
    lng: float
    grid: AreaBrief
    threatened_households: int
    contacts: list[dict[str, Any]]
    note: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class RiskPointPage(msgspec.Struct):
    items: list[RiskPointRead]
    next_cursor: str | None
