"""Live events: the caller's server-sent event stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec
from litestar.response import ServerSentEventMessage

from grid_backend.notify import events
from grid_backend.people import closed as closed_accounts
from grid_backend.settings import get_settings

logger = logging.getLogger("grid_backend.notify")

HEARTBEAT_SECONDS = 15.0
REDIS_SECONDS = 2.0  # longest wait for Redis when a stream opens, refreshes or closes
CLOSE_EVENT = "_streams.close"  # on an account's channel: close these of its streams
STREAM_CLOSED_RETRY_MS = 10 * 60 * 1000  # a stream closed for a newer one: reconnect late


async def live_stream(
    *, plugin: events.LiveEvents, account_id: int
) -> AsyncIterator[ServerSentEventMessage]:
    """Server-sent events of the caller's own channel, with a comment every
    HEARTBEAT_SECONDS so proxies keep the connection open and clients notice a dead one. At most
    GRID_EVENTS_PER_ACCOUNT streams per account (in all processes with GRID_REDIS_URL, else in
    this one): a new one closes the oldest, which gets `event: closed` and a long reconnection
    delay first."""
    stream_id = uuid.uuid4().hex
    limit = get_settings().events_per_account
    member = await _take_place(plugin, account_id, stream_id, limit)
    closing = events.STREAMS.open(account_id, None if member else limit, stream_id)
    keeping = None
    if member and plugin.slots is not None:
        keeping = asyncio.create_task(_keep_place(plugin, account_id, member, closing))
        plugin.slots.keep(keeping)
    try:
        async with plugin.start_subscription(plugin.channel_of(account_id)) as subscriber:
            yield ServerSentEventMessage(data=None, comment="connected", retry=5000)
            async with contextlib.aclosing(
                _follow(subscriber, closing, stream_id, account_id)
            ) as messages:
                async for message in messages:
                    yield message
    finally:
        events.STREAMS.close(account_id, closing)
        if keeping is not None:
            keeping.cancel()
            await _give_place(plugin, account_id, member)


async def _take_place(
    plugin: events.LiveEvents, account_id: int, stream_id: str, limit: int
) -> str:
    """The stream's place in the shared count (its member), closing the streams it displaced
    wherever they run; "" without Redis, or when Redis fails (then this process counts alone)."""
    if plugin.slots is None:
        return ""
    try:
        async with asyncio.timeout(REDIS_SECONDS):
            member, evicted = await plugin.slots.open(account_id, stream_id, limit)
    except Exception as exc:  # the Redis client's errors, or the timeout: never fail the stream
        logger.warning("stream count in Redis unavailable, counting in this process: %r", exc)
        return ""
    if evicted:
        events.STREAMS.evict(account_id, evicted)  # those in this process at once
        events.publish([account_id], {"type": CLOSE_EVENT, "streams": evicted})
    return member


async def _keep_place(
    plugin: events.LiveEvents, account_id: int, member: str, closing: asyncio.Event
) -> None:
    """Refresh the stream's place every third of its lapse; close the stream once a newer one
    took it (and the message saying so went astray)."""
    assert plugin.slots is not None
    every = plugin.slots.slot_ms / 3000
    while True:
        await asyncio.sleep(every)
        try:
            async with asyncio.timeout(REDIS_SECONDS):
                held = await plugin.slots.refresh(account_id, member)
        except Exception as exc:  # Redis away: the stream stays open, its place may lapse
            logger.warning("live-event stream place not refreshed in Redis: %r", exc)
            continue
        if not held:
            closing.set()
            return


async def _give_place(plugin: events.LiveEvents, account_id: int, member: str) -> None:
    assert plugin.slots is not None
    try:
        async with asyncio.timeout(REDIS_SECONDS):
            await plugin.slots.close(account_id, member)  # carried on if this is cancelled
    except Exception as exc:  # it lapses by itself
        logger.warning("live-event stream place not given back in Redis: %r", exc)


def _closed(reason: str) -> ServerSentEventMessage:
    """The last message of a stream the server closes; the browser's EventSource reconnects
    after `retry` ms: not soon, or the tabs of one account would take turns closing each other
    (and a closed account's reconnection is refused anyway)."""
    return ServerSentEventMessage(
        data=msgspec.json.encode({"reason": reason}).decode(),
        event="closed",
        retry=STREAM_CLOSED_RETRY_MS,
    )


async def _follow(
    subscriber: Any, closing: asyncio.Event, stream_id: str, account_id: int
) -> AsyncGenerator[ServerSentEventMessage, None]:
    stream = subscriber.iter_events()

    async def following() -> bytes:
        return await stream.__anext__()

    pending: asyncio.Task[bytes] | None = None
    closed = asyncio.create_task(closing.wait())
    try:
        while True:
            if pending is None:
                pending = asyncio.create_task(following())
            done, _ = await asyncio.wait(
                {pending, closed}, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if closed in done:
                yield _closed("too_many_streams")
                return
            if not done:
                # the account deleted or deactivated since the stream opened: its tokens are
                # refused already, and so is this stream now (within a heartbeat)
                if await closed_accounts.is_closed(account_id):
                    yield _closed("account_closed")
                    return
                yield ServerSentEventMessage(data=None, comment="heartbeat")
                continue
            try:
                data = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            try:
                decoded = msgspec.json.decode(data)
                name = str(decoded.get("type", "message"))
            except (msgspec.DecodeError, AttributeError):
                name = "message"
            if name == CLOSE_EVENT:  # for the server: which streams of the account must close
                if stream_id in decoded.get("streams", ()):
                    closing.set()
                continue
            yield ServerSentEventMessage(data=data.decode(), event=name)
    finally:
        closed.cancel()
        if pending is not None:
            pending.cancel()
