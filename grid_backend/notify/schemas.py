from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

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


# outbound webhooks (docs/webhooks.md)
WebhookKind = Literal[
    "case.created",
    "case.status_changed",
    "case.assigned",
    "case.deadline_missed",
    "case.closed",
    "warning.issued",
    "warning.changed",
    "warning.lifted",
    "warning.expired",
    "callout.started",
    "callout.ended",
    "evacuation.started",
    "evacuation.ended",
    "evacuation.household_status",
]
WebhookName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=t.LINE_PATTERN)]
WebhookUrl = Annotated[str, msgspec.Meta(min_length=8, max_length=1000, pattern=t.LINE_PATTERN)]
WebhookSecret = Annotated[
    str,
    msgspec.Meta(
        min_length=16,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="the HMAC key (16–200 printable ASCII characters); generated if left out",
    ),
]
WebhookKinds = Annotated[list[WebhookKind], msgspec.Meta(min_length=1, max_length=20)]


class WebhookCreate(t.Input):
    name: WebhookName
    url: WebhookUrl
    kinds: WebhookKinds
    secret: WebhookSecret | None = None


class WebhookUpdate(t.Input):
    name: WebhookName | msgspec.UnsetType = msgspec.UNSET
    url: WebhookUrl | msgspec.UnsetType = msgspec.UNSET
    kinds: WebhookKinds | msgspec.UnsetType = msgspec.UNSET
    secret: WebhookSecret | msgspec.UnsetType = msgspec.UNSET


class WebhookRead(msgspec.Struct):
    id: int
    name: str
    url: str
    kinds: list[str]
    active: bool
    paused_reason: str  # "" while active; admin | failures
    consecutive_failures: int
    failing_since: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    pending: int  # deliveries waiting (held while paused)
    created_by: int
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead):
    secret: str  # shown this once: the receiver needs it to check the signatures


class WebhookPage(msgspec.Struct):
    items: list[WebhookRead]
    next_cursor: str | None


class WebhookDelivery(msgspec.Struct):
    id: int  # the attempt
    notification_id: int  # the delivery (X-Grid-Notification-Id), one a subscriber and event
    event_id: str  # X-Grid-Event-Id: the same in every retry
    kind: str
    at: datetime
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int
    status: str  # the delivery's state now: pending | sent | dead


class WebhookDeliveryPage(msgspec.Struct):
    items: list[WebhookDelivery]
    next_cursor: str | None


class WebhookTestQueued(msgspec.Struct):
    notification_id: int
    event_id: str
