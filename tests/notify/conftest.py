"""A real webhook receiver on 127.0.0.1 that checks signatures and can be told to fail."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from grid_backend.core import clock
from grid_backend.notify import channels
from grid_backend.settings import get_settings

SECRET = "receiver-secret-0123456789"
TIMEOUT = 0.3  # the client's timeout in these tests; "slow" answers take longer


@dataclass
class Hit:
    path: str
    notification_id: int
    signed: bool  # the signature matched the body and timestamp
    body: dict


@dataclass
class Receiver:
    """Answers each POST with `answer(hit)`: a status code, or "slow" to hang past the
    client's timeout and drop the request. Counts every request and every one it accepted
    (answered 2xx) per id."""

    secret: str = SECRET
    answer: Callable[[Hit], int | str] = lambda hit: 200
    delay: float = 0.0  # added before every answer, to keep requests in flight
    hits: list[Hit] = field(default_factory=list)
    accepted: Counter = field(default_factory=Counter)
    port: int = 0
    _tasks: set = field(default_factory=set)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for_hits(self, count: int) -> None:
        while len(self.hits) < count:
            self._arrived.clear()
            await self._arrived.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen(self) -> Counter:
        return Counter(h.notification_id for h in self.hits)

    def _verify(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("x-grid-timestamp", "")
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(headers.get("x-grid-signature", ""), "sha256=" + expected)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                hit = Hit(
                    path,
                    int(headers.get("x-grid-notification-id", "0")),
                    self._verify(headers, body),
                    json.loads(body or b"{}"),
                )
                self.hits.append(hit)
                self._arrived.set()
                answer = self.answer(hit) if hit.signed else 401
                if self.delay:
                    await asyncio.sleep(self.delay)
                if answer == "slow":  # hangs past the client's timeout, then drops the request
                    await asyncio.sleep(TIMEOUT * 4)
                    return
                if 200 <= int(answer) < 300:
                    self.accepted[hit.notification_id] += 1
                text = b"{}" if int(answer) < 300 else b"failed on purpose"
                writer.write(
                    f"HTTP/1.1 {answer} X\r\nContent-Length: {len(text)}\r\n\r\n".encode() + text
                )
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()
            self._tasks.discard(asyncio.current_task())


@pytest.fixture
async def receiver(db, monkeypatch):
    """The receiver, with push and SMS pointed at it and a short client timeout."""
    hook = Receiver()
    server = await asyncio.start_server(hook._handle, "127.0.0.1", 0)
    hook.port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("GRID_PUSH_WEBHOOK_URL", f"{hook.url}/push")
    monkeypatch.setenv("GRID_PUSH_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("GRID_SMS_GATEWAY_URL", f"{hook.url}/sms")
    monkeypatch.setenv("GRID_NOTIFY_TIMEOUT_SECONDS", str(TIMEOUT))
    get_settings.cache_clear()
    await channels.close_client()  # the next delivery opens one with these settings
    yield hook
    await channels.close_client()
    server.close()
    pending = list(hook._tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await server.wait_closed()
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
async def patient(receiver, monkeypatch):
    """The receiver with a client timeout long enough for a busy machine, for tests that are
    not about timeouts: a request that times out after the receiver took it is sent again."""
    monkeypatch.setenv("GRID_NOTIFY_TIMEOUT_SECONDS", "10")
    get_settings.cache_clear()
    await channels.close_client()
    return receiver


class Clock:
    """The test clock: starts at `start` and moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        clock.set_clock(lambda: self.now)

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


# 10:00 in Shanghai on a weekday
NOW = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def test_clock(db) -> Clock:
    return Clock(NOW)
