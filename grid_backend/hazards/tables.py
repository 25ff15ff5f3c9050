from piccolo.columns import (
    JSONB,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from grid_backend.areas.tables import Area
from grid_backend.media.tables import Photo
from grid_backend.people.tables import Account


class Category(Table, tablename="hazard_category"):
    """A hazard type; configuration seeded by migration, names in Chinese and English."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    code = Varchar(length=32, unique=True)
    group_code = Varchar(length=32)
    name_zh = Varchar(length=64)
    name_en = Varchar(length=64)
    duplicate_radius_m = Integer(default=100)
    sort = Integer(default=0)
    is_active = Boolean(default=True)


class SlaRule(Table, tablename="sla_rule"):
    """(category, level) → minutes to triage, to acknowledge, to rectify; category '' is the
    default row. Major hazards without rectify minutes are due by their supervision listing."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    category = Varchar(length=32, default="")
    level = Varchar(length=16)
    triage_minutes = Integer()
    acknowledge_minutes = Integer()
    rectify_minutes = Integer(null=True, default=None)


class HazardReport(Table, tablename="hazard_report"):
    """One case, from submission to closing (DESIGN.md §3, §4)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    # resident_app, grid_patrol, qr, sos, open311:<client slug>, ...
    channel = Varchar(length=64, default="resident_app")
    reporter = ForeignKey(Account, index=True, on_delete=OnDelete.set_null)
    reporter_is_staff = Boolean(default=False)
    category = Varchar(length=32, index=True)
    level = Varchar(length=16, default="general", index=True)
    description = Text(default="")
    urgent = Boolean(default=False, index=True)
    reporter_safe = Boolean(null=True, default=None)
    # position as stored and matched (WGS-84) and as the client sent it
    lat = DoublePrecision()
    lng = DoublePrecision()
    sent_lat = DoublePrecision()
    sent_lng = DoublePrecision()
    sent_datum = Varchar(length=8, default="wgs84")
    accuracy_m = DoublePrecision(null=True, default=None)
    location_source = Varchar(length=16, default="gps")
    is_mock = Boolean(default=False)
    outside_grid = Boolean(default=False)
    exif_distance_m = DoublePrecision(null=True, default=None)
    exif_mismatch = Boolean(default=False)
    # routing: the grid and its ancestors when the report was made
    grid = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    community = ForeignKey(Area, null=True, default=None, on_delete=OnDelete.restrict)
    township = ForeignKey(Area, null=True, default=None, index=True, on_delete=OnDelete.restrict)
    district = ForeignKey(Area, null=True, default=None, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)
    status = Varchar(length=16, default="submitted", index=True)
    assignee = ForeignKey(Account, null=True, default=None, index=True, on_delete=OnDelete.set_null)
    assigned_area = ForeignKey(Area, null=True, default=None, on_delete=OnDelete.restrict)
    board = Varchar(length=32, null=True, default=None)
    merged_into: ForeignKey["HazardReport"] = ForeignKey(
        "self", null=True, default=None, on_delete=OnDelete.restrict
    )
    supervision = JSONB(null=True, default=None)
    supporters = Integer(default=0)
    rework_count = Integer(default=0)
    # deadlines: due_at is the deadline of the current stage (overdue = open and past it)
    due_at = Timestamptz(null=True, default=None, index=True)
    triage_due_at = Timestamptz(null=True, default=None)
    acknowledge_due_at = Timestamptz(null=True, default=None)
    rectify_due_at = Timestamptz(null=True, default=None)
    suspended_at = Timestamptz(null=True, default=None)
    captured_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    updated_at = Timestamptz(default=TimestamptzNow())
    registered_at = Timestamptz(null=True, default=None)
    dispatched_at = Timestamptz(null=True, default=None)
    acknowledged_at = Timestamptz(null=True, default=None)
    fixed_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    # a retry of the same submission (Idempotency-Key) returns this report
    client_key = Varchar(length=100, null=True, default=None)
    request_digest = Varchar(length=64, null=True, default=None)
    # kept off public reads (Open311): set by the staff who manage the case
    internal = Boolean(default=False)


class ReportPhoto(Table, tablename="hazard_photo"):
    """A photo attached to a case: evidence at submission, before/after a fix."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    report = ForeignKey(HazardReport, index=True, on_delete=OnDelete.cascade)
    photo = ForeignKey(Photo, index=True, on_delete=OnDelete.restrict)
    kind = Varchar(length=16, default="evidence")
    position = Integer(default=0)
    added_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    event = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class HazardEvent(Table, tablename="hazard_event"):
    """The append-only timeline and audit of a case; nothing about a case changes without one."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    report = ForeignKey(HazardReport, index=True, on_delete=OnDelete.cascade)
    actor = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    duty = Varchar(length=32, null=True, default=None)
    action = Varchar(length=32)
    from_status = Varchar(length=16, null=True, default=None)
    to_status = Varchar(length=16)
    note = Text(default="")
    data = JSONB(default={})
    lat = DoublePrecision(null=True, default=None)
    lng = DoublePrecision(null=True, default=None)
    public = Boolean(default=True)
    at = Timestamptz(default=TimestamptzNow(), index=True)


class Support(Table, tablename="hazard_support"):
    """A resident's "me too" on an existing case instead of a new report."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    report = ForeignKey(HazardReport, index=True, on_delete=OnDelete.cascade)
    account = ForeignKey(Account, index=True, on_delete=OnDelete.cascade)
    created_at = Timestamptz(default=TimestamptzNow())


class DuplicateOffer(Table, tablename="hazard_duplicate_offer"):
    """A case the server offered an account as a possible duplicate of its own report (on the
    pre-check or after submitting): what lets a resident see the case and say "me too" on it."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    report = ForeignKey(HazardReport, index=True, on_delete=OnDelete.cascade)
    account = ForeignKey(Account, index=True, on_delete=OnDelete.cascade)
    offered_at = Timestamptz(default=TimestamptzNow())


class PointsEntry(Table, tablename="points_entry"):
    """Append-only reward ledger; a balance is the sum. `key` makes each award happen once."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    account = ForeignKey(Account, index=True, on_delete=OnDelete.cascade)
    delta = Integer()
    reason = Varchar(length=32)
    report = ForeignKey(HazardReport, null=True, default=None, on_delete=OnDelete.set_null)
    key = Varchar(length=100, unique=True)
    note = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class Announcement(Table, tablename="hazard_announcement"):
    """A live announcement about a case made once: a deadline 30 minutes away or passed (per
    case and deadline), or an urgent case seen by someone on duty (per case). `key` makes each
    happen once across runs and processes."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    report = ForeignKey(HazardReport, index=True, on_delete=OnDelete.cascade)
    kind = Varchar(length=16)
    key = Varchar(length=100, unique=True)
    account = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())


class HotlineCall(Table, tablename="hazard_call"):
    """A call taken on a case by the hotline (12345, 12350) or by staff on behalf of a caller:
    the caller's phone is kept here, for staff only and never on the timeline; the SMS that
    told a caller without an account how to follow the case is recorded with it."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    report = ForeignKey(HazardReport, index=True, on_delete=OnDelete.cascade)
    channel = Varchar(length=16)  # hotline_12345 | hotline_12350 | staff
    caller_phone = Varchar(length=20, index=True)
    caller_name = Varchar(length=64, default="")
    caller_account = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    taken_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    attached = Boolean(default=False)  # the call joined an existing case instead of a new one
    address = Varchar(length=200, default="")  # as the caller said it, when typed
    note = Text(default="")
    sms_status = Varchar(length=8, default="")  # "" (a registered caller: none), sent, failed
    sms_text = Text(default="")
    sms_error = Text(default="")
    sms_at = Timestamptz(null=True, default=None)
    client_key = Varchar(length=100, null=True, default=None)  # unique per taken_by
    request_digest = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
