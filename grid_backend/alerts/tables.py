from piccolo.columns import ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from grid_backend.areas.tables import Area
from grid_backend.patrols.tables import PatrolPlan, PatrolTask
from grid_backend.people.tables import Account


class EarlyWarning(Table, tablename="early_warning"):
    """A warning (预警) over some areas for a period (DESIGN.md §3). `status` is `issued` or
    `cancelled`; whether it is upcoming, active or expired follows from the clock."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    level = Varchar(length=8)  # blue | yellow | orange | red
    type = Varchar(length=32)  # heavy_rain | geological | flood | forest_fire | other
    message = Text()
    starts_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    status = Varchar(length=16, default="issued")
    issued_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    revision = Integer(default=1)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    cancelled_at = Timestamptz(null=True, default=None)
    cancelled_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    cancel_reason = Text(null=True, default=None)


class WarningArea(Table, tablename="early_warning_area"):
    """One of the areas a warning covers (any level from district down to grid)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    warning = ForeignKey(EarlyWarning, index=True, on_delete=OnDelete.cascade)
    area = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)


class WarningRound(Table, tablename="early_warning_round"):
    """An extra patrol round a warning added to a plan: unique per (warning, plan, round), so
    issuing, changing or re-syncing a warning never makes a round twice."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    warning = ForeignKey(EarlyWarning, index=True, on_delete=OnDelete.cascade)
    plan = ForeignKey(PatrolPlan, index=True, on_delete=OnDelete.cascade)
    round = Integer()
    task = ForeignKey(PatrolTask, null=True, default=None, on_delete=OnDelete.set_null)
    window_start = Timestamptz()
    created_at = Timestamptz(default=TimestamptzNow())


class Callout(Table, tablename="callout"):
    """A message each recipient must acknowledge (叫应). `next_step_at` is when the next
    escalation of those who have not answered is due (None once escalation is over)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    warning = ForeignKey(EarlyWarning, null=True, default=None, on_delete=OnDelete.cascade)
    level = Varchar(length=8, null=True, default=None)  # the warning's level, if any
    message = Text()
    message_en = Text(default="")
    escalate_minutes = Integer(default=5)
    status = Varchar(length=16, default="active")  # active | cancelled
    step = Integer(default=0)  # the last escalation step done (3: the township was told)
    next_step_at = Timestamptz(null=True, default=None, index=True)
    recipients = Integer(default=0)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    cancelled_at = Timestamptz(null=True, default=None)


class CalloutArea(Table, tablename="callout_area"):
    """One of the areas a callout was sent to: who may see it follows from these."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    callout = ForeignKey(Callout, index=True, on_delete=OnDelete.cascade)
    area = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)


class CalloutRecipient(Table, tablename="callout_recipient"):
    """One person called out, unique per (callout, account): the duty and grid they were
    reached through, their acknowledgement and how far their escalation has gone
    (1 reminded, 2 their grid leader told, 3 the township dispatcher told)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    callout = ForeignKey(Callout, on_delete=OnDelete.cascade)  # indexed with account
    account = ForeignKey(Account, on_delete=OnDelete.cascade)  # indexed with acked_at
    # the grid's id, no foreign key: its check cost a second per 100,000 recipients, and areas
    # are versioned, never deleted
    grid = Integer(null=True, default=None)
    area_path = Varchar(length=255)
    duty = Varchar(length=32, default="")
    acked_at = Timestamptz(null=True, default=None)
    step = Integer(default=0)
    stepped_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
