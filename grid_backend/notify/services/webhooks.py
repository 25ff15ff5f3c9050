"""Outbound webhooks (docs/webhooks.md): events written to the outbox for the subscribers that
want them, the subscribers' addresses for a delivery run, and what a delivery's outcome does
to its subscriber (where a subscriber may point is notify/addresses.py).

An event is written by `emit`, in the transaction of the change it reports: one INSERT ...
SELECT over the active subscribers that want its kind (none: no row, and nothing else
done), one outbox row (`channel = 'webhook'`) a subscriber, keyed `webhook:{subscriber}:{key}`
so a repeated event is written once. The delivery job sends them like push, signed with the
subscriber's own secret, retried on the outbox's backoff. A subscriber that keeps failing
(GRID_WEBHOOK_PAUSE_AFTER_FAILURES in a row, or failing for GRID_WEBHOOK_PAUSE_AFTER_MINUTES)
is paused and the admins are told in their inbox; its waiting deliveries are held until an
admin resumes it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import msgspec

from grid_backend.core import clock, sql
from grid_backend.core.db import fetch
from grid_backend.notify.schemas import WebhookKind
from grid_backend.notify.services.enqueue import enqueue_many
from grid_backend.notify.tables import Notification, WebhookSubscriber
from grid_backend.people.duty import on_duty
from grid_backend.people.tables import Assignment
from grid_backend.settings import get_settings

# The event kinds a subscriber may ask for (docs/webhooks.md describes each payload), and the
# test event sent to one subscriber on an admin's request, whatever its kinds
KINDS = (*get_args(WebhookKind), "webhook.test")
# held deliveries of a paused subscriber wait this far ahead, until it is resumed
HOLD = timedelta(days=3650)
_EVENT_IDS = uuid.UUID("5b0e3c52-6f1d-4c1e-9a57-1f3b2d1e7a10")  # namespace of event ids


def event_id(key: str) -> str:
    """The event's id, the same for every subscriber and every repeat of the event."""
    return str(uuid.uuid5(_EVENT_IDS, key))


def envelope(kind: str, key: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """What a subscriber receives: the event's id, kind and time, and its data."""
    return {
        "id": event_id(key),
        "kind": kind,
        "occurred_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": msgspec.to_builtins(data),
    }


_EMIT = (
    "INSERT INTO notification (recipient, kind, channel, payload, urgent, dedupe_key, status,"
    " due_at, created_at, attempts, last_error, webhook)"
    " SELECT s.created_by, {}, 'webhook', {}, {}, {} || CAST(s.id AS TEXT) || {}, 'pending',"
    " {}, {}, 0, '', s.id FROM webhook_subscriber s WHERE {} AND s.kinds LIKE {}"
    " ON CONFLICT (dedupe_key, channel) DO NOTHING"
)


async def emit(*, kind: str, key: str, data: dict[str, Any], urgent: bool = False) -> None:
    """Write the event for every active subscriber that wants its kind, in the caller's
    transaction. `key` names the event ("case-event:812", "case:42:missed:<due>"): the same
    key is written once per subscriber, and gives the event's id."""
    if kind not in KINDS:
        raise ValueError(f"unknown webhook event kind {kind!r}")
    now = clock.now().astimezone(UTC)
    body = msgspec.json.encode(envelope(kind, key, data, now)).decode()
    await fetch(
        sql.q(
            _EMIT,
            sql.typed(kind, "text"),
            sql.typed(body, "jsonb"),
            sql.typed(urgent, "boolean"),
            sql.typed("webhook:", "text"),
            sql.typed(f":{key}", "text"),
            sql.typed(now, "timestamptz"),
            sql.typed(now, "timestamptz"),
            sql.q("s.active = {}", True),
            f"%,{kind},%",
        )
    )


# `emit` inside a statement of the caller's (a change written in one statement): the event is
# written only if the caller's CTE named `written` returned a row
_EMIT_IF_WRITTEN = (
    "INSERT INTO notification (recipient, kind, channel, payload, urgent, dedupe_key, status,"
    " due_at, created_at, attempts, last_error, webhook)"
    " SELECT s.created_by, {}, 'webhook', {}, {}, {} || CAST(s.id AS TEXT) || {}, 'pending',"
    " {}, {}, 0, '', s.id FROM webhook_subscriber s WHERE {} AND s.kinds LIKE {}"
    " AND EXISTS (SELECT 1 FROM written) ON CONFLICT (dedupe_key, channel) DO NOTHING"
)


def emit_if_written(
    *, kind: str, key: str, data: dict[str, Any], urgent: bool = False
) -> sql.QueryString:
    """`emit` as a data-modifying part of the caller's WITH (PostgreSQL): the same rows,
    written in the same statement as the change, and only if its CTE `written` has a row."""
    if kind not in KINDS:
        raise ValueError(f"unknown webhook event kind {kind!r}")
    now = clock.now().astimezone(UTC)
    body = msgspec.json.encode(envelope(kind, key, data, now)).decode()
    return sql.q(
        _EMIT_IF_WRITTEN,
        sql.typed(kind, "text"),
        sql.typed(body, "jsonb"),
        sql.typed(urgent, "boolean"),
        sql.typed("webhook:", "text"),
        sql.typed(f":{key}", "text"),
        sql.typed(now, "timestamptz"),
        sql.typed(now, "timestamptz"),
        sql.q("s.active = {}", True),
        f"%,{kind},%",
    )


async def emit_to(*, subscriber_id: int, kind: str, key: str, data: dict[str, Any]) -> int:
    """One event for one subscriber (a test event), whether or not it wants the kind; the
    outbox row's id."""
    now = clock.now().astimezone(UTC)
    row = (
        await WebhookSubscriber.select(WebhookSubscriber.created_by)
        .where(WebhookSubscriber.id == subscriber_id)
        .first()
        .run()
    )
    assert row is not None  # the caller found it
    written = (
        await Notification.insert(
            Notification(
                recipient=row["created_by"],
                kind=kind,
                channel="webhook",
                payload=envelope(kind, key, data, now),
                dedupe_key=f"webhook:{subscriber_id}:{key}",
                due_at=now,
                created_at=now,
                webhook=subscriber_id,
            )
        )
        .returning(Notification.id)
        .run()
    )
    return written[0]["id"]


async def targets(subscriber_ids: list[int]) -> dict[int, tuple[str, str]]:
    """The URL and secret of each of these subscribers."""
    if not subscriber_ids:
        return {}
    rows = (
        await WebhookSubscriber.select(
            WebhookSubscriber.id, WebhookSubscriber.url, WebhookSubscriber.secret
        )
        .where(WebhookSubscriber.id.is_in(sorted(set(subscriber_ids))))
        .run()
    )
    return {r["id"]: (r["url"], r["secret"]) for r in rows}


# what the outcome of deliveries does to their subscribers


async def account(outcomes: list[tuple[int, bool, str]], at: datetime) -> list[int]:
    """Count each subscriber's successes and failures (subscriber id, ok, error, in the order
    sent) and pause those that keep failing, telling the admins; the ids paused. In the
    caller's write transaction."""
    last_ok: dict[int, int] = {}
    failures: dict[int, int] = defaultdict(int)
    errors: dict[int, str] = {}
    for subscriber, ok, error in outcomes:
        if ok:
            last_ok[subscriber] = 0
            failures.pop(subscriber, None)
        else:
            failures[subscriber] += 1
            errors[subscriber] = error
    W = WebhookSubscriber
    if last_ok:
        await (
            W.update(
                {
                    W.consecutive_failures: 0,
                    W.failing_since: None,
                    W.last_success_at: at,
                }
            )
            .where(W.id.is_in(sorted(last_ok)))
            .run()
        )
    by_count: dict[int, list[int]] = defaultdict(list)
    for subscriber, n in failures.items():
        by_count[n].append(subscriber)
    for n, ids in by_count.items():
        await (
            W.update({W.consecutive_failures: W.consecutive_failures + n, W.last_failure_at: at})
            .where(W.id.is_in(ids))
            .run()
        )
    # a subscriber paused while this batch was in flight: its retries just scheduled are held
    inactive = await W.select(W.id).where(
        W.id.is_in(sorted({s for s, _, _ in outcomes})) & (W.active == False)  # noqa: E712
    )
    if inactive:
        await hold([r["id"] for r in inactive], at)
    if not failures:
        return []
    failed = sorted(failures)
    await (
        W.update({W.failing_since: at}).where(W.id.is_in(failed) & W.failing_since.is_null()).run()
    )
    s = get_settings()
    too_many = (W.consecutive_failures >= s.webhook_pause_after_failures) | (
        W.failing_since <= at - timedelta(minutes=s.webhook_pause_after_minutes)
    )
    paused = (
        await W.update({W.active: False, W.paused_reason: "failures", W.updated_at: at})
        .where(W.id.is_in(failed) & (W.active == True) & too_many)  # noqa: E712
        .returning(W.id, W.name, W.consecutive_failures)
        .run()
    )
    if not paused:
        return []
    ids = [p["id"] for p in paused]
    await hold(ids, at)
    admins = await _admins(at)
    for p in paused:
        await enqueue_many(
            recipient_ids=admins,
            kind="webhook.paused",
            payload={
                "subscriber_id": p["id"],
                "name": p["name"],
                "failures": p["consecutive_failures"],
                "error": errors.get(p["id"], "")[:200],
            },
            dedupe_key=f"webhook:{p['id']}:paused:{at.isoformat()}",
        )
    return ids


async def hold(subscriber_ids: list[int], at: datetime) -> None:
    """Keep a paused subscriber's waiting deliveries until it is resumed."""
    await (
        Notification.update({Notification.due_at: at + HOLD})
        .where(
            Notification.webhook.is_in(subscriber_ids)
            & (Notification.channel == "webhook")
            & (Notification.status == "pending")
        )
        .run()
    )


async def release(subscriber_id: int, at: datetime) -> None:
    """Send a resumed subscriber's held deliveries now."""
    await (
        Notification.update({Notification.due_at: at})
        .where(
            (Notification.webhook == subscriber_id)
            & (Notification.channel == "webhook")
            & (Notification.status == "pending")
            & (Notification.due_at > at)
        )
        .run()
    )


async def _admins(at: datetime) -> list[int]:
    day = at.astimezone(get_settings().zone).date()
    rows = (
        await Assignment.select(Assignment.account)
        .where((Assignment.duty == "admin") & on_duty(day))
        .run()
    )
    return sorted({r["account"] for r in rows})
