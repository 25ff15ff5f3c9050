from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from grid_backend.core import types as t
from grid_backend.core.mapapps import MapLink
from grid_backend.core.types import AreaRef, LocationIn
from grid_backend.hazards.workflow import ACTIONS

Level = Literal["general", "major"]
PhotoIds = Annotated[list[t.Id], msgspec.Meta(max_length=50)]
Text = Annotated[t.Text, msgspec.Meta(max_length=2000)]
Reason = Annotated[t.Text, msgspec.Meta(max_length=500)]


class ReportCreate(t.Input):
    category: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=32)]
    location: LocationIn
    description: Text = ""
    photo_ids: PhotoIds = []
    level: Level | None = None  # staff only
    captured_at: datetime | None = None  # device time at capture
    urgent: bool = False
    reporter_safe: bool | None = None  # residents confirm they are safe
    client_id: Annotated[t.Text, msgspec.Meta(min_length=8, max_length=100)] | None = None
    # the token of a QR code scanned at the place (扫码报灾): a working one makes the channel "qr"
    qr: Annotated[t.Text, msgspec.Meta(max_length=64)] | None = None


class Supervision(t.Input):
    """挂牌督办 — the five things a major hazard needs before dispatch."""

    responsibility: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=500)]
    measures: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=2000)]
    funds: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=500)]
    deadline: datetime
    contingency_plan: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=2000)]


class ActionIn(t.Input):
    action: Literal[ACTIONS]  # type: ignore[valid-type]  # a Literal built from the workflow's actions: msgspec reads it at runtime
    note: Text = ""
    reason: Reason | None = None
    level: Level | None = None
    category: Annotated[t.Text, msgspec.Meta(max_length=32)] | None = None
    into: t.Id | None = None
    assignee_id: t.Id | None = None
    grid_id: t.Id | None = None
    board: Annotated[t.Text, msgspec.Meta(max_length=32)] | None = None
    due_at: datetime | None = None
    supervision: Supervision | None = None
    photo_ids: PhotoIds = []
    before_photo_ids: PhotoIds = []
    location: LocationIn | None = None
    false_report: bool = False


class PhotoRef(msgspec.Struct):
    id: int
    kind: str
    display_url: str
    thumbnail_url: str
    width: int
    height: int
    gps_lat: float | None = None
    gps_lng: float | None = None
    gps_source: str | None = None  # "exif" (from the file) or "phone" (read on the phone)


class EventRead(msgspec.Struct):
    id: int
    action: str
    from_status: str | None
    to_status: str
    at: datetime
    note: str
    actor_id: int | None = None
    actor_name: str | None = None
    duty: str | None = None
    data: dict[str, Any] = {}


class DuplicateCheck(t.Input):
    """What a phone knows before sending a report: asks for possible duplicates first."""

    category: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=32)]
    location: LocationIn
    photo_ids: Annotated[list[t.Id], msgspec.Meta(max_length=20)] = []


class DuplicateRead(msgspec.Struct):
    """A possible duplicate as offered: only what the public view of a case shows (no
    reporter), and a thumbnail only when the photo rules let this person see its photo."""

    id: int
    category: str
    status: str
    distance_m: float | None
    reason: str  # "nearby", "photo", or "grid" (same grid and category: the console's merge)
    status_text: str = ""
    description: str = ""
    created_at: datetime | None = None
    thumbnail_url: str | None = None


class CallRead(msgspec.Struct):
    """A call on a case, for staff: the caller's phone is masked unless the viewer may call
    them back (`report.contact` over the case's grid)."""

    id: int
    channel: str
    caller_phone: str
    caller_name: str
    caller_account_id: int | None
    attached: bool
    address: str
    sms_status: str  # "" (a registered caller: their app tells them), sent, failed
    sms_at: datetime | None
    created_at: datetime
    taken_by_name: str = ""
    sms_text: str = ""  # what the caller was texted (the case number, how to follow it)


class ReportRead(msgspec.Struct):
    id: int
    status: str
    status_text: str
    category: str
    level: str
    description: str
    urgent: bool
    channel: str
    lat: float
    lng: float
    accuracy_m: float | None
    is_mock: bool
    outside_grid: bool
    exif_mismatch: bool
    exif_distance_m: float | None
    grid: AreaRef
    township: AreaRef | None
    area_path: str
    reporter_id: int | None
    reporter_name: str | None
    reporter_phone: str | None
    reporter_safe: bool | None
    assignee_id: int | None
    assigned_area_id: int | None
    board: str | None
    merged_into: int | None  # the case this one joined (a link on every view of it)
    supervision: dict[str, Any] | None
    supporters: int
    rework_count: int
    due_at: datetime | None
    overdue: bool
    triage_due_at: datetime | None
    acknowledge_due_at: datetime | None
    rectify_due_at: datetime | None
    captured_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    photos: list[PhotoRef] = []
    timeline: list[EventRead] = []
    actions: list[str] = []
    # the category's name in the request's language
    category_text: str = ""
    # staff only: one-tap links to go there in AMap and Baidu Maps (core.mapapps)
    navigation: list[MapLink] = []
    possible_duplicates: list[DuplicateRead] = []
    merged_from: list[int] = []  # the duplicates merged into this case (staff)
    calls: list[CallRead] = []  # hotline and staff calls taken on it (staff)


class ReportSummary(msgspec.Struct):
    id: int
    status: str
    status_text: str
    category: str
    level: str
    urgent: bool
    description: str
    grid_name: str
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    assignee_id: int | None
    thumbnail_url: str | None


class ReportPage(msgspec.Struct):
    items: list[ReportSummary]
    next_cursor: str | None


class PointsEntryRead(msgspec.Struct):
    id: int
    delta: int
    reason: str
    report_id: int | None
    created_at: datetime
    note: str


class PointsRead(msgspec.Struct):
    balance: int
    month_awarded: int
    monthly_cap: int
    entries: list[PointsEntryRead]
    next_cursor: str | None


class CategoryRead(msgspec.Struct):
    code: str
    group: str
    name_zh: str
    name_en: str
    duplicate_radius_m: int


class SlaRuleRead(msgspec.Struct):
    category: str
    level: str
    triage_minutes: int
    acknowledge_minutes: int
    rectify_minutes: int | None


class SlaRuleWrite(t.Input):
    category: Annotated[t.Text, msgspec.Meta(max_length=32)]
    level: Level
    triage_minutes: Annotated[int, msgspec.Meta(ge=1, le=525_600)]
    acknowledge_minutes: Annotated[int, msgspec.Meta(ge=1, le=525_600)]
    rectify_minutes: Annotated[int, msgspec.Meta(ge=1, le=5_256_000)] | None = None


class SosCreate(t.Input):
    """One-tap SOS (一键呼救): the position is all it needs (docs/evacuation.md)."""

    location: LocationIn
    description: Annotated[t.Text, msgspec.Meta(max_length=500)] = ""
    captured_at: datetime | None = None  # device time of the tap
    client_id: Annotated[t.Text, msgspec.Meta(min_length=8, max_length=100)] | None = None


class SosPhotos(t.Input):
    """Photos sent after the call by its sender (uploaded first through /api/v1/media)."""

    photo_ids: Annotated[list[t.Id], msgspec.Meta(min_length=1, max_length=20)]


class SosRead(msgspec.Struct):
    """An SOS as its sender (and the staff of its grid) see it."""

    id: int  # the urgent case it opened
    status: str  # the case's status (closed once cancelled)
    grid_name: str
    created_at: datetime
    cancel_until: datetime  # the sender may call it off until then
    cancellable: bool  # by the caller, now
    alerted: int  # responders and dispatchers alerted at once
    cancelled_at: datetime | None = None
    told_of_cancel: int = 0  # of them, told it was called off
    photos: int = 0  # photos on the case (sent with the call or after it)


HotlineChannel = Literal["hotline_12345", "hotline_12350", "staff"]


class HotlineCreate(t.Input):
    """A call taken by the hotline or by staff for a caller (docs/api.md, "Hotline intake"):
    the place is a position (any datum), a community or grid chosen by id, or an address
    matched to one; or `attach_to` an open case the call is about instead of a new one."""

    channel: HotlineChannel
    caller_phone: Annotated[t.Line, msgspec.Meta(min_length=1, max_length=30)]
    caller_name: Annotated[t.Line, msgspec.Meta(max_length=64)] = ""
    category: Annotated[t.Text, msgspec.Meta(max_length=32)] = ""
    description: Text = ""
    urgent: bool = False
    level: Level | None = None
    location: LocationIn | None = None
    area_id: t.Id | None = None
    address: Annotated[t.Line, msgspec.Meta(max_length=200)] | None = None
    photo_ids: PhotoIds = []
    attach_to: t.Id | None = None
    client_id: Annotated[t.Text, msgspec.Meta(min_length=8, max_length=100)] | None = None


class HotlineRead(msgspec.Struct):
    """The answer to a call taken: the case (new or attached to), and how the caller hears."""

    call: CallRead
    report_id: int
    status: str
    attached: bool
    caller_linked: bool  # the phone is a registered account's: the case is theirs
    place_name: str
    case_url: str  # the console's page of the case


class PlaceRead(msgspec.Struct):
    id: int
    code: str
    name: str
    level: str
    parent_name: str
    lat: float | None  # a point inside the place, in the requested datum
    lng: float | None


class PlacePage(msgspec.Struct):
    items: list[PlaceRead]
    next_cursor: str | None
