"""What grid_backend/infra/network.py relies on inside httpcore, checked against the pinned
version. A failure here after an upgrade means: read httpcore's new network backend
interface, adapt infra/network.py (or run with GRID_NOTIFY_ASYNCIO_NETWORK=false until then),
and update CHECKED_AGAINST."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpcore
import pytest

from grid_backend.infra.network import AsyncioBackend, AsyncioStream
from grid_backend.notify import network
from grid_backend.settings import get_settings

CHECKED_AGAINST = "1.0.9"


def test_the_pinned_httpcore_is_the_one_checked():
    assert httpcore.__version__ == CHECKED_AGAINST, (
        f"httpcore {httpcore.__version__}: re-check grid_backend/infra/network.py against it"
    )


def _methods(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if callable(v) and not n.startswith("__")}


def _signature(function: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_the_interface_implemented_is_httpcores_whole_interface():
    assert _methods(httpcore.AsyncNetworkStream) == {
        "read",
        "write",
        "aclose",
        "start_tls",
        "get_extra_info",
    }
    # connect_unix_socket is left to the base class (NotImplementedError): no unix sockets
    assert _methods(httpcore.AsyncNetworkBackend) == {"connect_tcp", "connect_unix_socket", "sleep"}
    assert issubclass(AsyncioStream, httpcore.AsyncNetworkStream)
    assert issubclass(AsyncioBackend, httpcore.AsyncNetworkBackend)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (AsyncioStream, httpcore.AsyncNetworkStream),
        (AsyncioBackend, httpcore.AsyncNetworkBackend),
    ],
)
def test_every_method_has_httpcores_signature(ours: type, theirs: type):
    for name in _methods(ours) & _methods(theirs):
        assert _signature(getattr(ours, name)) == _signature(getattr(theirs, name)), name
        assert inspect.iscoroutinefunction(getattr(ours, name)) == inspect.iscoroutinefunction(
            getattr(theirs, name)
        ), name


def test_httpcore_asks_only_for_the_extra_info_answered():
    source = Path(httpcore.__file__).parent
    asked = {
        key
        for path in source.rglob("*.py")
        for key in re.findall(r"get_extra_info\(\s*[\"'](\w+)[\"']", path.read_text())
    }
    answered = {"is_readable", "ssl_object", "client_addr", "server_addr", "socket"}
    assert asked, "httpcore no longer calls get_extra_info with a literal key"
    assert asked <= answered


def test_the_errors_raised_are_the_ones_the_channels_catch():
    assert issubclass(httpcore.ReadTimeout, httpcore.TimeoutException)
    assert issubclass(httpcore.WriteTimeout, httpcore.TimeoutException)
    assert issubclass(httpcore.ConnectTimeout, httpcore.TimeoutException)
    assert issubclass(httpcore.ReadError, httpcore.NetworkError)
    assert issubclass(httpcore.WriteError, httpcore.NetworkError)
    assert issubclass(httpcore.ConnectError, httpcore.NetworkError)


def test_the_pool_takes_a_network_backend():
    parameters = inspect.signature(httpcore.AsyncConnectionPool).parameters
    assert parameters["network_backend"].default is None


class _Counting(AsyncioBackend):
    def __init__(self) -> None:
        self.connects = 0

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.connects += 1
        return await super().connect_tcp(*args, **kwargs)


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()


async def test_the_pool_reaches_the_network_through_the_backend_and_keeps_it_alive(server):
    backend = _Counting()
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        for _ in range(3):
            response = await pool.request("POST", f"http://127.0.0.1:{server}/", content=b"{}")
            assert (response.status, response.content) == (200, b"ok")
    assert backend.connects == 1  # one connection, kept alive between requests


@pytest.mark.parametrize("own", [True, False])
async def test_the_setting_chooses_the_backend_and_both_work(server, own: bool):
    settings = dataclasses.replace(get_settings(), notify_asyncio_network=own)
    backend = network.backend(settings)
    assert isinstance(backend, AsyncioBackend) if own else backend is None
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        response = await pool.request("POST", f"http://127.0.0.1:{server}/", content=b"{}")
        assert (response.status, response.content) == (200, b"ok")
