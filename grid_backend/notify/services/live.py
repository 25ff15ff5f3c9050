"""Live events: the caller's server-sent event stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec
from litestar.response import ServerSentEventMessage

from grid_backend.notify import events
from grid_backend.settings import get_settings

HEARTBEAT_SECONDS = 15.0
STREAM_CLOSED_RETRY_MS = 10 * 60 * 1000  # a stream closed for a newer one: reconnect late


async def live_stream(
    *, plugin: events.LiveEvents, account_id: int
) -> AsyncIterator[ServerSentEventMessage]:
    """Server-sent events of the caller's own channel, with a comment every
    HEARTBEAT_SECONDS so proxies keep the connection open and clients notice a dead one. At most
    GRID_EVENTS_PER_ACCOUNT streams per account in this process: a new one closes the oldest,
    which gets `event: closed` and a long reconnection delay first."""
    closing = events.STREAMS.open(account_id, get_settings().events_per_account)
    try:
        async with plugin.start_subscription(plugin.channel_of(account_id)) as subscriber:
            yield ServerSentEventMessage(data=None, comment="connected", retry=5000)
            async with contextlib.aclosing(_follow(subscriber, closing)) as messages:
                async for message in messages:
                    yield message
    finally:
        events.STREAMS.close(account_id, closing)


async def _follow(
    subscriber: Any, closing: asyncio.Event
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
                # the browser's EventSource reconnects after `retry` ms: not soon, or the tabs
                # of one account would take turns closing each other
                yield ServerSentEventMessage(
                    data='{"reason":"too_many_streams"}',
                    event="closed",
                    retry=STREAM_CLOSED_RETRY_MS,
                )
                return
            if not done:
                yield ServerSentEventMessage(data=None, comment="heartbeat")
                continue
            try:
                data = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            try:
                name = str(msgspec.json.decode(data).get("type", "message"))
            except (msgspec.DecodeError, AttributeError):
                name = "message"
            yield ServerSentEventMessage(data=data.decode(), event=name)
    finally:
        closed.cancel()
        if pending is not None:
            pending.cancel()
