"""Redis connection pools: bounded, and a caller waits its turn for a connection instead of
failing. redis-py's default pool refuses the 101st connection at once (MaxConnectionsError):
a few hundred phones opening the live-event stream together each took one for their place in
the count, and the subscriptions behind them found none. A pool of POOL_SIZE connections
queues the calls (each is a fraction of a millisecond), and a call that still finds none
after WAIT_SECONDS fails as a Redis outage does, which every caller already handles."""

from __future__ import annotations

from typing import Any

POOL_SIZE = 32  # per process and per use: commands are short, a few connections go far
WAIT_SECONDS = 2.0  # longest wait for a free connection
CONNECT_SECONDS = 2.0


def pool(url: str, *, size: int = POOL_SIZE, wait: float = WAIT_SECONDS, **options: Any) -> Any:
    """A blocking pool for `url`; `options` go to the connections (a socket timeout, say)."""
    from redis.asyncio import BlockingConnectionPool

    return BlockingConnectionPool.from_url(
        url,
        max_connections=size,
        timeout=wait,
        socket_connect_timeout=CONNECT_SECONDS,
        **options,
    )
