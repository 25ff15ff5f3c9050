from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from grid_backend.hazards.tables import HazardReport
from grid_backend.people.tables import Account


class Open311Client(Table, tablename="open311_client"):
    """An integrator allowed to post service requests: its key is stored as its SHA-256."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    name = Varchar(length=100)
    slug = Varchar(length=40, unique=True)
    key_hash = Varchar(length=64, unique=True)
    key_prefix = Varchar(length=8)  # the first characters, to tell keys apart in the console
    active = Boolean(default=True)
    requests_per_minute = Integer(default=60)
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_at = Timestamptz(null=True, default=None)


class Open311Request(Table, tablename="open311_request"):
    """A case filed through Open311: the client, the token it was answered, and what the
    client sent about the reporter. The contact fields are private: never on a public read."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    report = ForeignKey(HazardReport, unique=True, on_delete=OnDelete.cascade)
    client = ForeignKey(Open311Client, index=True, on_delete=OnDelete.restrict)
    token = Varchar(length=36, unique=True)
    media_url = Varchar(length=500, null=True, default=None)
    address_string = Varchar(length=255, default="")
    email = Varchar(length=255, default="")
    phone = Varchar(length=32, default="")
    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    device_id = Varchar(length=100, default="")
    account_id = Varchar(length=100, default="")
    created_at = Timestamptz(default=TimestamptzNow())
