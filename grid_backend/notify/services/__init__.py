"""The notification outbox (DESIGN.md §3, §6): enqueue in the caller's transaction, deliver
with retries and backoff, the inbox, preferences and live events.

Enqueue writes one row per channel (the inbox always; push and SMS as the recipient's
preferences allow), unique per (dedupe_key, channel), in the transaction of the event that
caused it: a rolled-back event notifies no one, a repeated one notifies once. An inbox row due
now is delivered at once (it is in the inbox when the transaction commits); everything else is
sent by the `notify.deliver` job through `deliver_due`:

1. claim: due rows get `claimed_until` and a run token (PostgreSQL: one UPDATE of the rows a
   `FOR UPDATE SKIP LOCKED` subquery picked, so parallel runs take disjoint rows; SQLite: a
   serialised write transaction whose UPDATE repeats the "still claimable" condition);
2. send outside any transaction, concurrently (a semaphore of GRID_NOTIFY_CONCURRENCY);
3. record every attempt and the new states at once (PostgreSQL: one statement over arrays),
   only for rows this run still holds. A failure is retried after 1, 5, 30 and 120 minutes;
   the fifth failure is `dead`, keeping the last error.

A run that is stopped (cancelled: the scheduler's stop, the app's shutdown) lets its requests
in flight finish, records them and frees the rows it had not sent. A run that dies between 1
and 3 loses nothing either: its claim expires and the rows are sent again (at least once;
gateways drop repeated notification ids).

The package, one module a concern: `preferences`, `enqueue` (and the live event once the
transaction commits), `delivery`, `inbox` and `live` (the event stream)."""

from grid_backend.notify.events import can_publish
from grid_backend.notify.services.delivery import (
    BACKOFF,
    CLAIM,
    claim_due,
    claim_seconds,
    deliver_due,
    record,
    send_all,
    to_the_end,
)
from grid_backend.notify.services.enqueue import (
    WATCH_LIMIT_SECONDS,
    enqueue,
    enqueue_many,
    publish,
)
from grid_backend.notify.services.inbox import list_inbox, mark_all_read, mark_read, unread_count
from grid_backend.notify.services.live import (
    HEARTBEAT_SECONDS,
    STREAM_CLOSED_RETRY_MS,
    live_stream,
)
from grid_backend.notify.services.preferences import (
    Prefs,
    quiet_until,
    read_preferences,
    write_preferences,
)

__all__ = [
    "BACKOFF",
    "CLAIM",
    "HEARTBEAT_SECONDS",
    "STREAM_CLOSED_RETRY_MS",
    "WATCH_LIMIT_SECONDS",
    "Prefs",
    "can_publish",
    "claim_due",
    "claim_seconds",
    "deliver_due",
    "enqueue",
    "enqueue_many",
    "list_inbox",
    "live_stream",
    "mark_all_read",
    "mark_read",
    "publish",
    "quiet_until",
    "read_preferences",
    "record",
    "send_all",
    "to_the_end",
    "unread_count",
    "write_preferences",
]
