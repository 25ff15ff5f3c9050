from piccolo.columns import (
    JSONB,
    Boolean,
    Date,
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

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.media.tables import Photo
from grid_backend.people.tables import Account


class PatrolPlan(Table, tablename="patrol_plan"):
    """Who patrols where and when (DESIGN.md §3). `revision` moves whenever a change affects the
    tasks to come; `next_due_at` is the first occurrence the materialiser has not made yet."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    name = Varchar(length=100)
    grid = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)
    # who: one account, or a duty of the grid resolved for each task on its local date
    assignee = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.restrict)
    duty = Varchar(length=32, null=True, default=None)
    employment = Varchar(length=16, null=True, default=None)
    ordered = Boolean(default=False)
    recurrence = JSONB(default={})
    window_minutes = Integer(default=120)
    valid_from = Date()
    valid_to = Date(null=True, default=None)
    extra_rounds = JSONB(default={})  # warning level -> extra rounds (used by alerts)
    # not indexed: the materialiser walks plans in id order, and moving next_due_at must stay
    # a cheap (HOT) update for 62,000 plans a day
    status = Varchar(length=16, default="active")
    revision = Integer(default=1)
    next_due_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    ended_at = Timestamptz(null=True, default=None)


class PatrolCheckpoint(Table, tablename="patrol_checkpoint"):
    """One stop of a plan, in WGS-84. A plan's checkpoints are replaced, never edited: each row
    belongs to the plan revisions [revision_from, revision_to), so a task keeps its own."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    plan = ForeignKey(PatrolPlan, index=True, on_delete=OnDelete.cascade)
    seq = Integer()
    name = Varchar(length=100)
    risk_point = ForeignKey(RiskPoint, null=True, default=None, on_delete=OnDelete.restrict)
    lat = DoublePrecision()
    lng = DoublePrecision()
    sent_lat = DoublePrecision()
    sent_lng = DoublePrecision()
    sent_datum = Varchar(length=8, default="wgs84")
    radius_m = DoublePrecision(default=50.0)
    revision_from = Integer(default=1)
    revision_to = Integer(null=True, default=None)


class PatrolTask(Table, tablename="patrol_task"):
    """One occurrence of a plan: scheduled → in_progress → completed | missed | cancelled.
    Unique per (plan, window_start) among tasks that are not cancelled."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    plan = ForeignKey(PatrolPlan, index=True, on_delete=OnDelete.cascade)
    plan_revision = Integer(default=1)
    grid = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255)  # indexed with local_date (see the raw migration)
    assignee = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.restrict)
    local_date = Date()
    window_start = Timestamptz()
    window_end = Timestamptz()
    status = Varchar(length=16, default="scheduled")
    started_at = Timestamptz(null=True, default=None)
    started_on_time = Boolean(null=True, default=None)
    start_device_time = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    missed_at = Timestamptz(null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)
    cancel_reason = Varchar(length=32, null=True, default=None)
    excused_at = Timestamptz(null=True, default=None)
    excused_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    excuse_reason = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class CheckIn(Table, tablename="patrol_check_in"):
    """A check-in at a checkpoint: accepted always, flagged when it cannot be trusted."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    task = ForeignKey(PatrolTask, index=True, on_delete=OnDelete.cascade)
    checkpoint = ForeignKey(PatrolCheckpoint, index=True, on_delete=OnDelete.restrict)
    account = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    lat = DoublePrecision()
    lng = DoublePrecision()
    sent_lat = DoublePrecision()
    sent_lng = DoublePrecision()
    sent_datum = Varchar(length=8, default="wgs84")
    accuracy_m = DoublePrecision(null=True, default=None)
    location_source = Varchar(length=16, default="gps")
    is_mock = Boolean(default=False)
    distance_m = DoublePrecision()
    within_radius = Boolean()
    out_of_order = Boolean(default=False)
    note = Text(default="")
    device_time = Timestamptz(null=True, default=None)
    at = Timestamptz(default=TimestamptzNow())
    # a retried check-in (Idempotency-Key or client_id) returns the first one
    client_id = Varchar(length=100, null=True, default=None)
    request_digest = Varchar(length=64, null=True, default=None)


class CheckInPhoto(Table, tablename="patrol_check_in_photo"):
    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    check_in = ForeignKey(CheckIn, index=True, on_delete=OnDelete.cascade)
    photo = ForeignKey(Photo, index=True, on_delete=OnDelete.restrict)
    position = Integer(default=0)


class PatrolLog(Table, tablename="patrol_log"):
    """What a finished patrol found (巡查日志)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    task = ForeignKey(PatrolTask, unique=True, on_delete=OnDelete.cascade)
    account = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    households_visited = Integer(default=0)
    issues_found = Integer(default=0)
    fixed_on_spot = Integer(default=0)
    hazard_report_ids = JSONB(default=[])
    skipped_checkpoint_ids = JSONB(default=[])
    narrative = Text(default="")
    device_time = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
