from piccolo.columns import (
    UUID,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from grid_backend.areas.tables import Area, RiskPoint


class Account(Table, tablename="account"):
    """A person, identified by a normalised mainland mobile number (11 digits)."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    phone = Varchar(length=20, unique=True)
    name = Varchar(length=64)
    password_hash = Varchar(length=255)
    is_active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    # set when the resident deleted the account (docs/privacy.md): the row stays, anonymised,
    # as the reporter of the office's cases; `is_active` alone is an admin's deactivation
    closed_at = Timestamptz(null=True, default=None)


class RefreshToken(Table, tablename="refresh_token"):
    """A refresh token, stored as its SHA-256; rotation links tokens into one family."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    account = ForeignKey(Account, index=True)
    family = UUID(index=True)
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class Assignment(Table, tablename="assignment"):
    """Who holds which duty in which area, and when; access follows from these rows."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    account = ForeignKey(Account, index=True)
    area = ForeignKey(Area, index=True)
    area_path = Varchar(length=255, index=True)
    duty = Varchar(length=32, index=True)
    employment = Varchar(length=16, null=True, default=None)
    board = Varchar(length=32, null=True, default=None)
    risk_point = ForeignKey(RiskPoint, null=True, default=None)
    valid_from = Date()
    valid_to = Date(null=True, default=None)
    # who appointed: kept as history, so removing that account must not remove this row
    created_by = ForeignKey(Account, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())


class RegistrationCode(Table, tablename="registration_code"):
    """A one-time code sent by SMS to prove a new account's phone (one live code per phone),
    kept as an HMAC-SHA256 under the secret key, never in the clear."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    phone = Varchar(length=20, unique=True)
    code_hash = Varchar(length=64)
    expires_at = Timestamptz()
    attempts = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
