"""The push and SMS channels' way to the network: the asyncio backend of grid_backend/infra,
or httpcore's stock one, as GRID_NOTIFY_ASYNCIO_NETWORK says; for webhooks, either of them
behind PublicOnly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpcore

from grid_backend.infra.network import AsyncioBackend, AsyncioStream
from grid_backend.notify import addresses
from grid_backend.settings import Settings

__all__ = ["AsyncioBackend", "AsyncioStream", "PublicOnly", "backend"]


def backend(settings: Settings) -> httpcore.AsyncNetworkBackend | None:
    """The network backend for httpcore's pools; None lets httpcore choose its own."""
    return AsyncioBackend() if settings.notify_asyncio_network else None


class PublicOnly(httpcore.AsyncNetworkBackend):
    """Webhook connections: the host is resolved and checked here (notify/addresses) and the
    connection made to the very addresses checked, so a name that answers a public address to
    the check before the request and a private one to the connection (DNS rebinding) gets
    nowhere. TLS still checks the certificate against the name: httpcore starts it with the
    host it asked for."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                found = await addresses.connect_addresses(host)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out resolving {host}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in found:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # connect_addresses gives at least one address
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
