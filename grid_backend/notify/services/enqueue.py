"""Enqueue: a notification's rows written in the caller's transaction, and live events published
once it commits."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

import msgspec

from grid_backend.core import clock
from grid_backend.core.db import engine, write_transaction
from grid_backend.notify import channels, events, kinds
from grid_backend.notify.services.preferences import Prefs, _prefs_of, quiet_until
from grid_backend.notify.tables import Notification

logger = logging.getLogger("grid_backend.notify")


async def enqueue(
    *,
    recipient_id: int,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str,
    urgent: bool = False,
    due_at: datetime | None = None,
    channels: Iterable[str] | None = None,
) -> list[int]:
    """Write the event's notifications in the caller's transaction; the ids of new rows.

    `dedupe_key` names the event for this recipient ("case:42:closed:account:7"): a second
    enqueue with the same key writes nothing. `urgent` (or an urgent kind) ignores quiet
    hours; `channels` narrows or widens the kind's push/SMS channels (the inbox is always
    written); `due_at` delays delivery (a reminder)."""
    rows = await _rows_for(
        recipient_ids=[recipient_id],
        kind=kind,
        payload=payload,
        dedupe_key=lambda _: dedupe_key,
        urgent=urgent,
        due_at=due_at,
        wanted=channels,
    )
    return await _insert(rows, check_reuse=True)


async def enqueue_many(
    *,
    recipient_ids: Iterable[int],
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str,
    urgent: bool = False,
    due_at: datetime | None = None,
    channels: Iterable[str] | None = None,
) -> list[int]:
    """`enqueue` for one event to many people (a callout): one preferences query and batched
    inserts; each recipient's key is `dedupe_key:account:{id}`."""
    ids = list(dict.fromkeys(recipient_ids))
    rows = await _rows_for(
        recipient_ids=ids,
        kind=kind,
        payload=payload,
        dedupe_key=lambda account: f"{dedupe_key}:account:{account}",
        urgent=urgent,
        due_at=due_at,
        wanted=channels,
    )
    return await _insert(rows)


async def _rows_for(
    *,
    recipient_ids: list[int],
    kind: str,
    payload: dict[str, Any],
    dedupe_key: Any,
    urgent: bool,
    due_at: datetime | None,
    wanted: Iterable[str] | None,
) -> list[Notification]:
    spec = kinds.kind_of(kind)
    urgent = urgent or spec.urgent
    requested = set(spec.channels if wanted is None else wanted) | {"inbox"}
    unknown = requested - set(kinds.CHANNELS)
    if unknown:
        raise ValueError(f"unknown notification channels {sorted(unknown)}")
    data = msgspec.to_builtins(payload)  # dates and the like become JSON values
    data.update(kinds.render(spec, data))
    now = clock.now().astimezone(UTC)
    due = now if due_at is None else due_at.astimezone(UTC)
    prefs = await _prefs_of(recipient_ids) if requested & {"push", "sms"} else {}
    live = {c: channels.enabled(c) for c in ("push", "sms")}
    rows = []
    for account in recipient_ids:
        key = dedupe_key(account)
        if len(key) > 200:
            raise ValueError("dedupe_key is longer than 200 characters")
        p = prefs.get(account, Prefs())
        for channel in kinds.CHANNELS:
            if channel not in requested:
                continue
            if channel != "inbox" and not (live[channel] and getattr(p, channel)):
                continue
            at = due
            if channel != "inbox" and not urgent:
                at = quiet_until(due, p) or due
            delivered = channel == "inbox" and due <= now  # the inbox needs no gateway
            rows.append(
                Notification(
                    recipient=account,
                    kind=kind,
                    channel=channel,
                    payload=data,
                    urgent=urgent,
                    dedupe_key=key,
                    status="sent" if delivered else "pending",
                    due_at=at,
                    created_at=now,
                    sent_at=now if delivered else None,
                )
            )
    return rows


async def _insert(rows: list[Notification], *, check_reuse: bool = False) -> list[int]:
    outer = engine().current_transaction.get()
    new: list[dict[str, Any]] = []
    async with write_transaction():
        for start in range(0, len(rows), 500):
            new += (
                await Notification.insert(*rows[start : start + 500])
                .on_conflict(
                    target=(Notification.dedupe_key, Notification.channel), action="DO NOTHING"
                )
                .returning(Notification.id, Notification.channel, Notification.dedupe_key)
                .run()
            )
    written = {(r["dedupe_key"], r["channel"]): r["id"] for r in new}
    if check_reuse and len(written) < len(rows):
        await _check_key_reuse([r for r in rows if (r.dedupe_key, r.channel) not in written])
    live = [
        # row.payload is still the dict given to Notification() (a JSON column types it str)
        (
            row.recipient,
            channels.inbox_event(written[key], row.kind, row.urgent, cast(Any, row.payload)),
        )
        for row in rows
        if row.status == "sent" and (key := (row.dedupe_key, row.channel)) in written
    ]
    if live:
        _publish_after_commit(outer, live)
    return [r["id"] for r in new]


async def _check_key_reuse(skipped: list[Notification]) -> None:
    """A key already used for someone else is a caller's bug that silently loses a
    notification: the key must name the recipient too. Say so loudly, but do not fail the
    caller's transaction over it."""
    keys = sorted({r.dedupe_key for r in skipped})
    rows = (
        await Notification.select(Notification.dedupe_key, Notification.recipient)
        .where(Notification.dedupe_key.is_in(keys))
        .run()
    )
    owners = {(r["dedupe_key"], r["recipient"]) for r in rows}
    for row in skipped:
        if (row.dedupe_key, row.recipient) not in owners:
            logger.error(
                "notification dedupe key %r is already used for another recipient; account %s"
                " was not notified (put the recipient in the key)",
                row.dedupe_key,
                row.recipient,
            )


# Live events must not announce a notification whose transaction may still roll back. Piccolo
# has no commit hook, so when enqueue joins an outer transaction, one task per transaction
# waits (in an empty context, outside it) until Piccolo marks it committed or rolled back.
_waiting: dict[int, tuple[Any, list[tuple[int, dict]]]] = {}
_watchers: set[asyncio.Task] = set()
WATCH_LIMIT_SECONDS = 600.0


def _publish_after_commit(outer: Any, live: list[tuple[int, dict]]) -> None:
    if outer is None:  # enqueue's own transaction, already committed
        for account, event in live:
            events.publish([account], event)
        return
    entry = _waiting.get(id(outer))
    if entry is None or entry[0] is not outer:
        entry = (outer, [])
        _waiting[id(outer)] = entry
        task = asyncio.get_running_loop().create_task(
            _when_committed(outer, entry[1]), context=contextvars.Context()
        )
        _watchers.add(task)
        task.add_done_callback(_watchers.discard)
    entry[1].extend(live)


async def _when_committed(transaction: Any, live: list[tuple[int, dict]]) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + WATCH_LIMIT_SECONDS
    delay = 0.002
    try:
        while loop.time() < give_up:
            await asyncio.sleep(delay)
            if getattr(transaction, "_committed", False):
                for account, event in live:
                    events.publish([account], event)
                return
            if getattr(transaction, "_rolled_back", False):
                return
            delay = min(delay * 2, 0.25)
    finally:
        if _waiting.get(id(transaction), (None,))[0] is transaction:
            del _waiting[id(transaction)]


def publish(account_ids: Iterable[int], event: dict[str, Any]) -> bool:
    """Send a live event to the accounts' own channels (best effort, in-process or Redis)."""
    return events.publish(account_ids, event)
