from piccolo.columns import JSONB, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class AuditEntry(Table, tablename="audit_entry"):
    """Append-only record of who changed or read what; never updated."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    actor_id = Integer(null=True, index=True)
    action = Varchar(length=64, index=True)
    object_type = Varchar(length=32)
    object_id = Varchar(length=64, null=True)
    area_path = Varchar(length=255, null=True, index=True)
    detail = JSONB(default={})
    at = Timestamptz(default=TimestamptzNow(), index=True)


class GeoRevision(Table, tablename="revision"):
    """Counters bumped in the same transaction as a change that in-memory caches mirror,
    so every process notices (boundaries for the locate index, assignments for rosters)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    name = Varchar(length=32, unique=True)
    revision = Integer(default=0)


class JobLease(Table, tablename="job_lease"):
    """Who runs a scheduled job now: several processes each run a scheduler, and a tick is
    done only by the one whose claim on this row succeeds (until `expires_at`)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    job_id = Varchar(length=64, unique=True)
    holder = Varchar(length=128, default="")
    expires_at = Timestamptz(null=True, default=None)
    last_started_at = Timestamptz(null=True, default=None)
    last_finished_at = Timestamptz(null=True, default=None)
    last_result = JSONB(default={})
    last_error = Text(default="")
    runs = Integer(default=0)
