"""Litestar's Redis pub/sub backend for the live events (notify/events.py), made safe and
best effort."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.exceptions import RedisError

logger = logging.getLogger("grid_backend.notify")


RECONNECT_SECONDS = 1.0  # pause before listening, or subscribing, again after Redis failed


class RedisPubSub(RedisChannelsPubSubBackend):
    """Litestar's pub/sub backend, made safe for clients subscribing at once and best
    effort: in litestar a failed publish ends the plugin's publishing task (and then its
    shutdown waits forever for the queue), a dropped subscription ends its listening task
    for good, and a failed subscribe leaves the channel taken for subscribed (litestar
    registers its subscriber first), so that nobody on it heard anything again."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._subscribing = asyncio.Lock()
        self._owed: set[str] = set()  # channels whose subscribe failed, tried again
        self._retrying: asyncio.Task[None] | None = None

    async def subscribe(self, channels: Iterable[str]) -> None:
        # redis-py's PubSub takes its connection on first use without a lock: two clients
        # subscribing at once each took one, and the events of all but the last went to
        # connections nobody read
        async with self._subscribing:
            self._owed.update(channels)
            await self._pay_owed()
        if self._owed and (self._retrying is None or self._retrying.done()):
            self._retrying = asyncio.create_task(self._retry())

    async def _pay_owed(self) -> bool:
        """Subscribe to the channels owed (under the lock); False if Redis failed."""
        try:
            await super().subscribe(set(self._owed))
        except (RedisError, OSError) as exc:
            logger.warning("live events: subscribing in Redis failed, trying again: %r", exc)
            return False
        self._owed.clear()
        return True

    async def _retry(self) -> None:
        while self._owed:
            await asyncio.sleep(RECONNECT_SECONDS)
            async with self._subscribing:
                if self._owed and await self._pay_owed():
                    logger.warning("live events: subscribed in Redis again")

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        async with self._subscribing:
            wanted = set(channels) - self._owed
            self._owed.difference_update(channels)
            if not wanted:  # none: redis-py would unsubscribe from every channel
                return
            try:
                await super().unsubscribe(wanted)
            except (RedisError, OSError) as exc:  # redis-py drops it when it reconnects
                logger.warning("live events: unsubscribing in Redis failed: %r", exc)

    async def on_shutdown(self) -> None:
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
        await super().on_shutdown()

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
