"""Live events: Litestar's channels plugin, one channel per account (`{prefix}:account:{id}`).

In-process by default (one server process); with GRID_REDIS_URL every replica publishes and
subscribes through Redis pub/sub, so an event raised on one replica reaches a client connected
to another. Redis pub/sub ignores the database number, so deployments sharing one Redis keep
apart by GRID_REDIS_PREFIX. Publishing is best effort: the inbox in the database is the record,
a live event only tells an open app to refresh sooner; a Redis outage loses events and logs a
warning, it never fails a request or stops the server. A process without a running plugin (the
standalone `grid-backend scheduler`, a CLI command) publishes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterable
from types import TracebackType
from typing import Any

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from grid_backend.settings import Settings, SettingsError

logger = logging.getLogger("grid_backend.notify")

_running: list[LiveEvents] = []

RECONNECT_SECONDS = 1.0  # pause before listening again after Redis went away


class LiveEvents(ChannelsPlugin):
    """The channels plugin, registered for `publish` while the app runs."""

    def __init__(self, *, prefix: str, closing: Any = None, **options: Any) -> None:
        super().__init__(**options)
        self.prefix = prefix
        self._closing = closing  # the Redis client, closed after the backend at shutdown

    def channel_of(self, account_id: int) -> str:
        return f"{self.prefix}:account:{account_id}"

    async def __aenter__(self) -> LiveEvents:
        await super().__aenter__()
        _running.append(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self in _running:
            _running.remove(self)
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        finally:
            if self._closing is not None:
                # litestar closes its pub/sub connection only; the client's pool (publishing)
                # would otherwise be left to the garbage collector, with ResourceWarnings
                await self._closing.aclose()


def _redis_backend(url: str) -> tuple[ChannelsBackend, Any]:
    try:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError
    except ImportError:
        raise SettingsError(
            "GRID_REDIS_URL", "needs the redis package (pip install redis)"
        ) from None
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend

    class RedisPubSub(RedisChannelsPubSubBackend):
        """Litestar's pub/sub backend, made safe for clients subscribing at once and best
        effort: in litestar a failed publish ends the plugin's publishing task (and then its
        shutdown waits forever for the queue), and a dropped subscription ends its listening
        task for good."""

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self._subscribing = asyncio.Lock()

        async def subscribe(self, channels: Iterable[str]) -> None:
            # redis-py's PubSub takes its connection on first use without a lock: two clients
            # subscribing at once each took one, and the events of all but the last went to
            # connections nobody read
            async with self._subscribing:
                await super().subscribe(channels)

        async def unsubscribe(self, channels: Iterable[str]) -> None:
            async with self._subscribing:
                await super().unsubscribe(channels)

        async def publish(self, data: bytes, channels: Iterable[str]) -> None:
            try:
                await super().publish(data, channels)
            except (RedisError, OSError) as exc:
                logger.warning("live event not published to Redis: %s", exc)

        async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
            while True:
                try:
                    async for event in super().stream_events():
                        yield event
                except (RedisError, OSError) as exc:
                    # redis-py subscribes again to every channel when it reconnects
                    logger.warning("live events from Redis interrupted: %s", exc)
                    await asyncio.sleep(RECONNECT_SECONDS)

    redis = Redis.from_url(url)
    return RedisPubSub(redis=redis), redis


def backend_for(settings: Settings) -> ChannelsBackend:
    """The in-process backend, or Redis pub/sub with GRID_REDIS_URL."""
    if not settings.redis_url:
        return MemoryChannelsBackend()
    return _redis_backend(settings.redis_url)[0]


def plugin(settings: Settings) -> LiveEvents:
    """The plugin for create_app: arbitrary account channels, a bounded backlog per
    connection (a stalled client loses its oldest events, never the server's memory)."""
    backend, closing = (
        _redis_backend(settings.redis_url)
        if settings.redis_url
        else (MemoryChannelsBackend(), None)
    )
    return LiveEvents(
        prefix=settings.redis_prefix,
        closing=closing,
        backend=backend,
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )


class StreamSlots:
    """The live-event streams open in this process, per account, oldest first: opening one more
    than the cap closes the oldest (a client that leaks connections loses its own oldest, never
    the server's file descriptors). Per process: each replica caps on its own."""

    def __init__(self) -> None:
        self._open: dict[int, list[asyncio.Event]] = {}

    def open(self, account_id: int, limit: int) -> asyncio.Event:
        """Register a new stream; its event is set when it must close."""
        closing = asyncio.Event()
        streams = self._open.setdefault(account_id, [])
        streams.append(closing)
        while len(streams) > limit:
            streams.pop(0).set()
        return closing

    def close(self, account_id: int, closing: asyncio.Event) -> None:
        streams = self._open.get(account_id, [])
        if closing in streams:
            streams.remove(closing)
        if not streams:
            self._open.pop(account_id, None)

    def count(self, account_id: int) -> int:
        return len(self._open.get(account_id, []))


STREAMS = StreamSlots()


def can_publish() -> bool:
    """Whether an app runs in this process to publish live events (not in a CLI command)."""
    return bool(_running)


def publish(account_ids: Iterable[int], event: dict[str, Any]) -> bool:
    """Send an event to the accounts' channels; False when no app runs in this process."""
    ids = list(account_ids)
    if not ids or not _running:
        return False
    try:
        data = msgspec.json.encode(event)
        for live in _running:
            live.publish(data, [live.channel_of(a) for a in ids])
    except Exception:  # best effort: never fail the caller over a live event
        logger.warning("live event not published", exc_info=True)
        return False
    return True
