from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from grid_backend.core import types as t

LocalTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["22:00"])]


class NotificationRead(msgspec.Struct):
    id: int
    kind: str
    title: str
    body: str
    urgent: bool
    data: dict[str, Any]  # the event's fields (case_id, delta…), for the app to link to
    created_at: datetime  # when it reached the inbox
    read_at: datetime | None


class NotificationPage(msgspec.Struct):
    items: list[NotificationRead]
    next_cursor: str | None
    unread_count: int


class ReadAllResult(msgspec.Struct):
    marked: int
    unread_count: int


class QuietHours(t.Input):
    """Local times (GRID_TIMEZONE); a period may cross midnight (22:00–07:00)."""

    start: LocalTime
    end: LocalTime


class PreferencesWrite(t.Input):
    push: bool
    sms: bool
    quiet_hours: QuietHours | None = None


class PreferencesRead(msgspec.Struct):
    inbox: bool  # always on
    push: bool
    sms: bool
    quiet_hours: QuietHours | None
    timezone: str
    push_available: bool  # false when this server has no push gateway (production)
    sms_available: bool
