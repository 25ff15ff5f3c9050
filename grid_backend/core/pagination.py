"""Keyset pagination: an opaque cursor carrying the last row's sort keys, in one codec
(`encode`/`decode`) for every list."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from litestar.params import QueryParameter

from grid_backend.core.errors import invalid
from grid_backend.core.types import MAX_ID

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size, 1–200")]
Cursor = Annotated[str | None, QueryParameter(max_length=64, description="from next_cursor")]
# a period in local calendar days, `?from=2026-11-01&to=2026-11-30` (both ends included)
DateFrom = Annotated[date | None, QueryParameter(name="from", description="first day")]
DateTo = Annotated[date | None, QueryParameter(name="to", description="last day")]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
Key = int | datetime | None


def cursor_id(value: str) -> int:
    """An id read from a cursor: ASCII digits within the id range (ValueError otherwise)."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        raise ValueError(value)
    return int(value)


def encode(tag: str, *keys: Key) -> str:
    """The one cursor codec: the sort keys of the last row of a page, behind a tag naming the
    list's order. Ids go as digits, moments as whole microseconds since 1970 (exact, so a
    keyset comparison resumes precisely), no value as nothing."""
    parts = [tag]
    for key in keys:
        if isinstance(key, datetime):
            parts.append(str((key - _EPOCH) // _MICROSECOND))
        else:
            parts.append("" if key is None else str(key))
    return base64.urlsafe_b64encode(":".join(parts).encode()).decode().rstrip("=")


def decode(cursor: str | None, tag: str, *kinds: str) -> tuple[Any, ...] | None:
    """The keys of a cursor `encode(tag, …)` made, read as `kinds` ("id", "time", "time?"
    for a moment that may be absent, or "flag" for a yes/no given as 1/0); None for no cursor (the first page). Anything else
    this server did not issue is a 422 on the `cursor` field."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, *values = raw.split(":")
        if found == tag and len(values) == len(kinds):
            return tuple(_key(kind, value) for kind, value in zip(kinds, values, strict=True))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        pass
    raise invalid("cursor", "cursor is not one this server issued")


def _key(kind: str, value: str) -> Key | bool:
    if kind == "id":
        return cursor_id(value)
    if kind == "flag":
        if value not in ("0", "1"):
            raise ValueError(value)
        return value == "1"
    if kind == "time?" and value == "":
        return None
    if not (value.isascii() and value.lstrip("-").isdigit()):
        raise ValueError(value)
    return _EPOCH + int(value) * _MICROSECOND


def encode_cursor(last_id: int) -> str:
    return encode("i", last_id)


def decode_cursor(cursor: str | None) -> int | None:
    """The id after which the page starts, or None for the first page."""
    keys = decode(cursor, "i", "id")
    return None if keys is None else keys[0]


def next_cursor(rows: list[dict], limit: int) -> str | None:
    """A cursor for the following page when this one is full (rows fetched with limit + 1)."""
    if len(rows) > limit:
        del rows[limit:]
        return encode_cursor(rows[-1]["id"])
    return None


def encode_due_cursor(due: datetime | None, last_id: int) -> str:
    """A cursor for lists ordered by (deadline, id): the last row's deadline and id."""
    return encode("d", due, last_id)


def decode_due_cursor(cursor: str | None) -> tuple[datetime | None, int] | None:
    """(deadline or None, id) after which the page starts, or None for the first page."""
    keys = decode(cursor, "d", "time?", "id")
    return None if keys is None else (keys[0], keys[1])
