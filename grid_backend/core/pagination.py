"""Keyset pagination: an opaque cursor carrying the last id seen."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from litestar.params import QueryParameter

from grid_backend.core.errors import invalid

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size, 1–200")]
Cursor = Annotated[str | None, QueryParameter(max_length=64, description="from next_cursor")]


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"i:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id after which the page starts, or None for the first page."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind == "i" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise invalid("cursor", "cursor is not one this server issued", detail_zh="分页游标无效")


def next_cursor(rows: list[dict], limit: int) -> str | None:
    """A cursor for the following page when this one is full (rows fetched with limit + 1)."""
    if len(rows) > limit:
        del rows[limit:]
        return encode_cursor(rows[-1]["id"])
    return None
