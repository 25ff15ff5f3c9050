"""Live events through Redis: replicas share events, each account still hears only its own.

These need the Redis server on 127.0.0.1:6379 (GRID_TEST_REDIS_URL to use another). Under CI
(CI=true, which .ci/run sets and where it starts Redis) an unreachable Redis fails the tests;
elsewhere they are skipped with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest
import uvicorn
from factories import REDIS_URL, make_person, require_redis

from grid_backend.app import create_app
from grid_backend.notify import events, redis_pubsub, services
from grid_backend.settings import get_settings


@pytest.fixture
async def redis_settings(db):
    """Settings of a replica using Redis, with a channel prefix of this test's own (other
    test runs may share the server: pub/sub ignores the database number)."""
    await require_redis(REDIS_URL)
    return dataclasses.replace(
        get_settings(), redis_url=REDIS_URL, redis_prefix=f"test-{uuid.uuid4().hex[:12]}"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def replica_a(redis_settings):
    """Replica A: the app in this process (uvicorn in this event loop), publishing through
    Redis whatever this process publishes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(redis_settings, open_pool=False)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn has no startup event to wait on
        await asyncio.sleep(0.01)
    assert [live.prefix for live in events._running] == [redis_settings.redis_prefix]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    sock.close()
    assert events._running == []


@pytest.fixture
async def replica_b(redis_settings):
    """Replica B: `grid-backend serve` in a process of its own, same database and Redis."""
    port = _free_port()
    env = {
        **os.environ,
        "GRID_REDIS_URL": redis_settings.redis_url,
        "GRID_REDIS_PREFIX": redis_settings.redis_prefix,
        "GRID_LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "always::ResourceWarning",  # printed, so the check below sees them
    }
    command = [str(Path(sys.executable).parent / "grid-backend"), "serve", "--port", str(port)]
    with tempfile.TemporaryFile() as errors:
        # a plain Popen: starting and stopping it is quick, its log is read once it ended
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stderr=errors)  # noqa: ASYNC220
        try:
            yield await _ready(process, f"http://127.0.0.1:{port}")
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail("replica B did not shut down within 10 s")
        errors.seek(0)
        log = errors.read().decode(errors="replace")
    # uvicorn shuts down gracefully on SIGTERM, then ends by that signal
    assert process.returncode in (0, -signal.SIGTERM), log
    for sign in ("Traceback", "Exception ignored", "ResourceWarning", "Unclosed", "ERROR"):
        assert sign not in log, log  # a clean shutdown: Redis connections closed in order


async def _ready(process: subprocess.Popen, url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=1) as http:
        for _ in range(600):
            assert process.poll() is None, "replica B exited at start"
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail("replica B did not become ready in 30 s")


class Stream:
    """The server-sent events of one open /api/v1/events connection."""

    def __init__(self, lines) -> None:
        self.lines = lines

    async def next_event(self, wait: float = 5.0) -> dict | None:
        """The next event as {event, **data}; None if none arrives within `wait` seconds."""
        name = "message"

        async def read() -> dict:
            nonlocal name
            async for line in self.lines:
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    return {"event": name, **json.loads(line[len("data: ") :])}
            raise AssertionError("the stream ended")

        try:
            return await asyncio.wait_for(read(), wait)
        except TimeoutError:
            return None

    async def connected(self) -> None:
        async for line in self.lines:
            if line == ": connected":
                return


async def test_an_event_raised_on_one_replica_reaches_a_client_of_the_other(replica_a, replica_b):
    # on the wall clock: replica B checks token expiry against its own
    alice, bob = await make_person(), await make_person()
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", f"{replica_b}/api/v1/events", headers=alice.headers) as alice_on_b,
        http.stream("GET", f"{replica_a}/api/v1/events", headers=alice.headers) as alice_on_a,
        http.stream("GET", f"{replica_b}/api/v1/events", headers=bob.headers) as bob_on_b,
    ):
        assert alice_on_b.status_code == 200
        streams = [Stream(s.aiter_lines()) for s in (alice_on_b, alice_on_a, bob_on_b)]
        alice_b, alice_a, bob_b = streams
        await asyncio.wait_for(asyncio.gather(*(s.connected() for s in streams)), 10)

        # A → B: a notification written here (replica A) reaches Alice's phone on replica B,
        # and her console on A too, once each; Bob hears nothing of it
        [inbox_id] = await services.enqueue(
            recipient_id=alice.id,
            kind="points.awarded",
            payload={"delta": 1, "reason_zh": "上报", "reason_en": "report"},
            dedupe_key="points:1",
        )
        for stream in (alice_b, alice_a):
            got = await stream.next_event()
            assert got is not None, "the event did not cross replicas"
            assert got["event"] == "notification" and got["id"] == inbox_id
        services.publish([bob.id], {"type": "marker"})
        assert (await bob_b.next_event())["event"] == "marker"  # not Alice's notification

        # B → A: Alice reads her inbox on replica B (a real request); her console on A hears
        r = await http.post(f"{replica_b}/api/v1/me/notifications/read-all", headers=alice.headers)
        assert r.status_code == 200 and r.json()["marked"] == 1
        for stream in (alice_a, alice_b):
            assert (await stream.next_event())["event"] == "inbox.read_all"
        # and nothing came twice: the next event on each stream is the next one published
        services.publish([alice.id, bob.id], {"type": "end"})
        for stream in streams:
            assert (await stream.next_event())["event"] == "end"


async def test_the_redis_plugin_shuts_down_cleanly_and_closes_its_connections(redis_settings):
    from redis.asyncio import Redis

    live = events.plugin(redis_settings)
    async with live, live.start_subscription(live.channel_of(7)) as subscriber:
        assert events.publish([7], {"type": "hello"})
        got = await asyncio.wait_for(anext(subscriber.iter_events()), 5)
        assert json.loads(got) == {"type": "hello"}
    assert events._running == []
    # the pub/sub and publishing connections are gone: nothing left for the garbage
    # collector to warn about (warnings are errors here)
    gc.collect()
    watcher = Redis.from_url(REDIS_URL)
    try:
        channels = await watcher.pubsub_channels(f"{redis_settings.redis_prefix}:*")
    finally:
        await watcher.aclose()
    assert channels == []


async def test_a_dropped_redis_connection_is_resumed_and_publishing_never_raises(
    redis_settings, caplog, monkeypatch
):
    from redis.asyncio import Redis

    monkeypatch.setattr(redis_pubsub, "RECONNECT_SECONDS", 0.05)
    live = events.plugin(redis_settings)
    admin = Redis.from_url(REDIS_URL)
    try:
        async with live, live.start_subscription(live.channel_of(8)) as subscriber:
            stream = subscriber.iter_events()
            # Redis drops every connection of this replica (a restart, a network cut)
            backend = live._backend
            own = {backend._pub_sub.connection._writer.get_extra_info("sockname")[1]}
            killed = 0
            for client in await admin.client_list(_type="pubsub"):
                if int(client["addr"].rsplit(":", 1)[1]) in own:
                    killed += await admin.client_kill_filter(_id=client["id"])
            assert killed == 1
            # events published after the cut still arrive once the subscription is back
            following = asyncio.ensure_future(anext(stream))  # not cancelled between tries
            for attempt in range(100):
                events.publish([8], {"type": "after", "n": attempt})
                done, _ = await asyncio.wait({following}, timeout=0.1)
                if done:
                    assert json.loads(following.result())["type"] == "after"
                    break
            else:
                following.cancel()
                pytest.fail("no event arrived after the connection was dropped")
    finally:
        await admin.aclose()

    # with Redis gone altogether, publishing logs and the plugin still stops
    gone = dataclasses.replace(redis_settings, redis_url=f"redis://127.0.0.1:{_free_port()}/0")
    live = events.plugin(gone)
    async with asyncio.timeout(10), live:
        assert events.publish([9], {"type": "lost"})  # queued: publishing is in the background
        await asyncio.sleep(0.2)
    assert "live event not published to Redis" in caplog.text


async def test_clients_subscribing_at_once_each_hear_their_own_events(redis_settings):
    # redis-py alone gave each of several simultaneous first subscriptions its own
    # connection and read only the last: the others heard nothing
    live = events.plugin(redis_settings)
    async with live, contextlib.AsyncExitStack() as stack:
        subscribers = await asyncio.gather(
            *(
                stack.enter_async_context(live.start_subscription(live.channel_of(account)))
                for account in range(1, 6)
            )
        )
        for account in range(1, 6):
            assert events.publish([account], {"type": "hello", "to": account})
        for account, subscriber in enumerate(subscribers, start=1):
            got = await asyncio.wait_for(anext(subscriber.iter_events()), 5)
            assert json.loads(got) == {"type": "hello", "to": account}


async def test_a_subscription_that_found_no_redis_connection_is_made_later(
    redis_settings, caplog, monkeypatch
):
    """Every connection of the pool busy when a stream subscribes: the subscribe fails, and is
    made again once one is free, so the stream hears its events (litestar alone would have
    taken the channel for subscribed, and nobody on it would ever hear anything)."""
    from redis.asyncio import Redis

    from grid_backend.infra import redispool

    monkeypatch.setattr(redis_pubsub, "RECONNECT_SECONDS", 0.05)
    client = Redis.from_pool(redispool.pool(REDIS_URL, size=2, wait=0.1))
    backend, _ = events._redis_backend(REDIS_URL, client=client)
    live = events.LiveEvents(
        prefix=redis_settings.redis_prefix,
        closing=client,
        backend=backend,
        arbitrary_channels_allowed=True,
    )
    pool = client.connection_pool
    async with live:
        busy = [await pool.get_connection() for _ in range(2)]
        async with live.start_subscription(live.channel_of(11)) as subscriber:
            assert "subscribing in Redis failed" in caplog.text
            for connection in busy:
                await pool.release(connection)
            following = asyncio.ensure_future(anext(subscriber.iter_events()))
            for attempt in range(50):
                events.publish([11], {"type": "later", "n": attempt})
                done, _ = await asyncio.wait({following}, timeout=0.1)
                if done:
                    assert json.loads(following.result())["type"] == "later"
                    break
            else:
                following.cancel()
                pytest.fail("the subscription was never made")
        assert "subscribed in Redis again" in caplog.text


async def test_a_place_given_back_as_the_server_stops_leaves_no_redis_connection_open(
    redis_settings,
):
    """A phone's stream ends as the server stops: its place in Redis is still being given back
    when the plugin closes its client. The give-back finishes first, so no connection is
    opened again behind the closed pool (the garbage collector found such connections at the
    end of a test run, still open)."""
    from grid_backend.notify.services import live as live_streams

    live = events.plugin(redis_settings)
    async with live:
        assert live.slots is not None
        members = [(await live.slots.open(21, f"s{n}", 5))[0] for n in range(3)]
        # the streams' handlers are cancelled (their clients went away) while giving back
        ending = [
            asyncio.ensure_future(live_streams._give_place(live, 21, member)) for member in members
        ]
        await asyncio.sleep(0)
        for task in ending:
            task.cancel()
    pool = live._closing.connection_pool
    still_open = [c for c in [*pool._available_connections, *pool._in_use_connections] if c._writer]
    assert still_open == []
    # and the places were given back, not left to lapse
    from redis.asyncio import Redis

    from grid_backend.notify.slots import SharedSlots

    watcher = Redis.from_url(REDIS_URL)
    try:
        slots = SharedSlots(watcher, prefix=redis_settings.redis_prefix, slot_seconds=60)
        assert await slots.count(21) == 0
    finally:
        await watcher.aclose()


async def test_a_stream_still_open_as_the_server_stops_stops_refreshing_its_place(
    redis_settings,
):
    """A stream whose end never runs (the server stopping under it): its task refreshing the
    place in Redis is stopped with the plugin, not left to refresh through a closed pool,
    which opened a connection again that nobody closed."""
    from grid_backend.notify.services import live as live_streams

    live = events.plugin(dataclasses.replace(redis_settings, events_slot_seconds=0.3))
    async with live:
        assert live.slots is not None
        member, _ = await live.slots.open(22, "s1", 5)
        keeping = asyncio.create_task(live_streams._keep_place(live, 22, member, asyncio.Event()))
        live.slots.keep(keeping)
        await asyncio.sleep(0.25)  # it refreshes every 0.1 s
    assert keeping.done()
    await asyncio.sleep(0.3)  # a refresh would have come by now
    pool = live._closing.connection_pool
    still_open = [c for c in [*pool._available_connections, *pool._in_use_connections] if c._writer]
    assert still_open == []
