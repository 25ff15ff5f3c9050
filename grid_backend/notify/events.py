"""Live events: Litestar's channels plugin, one channel per account (`account:{id}`).

In-process by default (one server process); with GRID_REDIS_URL every replica publishes and
subscribes through Redis pub/sub, so an event raised on one replica reaches a client connected
to another. Publishing is best effort: the inbox in the database is the record, a live event
only tells an open app to refresh sooner. A process without a running plugin (the standalone
`grid-backend scheduler`, a CLI command) publishes nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from grid_backend.settings import Settings, SettingsError

logger = logging.getLogger("grid_backend.notify")

_running: list[LiveEvents] = []


class LiveEvents(ChannelsPlugin):
    """The channels plugin, registered for `publish` while the app runs."""

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
        await super().__aexit__(exc_type, exc_val, exc_tb)


def backend_for(settings: Settings) -> ChannelsBackend:
    if not settings.redis_url:
        return MemoryChannelsBackend()
    try:
        from redis.asyncio import Redis
    except ImportError:
        raise SettingsError(
            "GRID_REDIS_URL", "needs the redis package (pip install redis)"
        ) from None
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend

    return RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis_url))


def plugin(settings: Settings) -> LiveEvents:
    """The plugin for create_app: arbitrary `account:{id}` channels, a bounded backlog per
    connection (a stalled client loses its oldest events, never the server's memory)."""
    return LiveEvents(
        backend=backend_for(settings),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
    )


def channel_of(account_id: int) -> str:
    return f"account:{account_id}"


def publish(account_ids: Iterable[int], event: dict[str, Any]) -> bool:
    """Send an event to the accounts' channels; False when no app runs in this process."""
    names = [channel_of(a) for a in account_ids]
    if not names or not _running:
        return False
    try:
        data = msgspec.json.encode(event)
        for live in _running:
            live.publish(data, names)
    except Exception:  # best effort: never fail the caller over a live event
        logger.warning("live event not published", exc_info=True)
        return False
    return True
