from piccolo.columns import (
    JSONB,
    Boolean,
    Bytea,
    DoublePrecision,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Area(Table, tablename="area"):
    """A node of the tree city → district → township → community → grid → micro_grid.

    `path` is the codes from the root to this area, each followed by "/", so an area's
    subtree is every row whose path starts with its own (scoping without recursion)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    code = Varchar(length=32, unique=True)
    name = Varchar(length=100)
    level = Varchar(length=16, index=True)
    parent: ForeignKey["Area"] = ForeignKey("self", null=True, index=True)
    path = Varchar(length=255, index=True)
    kind = Varchar(length=16, default="comprehensive")
    households = Integer(null=True)
    population = Integer(null=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class AreaBoundary(Table, tablename="area_boundary"):
    """One version of an area's boundary (WKB, WGS-84); the current one has no valid_to."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    area = ForeignKey(Area, index=True)
    wkb = Bytea()
    min_lng = DoublePrecision()
    min_lat = DoublePrecision()
    max_lng = DoublePrecision()
    max_lat = DoublePrecision()
    source_datum = Varchar(length=8, default="wgs84")
    valid_from = Timestamptz(default=TimestamptzNow())
    valid_to = Timestamptz(null=True, default=None, index=True)


class RiskPoint(Table, tablename="risk_point"):
    """A registered place that needs watching; position in WGS-84."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    code = Varchar(length=32, unique=True)
    name = Varchar(length=100)
    type = Varchar(length=32, index=True)
    risk_level = Varchar(length=16)
    lng = DoublePrecision()
    lat = DoublePrecision()
    grid = ForeignKey(Area, index=True)
    area_path = Varchar(length=255, index=True)
    contacts = JSONB(default=[])
    threatened_households = Integer(default=0)
    note = Text(default="")
    is_active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
