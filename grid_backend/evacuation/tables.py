from piccolo.columns import (
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

from grid_backend.alerts.tables import EarlyWarning
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.people.tables import Account


class Shelter(Table, tablename="evacuation_shelter"):
    """A place people are moved to (避险点/安置点): its kind, position (WGS-84, beside what was
    sent), capacity in people and contact. `area_path` is the nearest area above all the
    areas it serves (its owner, for the audit); who sees it is decided by the served areas."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    name = Varchar(length=100)
    kind = Varchar(length=20)
    lat = DoublePrecision()
    lng = DoublePrecision()
    sent_lat = DoublePrecision()
    sent_lng = DoublePrecision()
    sent_datum = Varchar(length=8, default="wgs84")
    capacity = Integer()
    contact_name = Varchar(length=64, default="")
    contact_phone = Varchar(length=32, default="")
    area_path = Varchar(length=255, index=True)
    is_open = Boolean(default=True)
    retired_at = Timestamptz(null=True, default=None, index=True)
    retired_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    updated_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ShelterArea(Table, tablename="evacuation_shelter_area"):
    """An area a shelter serves (a community, grids…); unique per (shelter, area)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    shelter = ForeignKey(Shelter, index=True, on_delete=OnDelete.cascade)
    area = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)


class Household(Table, tablename="evacuation_household"):
    """A threatened household (受威胁户) of a grid, from the office's ledger: who lives there,
    who among them needs help to move (counts per kind), the helper (包保责任人) who moves them,
    the shelter they go to and their 十户联防 group. `area_path` is the grid's path (scoping).
    `lat`/`lng` (WGS-84) are optional: without them the risk point's, else the grid's, place
    stands in. `resident` links a resident's account (the notice, "I have moved")."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    grid = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)
    risk_point = ForeignKey(RiskPoint, null=True, default=None, on_delete=OnDelete.set_null)
    address = Varchar(length=200)
    head_name = Varchar(length=64)
    head_phone = Varchar(length=32)
    people = Integer()
    elderly_alone = Integer(default=0)  # elderly living alone
    disabled = Integer(default=0)  # disabled or bedridden
    children = Integer(default=0)  # young children
    pregnant = Integer(default=0)
    helper = ForeignKey(Account, index=True, on_delete=OnDelete.restrict)
    shelter = ForeignKey(Shelter, null=True, default=None, on_delete=OnDelete.set_null)
    watch_group = Varchar(length=64, default="")  # 十户联防 group, by name within the grid
    resident = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    lat = DoublePrecision(null=True, default=None)
    lng = DoublePrecision(null=True, default=None)
    note = Varchar(length=500, default="")
    retired_at = Timestamptz(null=True, default=None, index=True)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    updated_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Evacuation(Table, tablename="evacuation_run"):
    """One evacuation (转移避险) over some areas or risk points. `status`: `proposed` (by an
    orange or red warning, waiting for an officer), `active` (tasks made, helpers told),
    `ended` (people returned) or `dismissed` (a proposal nobody confirmed before its warning
    ended). `area_path` is the nearest area above everything it covers (scoping, audit).
    `escalate_at` is when helpers who have not started are escalated (None once done)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    status = Varchar(length=16, default="active", index=True)
    source = Varchar(length=8, default="manual")  # manual | warning
    # one proposal per warning (a unique index; NULL for those started by hand)
    warning = ForeignKey(
        EarlyWarning, null=True, default=None, unique=True, on_delete=OnDelete.set_null
    )
    area_path = Varchar(length=255, index=True)
    note = Text(default="")
    households = Integer(default=0)  # tasks made at the start
    people = Integer(default=0)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    started_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    started_at = Timestamptz(null=True, default=None)
    escalate_at = Timestamptz(null=True, default=None, index=True)
    ended_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    ended_at = Timestamptz(null=True, default=None)
    end_reason = Varchar(length=24, default="")  # by_hand | warning_lifted
    # a retried start (Idempotency-Key) answers with this evacuation
    client_key = Varchar(length=100, null=True, default=None)
    request_digest = Varchar(length=64, null=True, default=None)


class EvacuationArea(Table, tablename="evacuation_run_area"):
    """What an evacuation covers: an area (everything under it), or a risk point (its
    households; `area` is then the risk point's grid)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    evacuation = ForeignKey(Evacuation, index=True, on_delete=OnDelete.cascade)
    area = ForeignKey(Area, on_delete=OnDelete.restrict)
    risk_point = ForeignKey(RiskPoint, null=True, default=None, on_delete=OnDelete.set_null)
    area_path = Varchar(length=255, index=True)


class EvacuationTask(Table, tablename="evacuation_task"):
    """One household to move in one evacuation, for its helper: unique per (evacuation,
    household). Its grid's path, people and vulnerable members are copied at the start, so
    the board counts one table. `destination` of a move: shelter | relatives | self_arranged."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    evacuation = ForeignKey(Evacuation, on_delete=OnDelete.cascade)  # indexed with household
    household = ForeignKey(Household, index=True, on_delete=OnDelete.cascade)
    helper = ForeignKey(Account, index=True, on_delete=OnDelete.restrict)
    grid = Integer()  # the grid's id (areas are versioned, never deleted)
    area_path = Varchar(length=255)
    people = Integer(default=0)
    vulnerable = Integer(default=0)  # elderly alone + disabled + children + pregnant
    status = Varchar(length=16, default="pending")
    destination = Varchar(length=16, default="")
    shelter = ForeignKey(Shelter, null=True, default=None, on_delete=OnDelete.set_null)
    note = Text(default="")
    reason = Text(default="")  # why they refused
    lat = DoublePrecision(null=True, default=None)  # WGS-84, of the last change
    lng = DoublePrecision(null=True, default=None)
    arrived_at = Timestamptz(null=True, default=None)  # checked in at a shelter
    returned_at = Timestamptz(null=True, default=None)
    updated_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    updated_at = Timestamptz(null=True, default=None)  # None until the first change


class EvacuationEvent(Table, tablename="evacuation_event"):
    """The timeline of a household in an evacuation: each status change with its time,
    place (WGS-84 beside what the phone sent), who recorded it and the note. A retried
    change (Idempotency-Key) answers with its first event: unique per (task, client_key)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    evacuation = ForeignKey(Evacuation, index=True, on_delete=OnDelete.cascade)
    task = ForeignKey(EvacuationTask, on_delete=OnDelete.cascade)  # indexed with client_key
    from_status = Varchar(length=16)
    to_status = Varchar(length=16)
    destination = Varchar(length=16, default="")
    shelter = ForeignKey(Shelter, null=True, default=None, on_delete=OnDelete.set_null)
    note = Text(default="")
    reason = Text(default="")  # why they refused
    lat = DoublePrecision(null=True, default=None)
    lng = DoublePrecision(null=True, default=None)
    sent_lat = DoublePrecision(null=True, default=None)
    sent_lng = DoublePrecision(null=True, default=None)
    sent_datum = Varchar(length=8, default="wgs84")
    accuracy_m = DoublePrecision(null=True, default=None)
    actor = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    device_time = Timestamptz(null=True, default=None)
    at = Timestamptz(default=TimestamptzNow())
    client_key = Varchar(length=100, null=True, default=None)
    request_digest = Varchar(length=64, null=True, default=None)


class EvacuationArrival(Table, tablename="evacuation_arrival"):
    """People checked in at a shelter during an evacuation: a household (`task`) or a
    headcount of people who came on their own; a household that moved on to another shelter
    leaves a row of minus its people. Occupancy is the sum of `people`."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    evacuation = ForeignKey(Evacuation, index=True, on_delete=OnDelete.cascade)
    shelter = ForeignKey(Shelter, index=True, on_delete=OnDelete.restrict)
    task = ForeignKey(EvacuationTask, null=True, default=None, on_delete=OnDelete.set_null)
    people = Integer()
    note = Text(default="")
    recorded_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    at = Timestamptz(default=TimestamptzNow())
    client_key = Varchar(length=100, null=True, default=None)
    request_digest = Varchar(length=64, null=True, default=None)


class QrCode(Table, tablename="evacuation_qr_code"):
    """A printed code (扫码报灾) at a risk point or for a grid: scanning it opens the field
    app's report page with the place and a fitting category filled in. `token` is random
    (128 bits, URL-safe), the only thing the code carries; a reissued code revokes the one
    before it. `area_path` is the grid's path (scoping); `scans` counts scans, nothing else
    about the people who scan is kept."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    token = Varchar(length=32, unique=True)
    target = Varchar(length=16)  # "risk_point" or "grid"
    risk_point = ForeignKey(
        RiskPoint, null=True, default=None, index=True, on_delete=OnDelete.cascade
    )
    grid = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)
    scans = Integer(default=0)
    last_scanned_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None, index=True)
    revoked_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())


class EvacuationRoute(Table, tablename="evacuation_route"):
    """A recorded way out (转移路线): a line from a risk point, or from a cluster of households
    named by a label, to a shelter, drawn on the printed risk map. `points` is the line as JSON
    `[[lng, lat], ...]` in WGS-84 (`sent_datum`: what the client sent); `area_path` is the area
    it belongs to (scoping and audit)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    name = Varchar(length=100)
    area = ForeignKey(Area, index=True, on_delete=OnDelete.restrict)
    area_path = Varchar(length=255, index=True)
    points = Text()
    sent_datum = Varchar(length=8, default="wgs84")
    from_risk_point = ForeignKey(RiskPoint, null=True, default=None, on_delete=OnDelete.set_null)
    from_cluster = Varchar(length=64, default="")  # a household cluster, e.g. "7号楼"
    shelter = ForeignKey(Shelter, index=True, on_delete=OnDelete.restrict)
    retired_at = Timestamptz(null=True, default=None, index=True)
    retired_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
