"""The admin API's Structs for Open311 clients (the GeoReport answers are the spec's own
shapes, built in services.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from grid_backend.core import types as t


class ClientCreate(t.Input):
    name: Annotated[t.Line, msgspec.Meta(min_length=1, max_length=100)]
    # the channel is open311:<slug>; made from the name when not given
    slug: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")] | None = None
    requests_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 60


class ClientRead(msgspec.Struct):
    id: int
    name: str
    slug: str
    key_prefix: str  # the key's first characters, to tell keys apart
    active: bool
    requests_per_minute: int
    created_at: datetime
    revoked_at: datetime | None
    channel: str


class ClientIssued(msgspec.Struct):
    """A new client and its API key: the only time the key is shown."""

    client: ClientRead
    api_key: str


class ClientPage(msgspec.Struct):
    items: list[ClientRead]
    next_cursor: str | None


class InternalIn(t.Input):
    """Keep a case off the public reads (Open311), or show it again."""

    internal: bool
