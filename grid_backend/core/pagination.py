"""Keyset pagination: an opaque cursor carrying the last id seen (and the last sort key)."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Annotated

from litestar.params import QueryParameter

from grid_backend.core.errors import invalid
from grid_backend.core.types import MAX_ID

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size, 1–200")]
Cursor = Annotated[str | None, QueryParameter(max_length=64, description="from next_cursor")]
# a period in local calendar days, `?from=2026-11-01&to=2026-11-30` (both ends included)
DateFrom = Annotated[date | None, QueryParameter(name="from", description="first day")]
DateTo = Annotated[date | None, QueryParameter(name="to", description="last day")]


def cursor_id(value: str) -> int:
    """An id read from a cursor: ASCII digits within the id range (ValueError otherwise)."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        raise ValueError(value)
    return int(value)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"i:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id after which the page starts, or None for the first page."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind == "i":
            return cursor_id(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise invalid("cursor", "cursor is not one this server issued", detail_zh="分页游标无效")


def next_cursor(rows: list[dict], limit: int) -> str | None:
    """A cursor for the following page when this one is full (rows fetched with limit + 1)."""
    if len(rows) > limit:
        del rows[limit:]
        return encode_cursor(rows[-1]["id"])
    return None


def encode_due_cursor(due: datetime | None, last_id: int) -> str:
    """A cursor for lists ordered by (deadline, id): the last row's deadline and id."""
    key = f"d:{due.isoformat() if due else ''}|{last_id}"
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_due_cursor(cursor: str | None) -> tuple[datetime | None, int] | None:
    """(deadline or None, id) after which the page starts, or None for the first page."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        due, _, last_id = value.rpartition("|")
        if kind == "d":
            moment = datetime.fromisoformat(due) if due else None
            if moment is None or moment.tzinfo is not None:
                return moment, cursor_id(last_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        pass
    raise invalid("cursor", "cursor is not one this server issued", detail_zh="分页游标无效")
