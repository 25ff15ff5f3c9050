"""The push and SMS channels' way to the network: the asyncio backend of grid_backend/infra,
or httpcore's stock one, as GRID_NOTIFY_ASYNCIO_NETWORK says."""

from __future__ import annotations

import httpcore

from grid_backend.infra.network import AsyncioBackend, AsyncioStream
from grid_backend.settings import Settings

__all__ = ["AsyncioBackend", "AsyncioStream", "backend"]


def backend(settings: Settings) -> httpcore.AsyncNetworkBackend | None:
    """The network backend for httpcore's pools; None lets httpcore choose its own."""
    return AsyncioBackend() if settings.notify_asyncio_network else None
