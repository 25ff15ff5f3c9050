from piccolo.columns import (
    JSONB,
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Time,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from grid_backend.people.tables import Account


class WebhookSubscriber(Table, tablename="webhook_subscriber"):
    """Another system that receives case, warning, callout and evacuation events as signed
    POSTs (docs/webhooks.md). Its deliveries are outbox rows of channel `webhook`."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    name = Varchar(length=100)
    url = Varchar(length=1000)
    secret = Varchar(length=200)  # the HMAC key: kept as given, it signs every delivery
    # the event kinds wanted, comma-delimited with a comma at each end (",case.created,"), so
    # one LIKE in the enqueue's INSERT ... SELECT matches them on both engines
    kinds = Text(default="")
    active = Boolean(default=True)
    paused_reason = Varchar(length=16, default="")  # "" | admin | failures
    consecutive_failures = Integer(default=0)
    failing_since = Timestamptz(null=True, default=None)  # first failure since the last success
    last_success_at = Timestamptz(null=True, default=None)
    last_failure_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(Account, on_delete=OnDelete.restrict)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Notification(Table, tablename="notification"):
    """The outbox (DESIGN.md §3): one row per recipient, event and channel. Written in the
    transaction of the event that caused it; (dedupe_key, channel) is unique, so an event
    notifies once per channel however often it is enqueued."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    recipient = ForeignKey(Account, index=True, on_delete=OnDelete.cascade)
    kind = Varchar(length=64)
    channel = Varchar(length=8)  # inbox | push | sms | webhook
    # channel webhook: the subscriber it goes to (the recipient is the subscriber's creator)
    webhook = ForeignKey(
        WebhookSubscriber, null=True, default=None, index=True, on_delete=OnDelete.cascade
    )
    payload = JSONB(default={})  # the event's fields plus the rendered zh/en title and body
    urgent = Boolean(default=False)
    dedupe_key = Varchar(length=200)
    status = Varchar(length=8, default="pending")  # pending | sent | dead
    due_at = Timestamptz(default=TimestamptzNow())  # next attempt; later when retrying or quiet
    claimed_until = Timestamptz(null=True, default=None)  # a delivery run holds the row until then
    claim_token = UUID(null=True, default=None)  # which run holds it
    attempts = Integer(default=0)
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)
    read_at = Timestamptz(null=True, default=None)


class DeliveryAttempt(Table, tablename="delivery_attempt"):
    """One try at sending a notification through its channel, kept whether it worked or not."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    notification = ForeignKey(Notification, index=True, on_delete=OnDelete.cascade)
    channel = Varchar(length=8)
    at = Timestamptz(default=TimestamptzNow())
    ok = Boolean(default=False)
    status_code = Integer(null=True, default=None)
    error = Text(default="")
    duration_ms = Integer(default=0)


class NotificationPreference(Table, tablename="notification_preference"):
    """An account's channels and quiet hours; no row means the defaults."""

    id: Serial  # Piccolo's implicit primary key, annotated for the type checker only
    account = ForeignKey(Account, unique=True, on_delete=OnDelete.cascade)
    push = Boolean(default=True)
    sms = Boolean(default=False)
    # local time (GRID_TIMEZONE); non-urgent push and sms wait until quiet_end
    quiet_start = Time(null=True, default=None)
    quiet_end = Time(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())
