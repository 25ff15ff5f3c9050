"""Live events: each account hears only its own channel, and only after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import socket

import httpx
import pytest
import uvicorn
from factories import PASSWORD, make_person

from grid_backend.core.db import write_transaction
from grid_backend.notify import events, services
from grid_backend.settings import SettingsError, get_settings


@pytest.fixture
async def live(app, db):
    """The app's channels plugin, started as the app's lifespan would."""
    plugin = app.plugins.get(events.LiveEvents)
    async with plugin:
        yield plugin


class Listener:
    """Reads one account's event stream; `next()` waits for one message at most `wait` s."""

    def __init__(self, plugin, account_id: int) -> None:
        self.stream = services.live_stream(plugin=plugin, account_id=account_id)
        self.pending: asyncio.Task | None = None

    async def next(self, wait: float = 2.0):
        if self.pending is None:
            self.pending = asyncio.ensure_future(anext(self.stream))
        done, _ = await asyncio.wait({self.pending}, timeout=wait)
        if not done:
            return None  # keep waiting for the same message next time
        message, self.pending = self.pending.result(), None
        return message

    async def close(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            await asyncio.gather(self.pending, return_exceptions=True)
        await self.stream.aclose()


def _event(message) -> dict:
    import json

    return {"event": message.event, **json.loads(message.data)}


async def test_an_account_hears_its_own_notifications_only(live, test_clock):
    alice, bob = await make_person(), await make_person()
    listener = Listener(live, alice.id)
    try:
        hello = await listener.next()
        assert hello.comment == "connected"
        await services.enqueue(
            recipient_id=bob.id,
            kind="case.assigned",
            payload={"case_id": 2},
            dedupe_key="case:2:assigned:bob",
        )
        assert await listener.next(wait=0.2) is None  # Bob's event is not on Alice's channel
        [inbox_id, _] = await services.enqueue(
            recipient_id=alice.id,
            kind="case.assigned",
            payload={"case_id": 1},
            dedupe_key="case:1:assigned:alice",
        )
        event = _event(await listener.next())
        assert event["event"] == "notification"
        assert event["id"] == inbox_id and event["kind"] == "case.assigned"
        assert event["title_zh"] == "新的交办案件"
        services.publish([alice.id], {"type": "inbox.read_all"})
        assert _event(await listener.next())["event"] == "inbox.read_all"
    finally:
        await listener.close()


async def test_events_wait_for_the_commit_and_a_rollback_sends_none(live, test_clock):
    alice = await make_person()
    listener = Listener(live, alice.id)
    try:
        assert (await listener.next()).comment == "connected"

        async def enqueue_and_fail() -> None:
            async with write_transaction():
                await services.enqueue(
                    recipient_id=alice.id,
                    kind="case.assigned",
                    payload={"case_id": 1},
                    dedupe_key="rolled-back",
                )
                raise LookupError("the event fails after enqueueing")

        with pytest.raises(LookupError):
            await enqueue_and_fail()
        async with write_transaction():
            [inbox_id, _] = await services.enqueue(
                recipient_id=alice.id,
                kind="case.assigned",
                payload={"case_id": 2},
                dedupe_key="committed",
            )
            assert await listener.next(wait=0.2) is None  # not before the commit
        event = _event(await listener.next())
        assert event["id"] == inbox_id  # the rolled-back one never came
        assert await listener.next(wait=0.2) is None
    finally:
        await listener.close()


async def test_a_quiet_stream_sends_heartbeats(live, db, monkeypatch):
    monkeypatch.setattr("grid_backend.notify.services.live.HEARTBEAT_SECONDS", 0.05)
    listener = Listener(live, 1)
    try:
        assert (await listener.next()).comment == "connected"
        assert (await listener.next()).comment == "heartbeat"
        services.publish([1], {"type": "ping"})
        assert _event(await listener.next())["event"] == "ping"
    finally:
        await listener.close()


async def test_publish_without_a_running_app_is_a_no_op(db):
    assert services.publish([1], {"type": "x"}) is False


def test_redis_url_selects_the_redis_pubsub_backend():
    settings = dataclasses.replace(get_settings(), redis_url="redis://127.0.0.1:6379/0")
    if importlib.util.find_spec("redis") is None:
        with pytest.raises(SettingsError, match="redis package"):
            events.backend_for(settings)
    else:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend

        assert isinstance(events.backend_for(settings), RedisChannelsPubSubBackend)
    assert type(events.backend_for(get_settings())).__name__ == "MemoryChannelsBackend"


async def test_events_need_a_token(client):
    r = await client.get("/api/v1/events")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"


@pytest.fixture
async def served(db):
    """The whole app on a real socket (uvicorn, in this event loop)."""
    from grid_backend.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(open_pool=False),
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn has no startup event to wait on
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    sock.close()


async def _lines(stream, until: str, wait: float = 5.0) -> list[str]:
    """Lines of an SSE stream (an aiter_lines() iterator) up to one starting with `until`."""
    lines = []

    async def read() -> None:
        async for line in stream:
            lines.append(line)
            if line.startswith(until):
                return

    await asyncio.wait_for(read(), wait)
    return lines


async def test_server_sent_events_over_a_real_socket(served, test_clock):
    alice, bob = await make_person(), await make_person()
    async with (
        httpx.AsyncClient(base_url=served, timeout=5) as http,
        http.stream("GET", "/api/v1/events", headers=alice.headers) as a,
        http.stream("GET", "/api/v1/events", headers=bob.headers) as b,
    ):
        assert a.status_code == 200
        assert a.headers["content-type"].startswith("text/event-stream")
        assert a.headers["cache-control"] == "no-cache"
        a_lines, b_lines = a.aiter_lines(), b.aiter_lines()
        assert ": connected" in await _lines(a_lines, ": connected")
        assert ": connected" in await _lines(b_lines, ": connected")
        [inbox_id] = await services.enqueue(
            recipient_id=alice.id,
            kind="points.awarded",
            payload={"delta": 1, "reason_zh": "上报", "reason_en": "report"},
            dedupe_key="points:1",
        )
        got = await _lines(a_lines, "data:")
        assert "event: notification" in got
        assert f'"id":{inbox_id}' in got[-1]
        services.publish([bob.id], {"type": "marker"})
        got = await _lines(b_lines, "data:")
        assert "event: marker" in got
        assert not any("notification" in line for line in got)  # Alice's event stayed hers


async def test_an_account_keeps_at_most_five_streams_the_oldest_closes(served, test_clock):
    alice, bob = await make_person(), await make_person()
    assert get_settings().events_per_account == 5
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=served, timeout=5))
        theirs = await stack.enter_async_context(
            http.stream("GET", "/api/v1/events", headers=bob.headers)
        )
        bob_lines = theirs.aiter_lines()
        await _lines(bob_lines, ": connected")
        streams = []
        for _ in range(6):  # one at a time, so the first is the oldest
            r = await stack.enter_async_context(
                http.stream("GET", "/api/v1/events", headers=alice.headers)
            )
            assert r.status_code == 200
            lines = r.aiter_lines()
            await _lines(lines, ": connected")
            streams.append(lines)
        assert events.STREAMS.count(alice.id) == 5
        assert events.STREAMS.count(bob.id) == 1

        first = await _lines(streams[0], "data:")
        assert "event: closed" in first
        assert first[-1] == 'data: {"reason":"too_many_streams"}'
        assert await _lines(streams[0], "retry:") == ["retry: 600000"]  # reconnect late
        with pytest.raises(StopAsyncIteration):  # and the response ends
            await asyncio.wait_for(_rest(streams[0]), 5)

        services.publish([alice.id, bob.id], {"type": "marker"})
        for lines in streams[1:]:
            assert "event: marker" in await _lines(lines, "data:")
        assert "event: marker" in await _lines(bob_lines, "data:")  # Bob was not touched


async def _rest(lines) -> None:
    """Read an SSE stream to its end: StopAsyncIteration once the server ended the response."""
    while True:
        line = await anext(lines)
        assert not line.startswith("data:"), line


async def test_a_deleted_accounts_open_stream_is_closed_within_a_heartbeat(
    served, test_clock, monkeypatch
):
    """A resident deletes their account with the app open on another phone: that stream
    ends (`closed`, `account_closed`) instead of carrying the account's events on."""
    monkeypatch.setattr("grid_backend.notify.services.live.HEARTBEAT_SECONDS", 0.05)
    alice, bob = await make_person(), await make_person()
    async with (
        httpx.AsyncClient(base_url=served, timeout=5) as http,
        http.stream("GET", "/api/v1/events", headers=alice.headers) as a,
        http.stream("GET", "/api/v1/events", headers=bob.headers) as b,
    ):
        a_lines, b_lines = a.aiter_lines(), b.aiter_lines()
        await _lines(a_lines, ": connected")
        await _lines(b_lines, ": connected")
        r = await http.post(
            "/api/v1/me/deletion", json={"password": PASSWORD}, headers=alice.headers
        )
        assert r.status_code == 200, r.text
        got = await _lines(a_lines, "data:")
        assert "event: closed" in got and got[-1] == 'data: {"reason":"account_closed"}'
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(_rest(a_lines), 5)
        # Bob's stream goes on
        services.publish([bob.id], {"type": "marker"})
        assert "event: marker" in await _lines(b_lines, "data:")
