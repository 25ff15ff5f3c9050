"""Webhook subscribers, kept by admins (docs/webhooks.md): register, change, pause, resume,
delete, the delivery log, and a test event. Every change is audited (the secret never is)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC
from typing import Any

import msgspec
from piccolo.columns import Column
from piccolo.query.functions.aggregate import Count

from grid_backend.core import audit, clock
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import NotFound, invalid
from grid_backend.core.pagination import decode_cursor, encode_cursor
from grid_backend.notify import addresses
from grid_backend.notify.schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookPage,
    WebhookRead,
    WebhookTestQueued,
    WebhookUpdate,
)
from grid_backend.notify.services import webhooks
from grid_backend.notify.tables import DeliveryAttempt, Notification, WebhookSubscriber

W = WebhookSubscriber


def _kinds_text(kinds: list[str]) -> str:
    return "," + ",".join(sorted(set(kinds))) + ","


def _read(row: dict[str, Any], pending: int) -> WebhookRead:
    return WebhookRead(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        kinds=[k for k in row["kinds"].split(",") if k],
        active=bool(row["active"]),
        paused_reason=row["paused_reason"],
        consecutive_failures=row["consecutive_failures"],
        failing_since=row["failing_since"],
        last_success_at=row["last_success_at"],
        last_failure_at=row["last_failure_at"],
        pending=pending,
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_PUBLIC = tuple(c for c in W.all_columns() if c._meta.name != "secret")


async def _pending(ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = (
        await Notification.select(Notification.webhook, Count(alias="n"))
        .where(
            Notification.webhook.is_in(ids)
            & (Notification.channel == "webhook")
            & (Notification.status == "pending")
        )
        .group_by(Notification.webhook)
        .run()
    )
    return {r["webhook"]: r["n"] for r in rows}


async def _row(subscriber_id: int) -> dict[str, Any]:
    row = await W.select(*_PUBLIC).where(W.id == subscriber_id).first().run()
    if row is None:
        raise NotFound("webhook_not_found")
    return row


async def read_subscriber(*, subscriber_id: int) -> WebhookRead:
    """One subscriber, without its secret."""
    row = await _row(subscriber_id)
    return _read(row, (await _pending([subscriber_id])).get(subscriber_id, 0))


async def list_subscribers(*, limit: int, cursor: str | None) -> WebhookPage:
    """The subscribers, by id."""
    query = W.select(*_PUBLIC).order_by(W.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(W.id > after)
    rows = await query.run()
    more = len(rows) > limit
    rows = rows[:limit]
    pending = await _pending([r["id"] for r in rows])
    return WebhookPage(
        items=[_read(r, pending.get(r["id"], 0)) for r in rows],
        next_cursor=encode_cursor(rows[-1]["id"]) if more else None,
    )


async def _check_url(url: str) -> None:
    problem = addresses.url_problem(url) or await addresses.address_problem(url)
    if problem:
        raise invalid("url", problem, "webhook_url_invalid")


async def create_subscriber(*, data: WebhookCreate, account_id: int) -> WebhookCreated:
    """Register a subscriber; its secret is given back this once."""
    await _check_url(data.url)
    secret = data.secret or secrets.token_urlsafe(32)
    now = clock.now().astimezone(UTC)
    async with write_transaction():
        row = (
            await W.insert(
                W(
                    name=data.name.strip(),
                    url=data.url,
                    secret=secret,
                    kinds=_kinds_text(list(data.kinds)),
                    created_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(*_PUBLIC)
            .run()
        )[0]
        await audit.record(
            actor_id=account_id,
            action="webhook.create",
            object_type="webhook",
            object_id=row["id"],
            detail={"name": row["name"], "url": row["url"], "kinds": list(data.kinds)},
        )
    read = _read(row, 0)
    return WebhookCreated(**msgspec.structs.asdict(read), secret=secret)


async def update_subscriber(
    *, subscriber_id: int, data: WebhookUpdate, account_id: int
) -> WebhookRead:
    """Change a subscriber's name, URL, kinds or secret."""
    await _row(subscriber_id)
    changes: dict[Column | str, Any] = {}
    detail: dict[str, Any] = {}
    if data.name is not msgspec.UNSET:
        changes[W.name] = detail["name"] = data.name.strip()
    if data.url is not msgspec.UNSET:
        await _check_url(data.url)
        changes[W.url] = detail["url"] = data.url
    if data.kinds is not msgspec.UNSET:
        changes[W.kinds] = _kinds_text(list(data.kinds))
        detail["kinds"] = sorted(set(data.kinds))
    if data.secret is not msgspec.UNSET:
        changes[W.secret] = data.secret
        detail["secret"] = "changed"
    if changes:
        changes[W.updated_at] = clock.now().astimezone(UTC)
        async with write_transaction():
            await W.update(changes).where(W.id == subscriber_id).run()
            await audit.record(
                actor_id=account_id,
                action="webhook.update",
                object_type="webhook",
                object_id=subscriber_id,
                detail=detail,
            )
    return await read_subscriber(subscriber_id=subscriber_id)


async def pause_subscriber(*, subscriber_id: int, account_id: int) -> WebhookRead:
    """Stop sending: no new events are written for it, and those waiting are held."""
    await _row(subscriber_id)
    now = clock.now().astimezone(UTC)
    async with write_transaction():
        await (
            W.update({W.active: False, W.paused_reason: "admin", W.updated_at: now})
            .where((W.id == subscriber_id) & (W.active == True))  # noqa: E712
            .run()
        )
        await webhooks.hold([subscriber_id], now)
        await audit.record(
            actor_id=account_id,
            action="webhook.pause",
            object_type="webhook",
            object_id=subscriber_id,
        )
    return await read_subscriber(subscriber_id=subscriber_id)


async def resume_subscriber(*, subscriber_id: int, account_id: int) -> WebhookRead:
    """Send again, starting with the deliveries held while it was paused."""
    await _row(subscriber_id)
    now = clock.now().astimezone(UTC)
    async with write_transaction():
        await (
            W.update(
                {
                    W.active: True,
                    W.paused_reason: "",
                    W.consecutive_failures: 0,
                    W.failing_since: None,
                    W.updated_at: now,
                }
            )
            .where(W.id == subscriber_id)
            .run()
        )
        await webhooks.release(subscriber_id, now)
        await audit.record(
            actor_id=account_id,
            action="webhook.resume",
            object_type="webhook",
            object_id=subscriber_id,
        )
    return await read_subscriber(subscriber_id=subscriber_id)


async def delete_subscriber(*, subscriber_id: int, account_id: int) -> WebhookRead:
    """Remove a subscriber with its waiting deliveries and its log (the audit keeps the fact)."""
    read = await read_subscriber(subscriber_id=subscriber_id)
    async with write_transaction():
        await W.delete().where(W.id == subscriber_id).run()
        await audit.record(
            actor_id=account_id,
            action="webhook.delete",
            object_type="webhook",
            object_id=subscriber_id,
            detail={"name": read.name, "url": read.url},
        )
    return read


async def deliveries(*, subscriber_id: int, limit: int, cursor: str | None) -> WebhookDeliveryPage:
    """The subscriber's delivery attempts, newest first."""
    await _row(subscriber_id)
    A = DeliveryAttempt
    query = (
        A.select(
            A.id,
            A.notification,
            A.at,
            A.ok,
            A.status_code,
            A.error,
            A.duration_ms,
            A.notification.kind.as_alias("kind"),
            A.notification.status.as_alias("status"),
            A.notification.payload.as_alias("payload"),
        )
        .where(A.notification.webhook == subscriber_id)
        .order_by(A.id, ascending=False)
        .limit(limit + 1)
        .output(load_json=True)
    )
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(A.id < before)
    rows = await query.run()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        WebhookDelivery(
            id=r["id"],
            notification_id=r["notification"],
            event_id=str((r["payload"] or {}).get("id", "")),
            kind=r["kind"],
            at=r["at"],
            ok=bool(r["ok"]),
            status_code=r["status_code"],
            error=r["error"],
            duration_ms=r["duration_ms"],
            status=r["status"],
        )
        for r in rows
    ]
    return WebhookDeliveryPage(
        items=items, next_cursor=encode_cursor(rows[-1]["id"]) if more else None
    )


async def send_test(*, subscriber_id: int, account_id: int) -> WebhookTestQueued:
    """Queue a `webhook.test` event for this subscriber alone (sent by the next delivery
    run, even while it is paused: that is how an admin checks a repaired receiver)."""
    await _row(subscriber_id)
    key = f"test:{uuid.uuid4()}"
    async with write_transaction():
        notification_id = await webhooks.emit_to(
            subscriber_id=subscriber_id,
            kind="webhook.test",
            key=key,
            data={"subscriber_id": subscriber_id, "requested_by": account_id},
        )
        await audit.record(
            actor_id=account_id,
            action="webhook.test",
            object_type="webhook",
            object_id=subscriber_id,
        )
    return WebhookTestQueued(notification_id=notification_id, event_id=webhooks.event_id(key))
