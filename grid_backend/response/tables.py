from piccolo.columns import (
    Boolean,
    DoublePrecision,
    ForeignKey,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from grid_backend.areas.tables import Area
from grid_backend.hazards.tables import HazardReport
from grid_backend.people.tables import Account


class RescueTeam(Table, tablename="rescue_team"):
    """A professional, aviation or specialised industry rescue team, with its response tier
    (community / ground / air) and base position (WGS-84, beside what was sent)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    name = Varchar(length=100)
    type = Varchar(length=16)
    tier = Varchar(length=16, index=True)
    lat = DoublePrecision()
    lng = DoublePrecision()
    sent_lat = DoublePrecision()
    sent_lng = DoublePrecision()
    sent_datum = Varchar(length=8, default="wgs84")
    contact_name = Varchar(length=64, default="")
    contact_phone = Varchar(length=32, default="")
    note = Text(default="")
    active = Boolean(default=True)
    retired_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class RescueTeamArea(Table, tablename="rescue_team_area"):
    """An area a team serves (a district, a township…); unique per (team, area)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    team = ForeignKey(RescueTeam, index=True, on_delete=OnDelete.cascade)
    area = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)


class ResponseRecord(Table, tablename="response_record"):
    """One person's or one team's response to an urgent case: alerted (for a team: dispatched)
    → acknowledged → set_off → arrived → finished. Unique per (report, account) and per
    (report, team). The step times are the ones the metrics read (docs/metrics.md)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    report = ForeignKey(HazardReport, index=True, on_delete=OnDelete.cascade)
    account = ForeignKey(Account, null=True, default=None, index=True, on_delete=OnDelete.set_null)
    team = ForeignKey(RescueTeam, null=True, default=None, index=True, on_delete=OnDelete.restrict)
    duty = Varchar(length=32, null=True, default=None)
    tier = Varchar(length=16)
    status = Varchar(length=16, default="alerted")
    alerted_at = Timestamptz()
    acknowledged_at = Timestamptz(null=True, default=None)
    set_off_at = Timestamptz(null=True, default=None)
    arrived_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    arrival_distance_m = DoublePrecision(null=True, default=None)
    arrival_verified = Boolean(null=True, default=None)
    dispatched_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ResponseStep(Table, tablename="response_step"):
    """One recorded step of a response, with who recorded it, when and where (append-only;
    unique per (record, step)). `at` is the step's time: the device time, kept between the
    previous step and the server's receipt (docs/metrics.md)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    record = ForeignKey(ResponseRecord, index=True, on_delete=OnDelete.cascade)
    step = Varchar(length=16)
    actor = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    at = Timestamptz()
    received_at = Timestamptz()
    device_time = Timestamptz(null=True, default=None)
    lat = DoublePrecision(null=True, default=None)
    lng = DoublePrecision(null=True, default=None)
    sent_lat = DoublePrecision(null=True, default=None)
    sent_lng = DoublePrecision(null=True, default=None)
    sent_datum = Varchar(length=8, null=True, default=None)
    accuracy_m = DoublePrecision(null=True, default=None)
    is_mock = Boolean(default=False)
    distance_m = DoublePrecision(null=True, default=None)
    note = Text(default="")
