"""Rate-limit counters shared by every replica: the `limits` library's moving windows, kept in
Redis when GRID_REDIS_URL is set (keys under `GRID_REDIS_PREFIX:limits`) and in this process's
memory otherwise (right for one server process only).

A Redis that cannot be reached does not lock anybody out and does not switch the limits off:
the counters fall back to this process's memory until Redis answers again, with a warning."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from grid_backend.infra import redispool
from grid_backend.settings import Settings, get_settings

logger = logging.getLogger("grid_backend.throttle")


def window(amount: int, seconds: int) -> RateLimitItem:
    """`amount` events per `seconds`, counted over a moving window."""
    return RateLimitItemPerSecond(amount, seconds)


@dataclass(frozen=True, slots=True)
class Stats:
    count: int  # events in the window now
    retry_after: int  # whole seconds until one more fits; 0 if one fits now


def _storage_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class Throttle:
    """Moving-window counters keyed by strings (a phone, an address, both)."""

    def __init__(self, settings: Settings) -> None:
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._pool: Any = None
        self.backend = "memory"
        if settings.redis_url:
            # our own pool, so that shutdown can close it (limits has no close)
            self._pool = redispool.pool(settings.redis_url, socket_timeout=2)
            storage: Storage = RedisStorage(
                _storage_uri(settings.redis_url),
                implementation="redispy",
                key_prefix=f"{settings.redis_prefix}:limits",
                connection_pool=self._pool,
            )
            self._shared = MovingWindowRateLimiter(storage)
            self.backend = "redis"

    async def aclose(self) -> None:
        """Close the Redis connections (app shutdown); memory needs nothing."""
        if self._pool is not None:
            await self._pool.aclose()

    async def _call(self, method: str, *args: Any) -> Any:
        if self._shared is not None:
            try:
                return await getattr(self._shared, method)(*args)
            except Exception as exc:  # the Redis client's errors: connection, timeout, protocol
                logger.warning("rate-limit storage unreachable, counting in memory: %r", exc)
        return await getattr(self._memory, method)(*args)

    async def hit(self, item: RateLimitItem, *key: str) -> bool:
        """Count one event; False if the window was already full (then nothing is counted)."""
        return bool(await self._call("hit", item, *key))

    async def stats(self, item: RateLimitItem, *key: str) -> Stats:
        """How many events the window holds, and how long until one more fits."""
        found = await self._call("get_window_stats", item, *key)
        count = item.amount - found.remaining
        wait = 0
        if found.remaining <= 0:
            wait = max(1, math.ceil(found.reset_time - time.time()))
        return Stats(count=count, retry_after=wait)

    async def clear(self, item: RateLimitItem, *key: str) -> None:
        await self._call("clear", item, *key)


_throttle: Throttle | None = None


def get_throttle() -> Throttle:
    """This process's counters, with the storage the settings name."""
    global _throttle
    if _throttle is None:
        _throttle = Throttle(get_settings())
    return _throttle


async def close_throttle() -> None:
    """The app's shutdown hook: close this process's Redis connections, if any."""
    global _throttle
    current, _throttle = _throttle, None
    if current is not None:
        await current.aclose()


def reset_throttle(throttle: Throttle | None = None) -> None:
    """Forget the counters (tests), or use the given ones."""
    global _throttle
    _throttle = throttle
