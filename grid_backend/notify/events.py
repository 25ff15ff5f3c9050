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
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from grid_backend.infra import redispool
from grid_backend.notify.slots import SharedSlots
from grid_backend.settings import Settings, SettingsError

logger = logging.getLogger("grid_backend.notify")

_running: list[LiveEvents] = []


class LiveEvents(ChannelsPlugin):
    """The channels plugin, registered for `publish` while the app runs."""

    def __init__(
        self, *, prefix: str, closing: Any = None, slots: SharedSlots | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        self.prefix = prefix
        self._closing = closing  # the Redis client, closed after the backend at shutdown
        self.slots = slots  # streams per account counted in Redis, with GRID_REDIS_URL

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
        if self.slots is not None:
            await self.slots.drain()  # places being given back, before their pool is closed
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        finally:
            if self._closing is not None:
                # litestar closes its pub/sub connection only; the client's pool (publishing)
                # would otherwise be left to the garbage collector, with ResourceWarnings
                await self._closing.aclose()


def _redis_backend(url: str, client: Any = None) -> tuple[ChannelsBackend, Any]:
    """Litestar's Redis pub/sub backend made safe, and its client (`client`, or one on a
    bounded pool for `url`)."""
    try:
        from redis.asyncio import Redis

        from grid_backend.notify.redis_pubsub import RedisPubSub
    except ImportError:
        raise SettingsError(
            "GRID_REDIS_URL", "needs the redis package (pip install redis)"
        ) from None

    # no socket timeout: the subscription's connection waits for events as long as it takes
    redis = client if client is not None else Redis.from_pool(redispool.pool(url))
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
    slots = None
    if closing is not None:
        slots = SharedSlots(
            closing, prefix=settings.redis_prefix, slot_seconds=settings.events_slot_seconds
        )
    return LiveEvents(
        prefix=settings.redis_prefix,
        closing=closing,
        slots=slots,
        backend=backend,
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )


class StreamSlots:
    """The live-event streams open in this process, per account, oldest first: opening one more
    than the cap closes the oldest (a client that leaks connections loses its own oldest, never
    the server's file descriptors). With GRID_REDIS_URL the cap is counted across every process
    (notify/slots.py) and this list only finds a stream to close by its id; it caps again on its
    own while Redis cannot be reached."""

    def __init__(self) -> None:
        self._open: dict[int, dict[str, asyncio.Event]] = {}

    def open(self, account_id: int, limit: int | None, stream_id: str = "") -> asyncio.Event:
        """Register a new stream (no `limit`: only keep it); its event is set when it must
        close."""
        closing = asyncio.Event()
        streams = self._open.setdefault(account_id, {})
        streams[stream_id or str(id(closing))] = closing
        while limit is not None and len(streams) > limit:
            streams.pop(next(iter(streams))).set()
        return closing

    def close(self, account_id: int, closing: asyncio.Event) -> None:
        streams = self._open.get(account_id, {})
        for key in [k for k, v in streams.items() if v is closing]:
            del streams[key]
        if not streams:
            self._open.pop(account_id, None)

    def evict(self, account_id: int, stream_ids: Iterable[str]) -> None:
        """Close these streams if they run in this process."""
        streams = self._open.get(account_id, {})
        for stream_id in stream_ids:
            if stream_id in streams:
                streams[stream_id].set()

    def count(self, account_id: int) -> int:
        return len(self._open.get(account_id, {}))


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
