"""`grid-backend serve` processes for tests that need several replicas: started on a free
127.0.0.1 port, waited for until /readyz answers, always stopped (killed if need be), and a
reader of server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from grid_backend.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """End a process started by a test: SIGTERM, then SIGKILL if it is not gone in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """One running `grid-backend serve`; `log()` is what it wrote to stderr so far."""

    process: subprocess.Popen
    url: str
    errors: object = field(repr=False)
    final_log: str | None = None  # kept once the process ended and its log file is gone

    def log(self) -> str:
        if self.final_log is not None:
            return self.final_log
        self.errors.seek(0)  # type: ignore[attr-defined]
        return self.errors.read().decode(errors="replace")  # type: ignore[attr-defined]

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind, as when a machine or container dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@contextlib.asynccontextmanager
async def serve(env: dict[str, str], *, ready_within: float = 30.0) -> AsyncIterator[Server]:
    """`python -m grid_backend.cli serve` with `env` over this process's environment; stopped
    by SIGTERM at the end (SIGKILL after 10 s), whatever happened meanwhile."""
    port = free_port()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: ASYNC220 - quick to start; its log is read later
            [sys.executable, "-m", "grid_backend.cli", "serve", "--port", str(port)],
            env={**os.environ, "GRID_LOG_LEVEL": "WARNING", **env, "GRID_HOST": "127.0.0.1"},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        server = Server(process, f"http://127.0.0.1:{port}", errors)
        try:
            await _ready(server, ready_within)
            yield server
        finally:
            stop(process)
            server.final_log = server.log()


@contextlib.asynccontextmanager
async def serve_here(settings: Settings) -> AsyncIterator[str]:
    """The app with these settings served by uvicorn in this event loop (so it shares this
    process's database pool and live-event plugins); its base URL."""
    from grid_backend.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = create_app(settings, open_pool=False)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(30):
            while not server.started:  # noqa: ASYNC110 - uvicorn has no startup event
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _ready(server: Server, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with httpx.AsyncClient(base_url=server.url, timeout=1) as http:
        while loop.time() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"{server.url} exited at start:\n{server.log()}")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail(f"{server.url} was not ready within {within} s:\n{server.log()}")


class Events:
    """The server-sent events of one open /api/v1/events response, read in the background (so
    that waiting for an event with a timeout never cuts the response's line iterator)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._connected = asyncio.Event()
        self._queue: asyncio.Queue[dict] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        name = "message"
        try:
            async for line in self.response.aiter_lines():
                if line == ": connected":
                    self._connected.set()
                elif line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    self._queue.put_nowait({"event": name, **json.loads(line[len("data: ") :])})
                    name = "message"
        except (httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the server went away
        self._queue.put_nowait({"event": "end"})

    async def connected(self, wait: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), wait)

    async def next_event(self, wait: float = 5.0) -> dict | None:
        """The next event as {event, **data}; None if none comes within `wait` seconds, and
        {"event": "end"} once the response ended."""
        try:
            return await asyncio.wait_for(self._queue.get(), wait)
        except TimeoutError:
            return None

    async def aclose(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@contextlib.asynccontextmanager
async def events_of(http: httpx.AsyncClient, url: str, headers: dict) -> AsyncIterator[Events]:
    """An open, connected /api/v1/events stream of `url`."""
    async with http.stream("GET", f"{url}/api/v1/events", headers=headers) as response:
        assert response.status_code == 200
        stream = Events(response)
        try:
            await stream.connected()
            yield stream
        finally:
            await stream.aclose()
