"""GRID_EVENTS_PER_ACCOUNT across replicas: with Redis the cap holds over every process, a
stream displaced on another replica closes as it would in one process, the places of a killed
process lapse after GRID_EVENTS_SLOT_SECONDS, and a Redis that fails never fails a stream.

Replica A is the app in this process (uvicorn in the test's loop), replica B a `grid-backend
serve` process; both with Redis (GRID_TEST_REDIS_URL; under CI=true a missing Redis fails)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import uuid

import httpx
import pytest
from factories import REDIS_URL, make_person, require_redis
from servers import events_of, free_port, serve, serve_here

from grid_backend.notify import events, services
from grid_backend.notify.slots import SharedSlots
from grid_backend.settings import get_settings

SLOT_SECONDS = 2.0  # short, so that a killed replica's places lapse within the test


@pytest.fixture
async def shared(db):
    """Settings of replicas sharing one Redis, under a prefix of this test's own."""
    await require_redis(REDIS_URL)
    return dataclasses.replace(
        get_settings(),
        redis_url=REDIS_URL,
        redis_prefix=f"test-{uuid.uuid4().hex[:12]}",
        events_slot_seconds=SLOT_SECONDS,
    )


@pytest.fixture
async def replica_a(shared):
    async with serve_here(shared) as url:
        yield url


@pytest.fixture
async def replica_b(shared):
    env = {
        "GRID_REDIS_URL": shared.redis_url,
        "GRID_REDIS_PREFIX": shared.redis_prefix,
        "GRID_EVENTS_SLOT_SECONDS": str(SLOT_SECONDS),
    }
    async with serve(env) as server:
        yield server


async def _held(shared, account_id: int) -> int:
    """The places Redis counts for the account now."""
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        slots = SharedSlots(redis, prefix=shared.redis_prefix, slot_seconds=SLOT_SECONDS)
        return await slots.count(account_id)
    finally:
        await redis.aclose()


async def _released(shared, account_id: int, within: float = SLOT_SECONDS / 2) -> bool:
    """Whether the account's places are all given back within `within` seconds (sooner than
    they would lapse by themselves)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while await _held(shared, account_id):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_the_cap_holds_across_replicas_and_the_oldest_closes_wherever_it_runs(
    shared, replica_a, replica_b
):
    alice, bob = await make_person(), await make_person()
    assert shared.events_per_account == 5
    a, b = replica_a, replica_b.url
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=10) as http:
        bobs = await stack.enter_async_context(events_of(http, b, bob.headers))
        streams = []
        for url in (a, b, a, b, a):  # one at a time: the first is the oldest
            streams.append(await stack.enter_async_context(events_of(http, url, alice.headers)))
        assert await _held(shared, alice.id) == 5
        # longer than a place lasts unrefreshed: open streams keep theirs
        await asyncio.sleep(SLOT_SECONDS * 1.5)
        assert await _held(shared, alice.id) == 5

        # a sixth on B displaces the oldest, which runs on A; a seventh on A the next, on B
        for url, oldest in ((b, streams[0]), (a, streams[1])):
            streams.append(await stack.enter_async_context(events_of(http, url, alice.headers)))
            closed = await oldest.next_event()
            assert closed == {"event": "closed", "reason": "too_many_streams"}
            assert await oldest.next_event() == {"event": "end"}
        assert await _held(shared, alice.id) == 5

        services.publish([alice.id, bob.id], {"type": "marker"})
        for stream in [*streams[2:], bobs]:  # the other five, and Bob untouched
            assert (await stream.next_event())["event"] == "marker"
    # closed streams give their places back (each server hears of the close on its own time)
    assert await _released(shared, alice.id)


async def test_a_killed_replicas_places_lapse_after_the_slot(shared, replica_a, replica_b):
    alice = await make_person()
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=10) as http:
        first = await stack.enter_async_context(events_of(http, replica_a, alice.headers))
        for _ in range(4):
            await stack.enter_async_context(events_of(http, replica_b.url, alice.headers))
        assert await _held(shared, alice.id) == 5
        replica_b.kill()  # its four streams never give their places back
        assert await _held(shared, alice.id) == 5
        await asyncio.sleep(SLOT_SECONDS + 0.5)
        assert await _held(shared, alice.id) == 1  # only A's, which A keeps refreshing

        # so a new stream does not displace the living one on A
        second = await stack.enter_async_context(events_of(http, replica_a, alice.headers))
        assert await first.next_event(wait=1.0) is None
        services.publish([alice.id], {"type": "marker"})
        for stream in (first, second):
            assert (await stream.next_event())["event"] == "marker"
        assert await _held(shared, alice.id) == 2


async def test_streams_whose_places_lapsed_while_redis_was_away_stay_open(shared, replica_a):
    from redis.asyncio import Redis

    alice = await make_person()
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=10) as http:
        streams = [
            await stack.enter_async_context(events_of(http, replica_a, alice.headers))
            for _ in range(2)
        ]
        redis = Redis.from_url(REDIS_URL)
        try:  # as after a Redis restart without persistence
            slots = SharedSlots(redis, prefix=shared.redis_prefix, slot_seconds=SLOT_SECONDS)
            assert await redis.delete(slots.key(alice.id)) == 1
        finally:
            await redis.aclose()
        assert await _held(shared, alice.id) == 0
        await asyncio.sleep(SLOT_SECONDS / 3 + 0.5)  # one refresh
        assert await _held(shared, alice.id) == 2  # taken again, not closed as one too many
        services.publish([alice.id], {"type": "marker"})
        for stream in streams:
            assert (await stream.next_event())["event"] == "marker"


async def test_a_stream_opens_when_redis_fails_and_this_process_caps_it(db, caplog):
    """Redis unreachable for the count: streams still open, capped per process as without it."""
    from litestar.channels.backends.memory import MemoryChannelsBackend
    from redis.asyncio import Redis

    gone = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    live = events.LiveEvents(
        prefix="test",
        slots=SharedSlots(gone, prefix="test", slot_seconds=SLOT_SECONDS),
        backend=MemoryChannelsBackend(),
        arbitrary_channels_allowed=True,
    )
    limit = get_settings().events_per_account
    caplog.set_level(logging.WARNING, "grid_backend.notify")
    opened = []
    try:
        async with live:
            for _ in range(limit + 1):
                stream = services.live_stream(plugin=live, account_id=42)
                assert (await asyncio.wait_for(anext(stream), 5)).comment == "connected"
                opened.append(stream)
            oldest = await asyncio.wait_for(anext(opened[0]), 5)
            assert oldest.event == "closed"
            assert json.loads(oldest.data) == {"reason": "too_many_streams"}
            assert events.STREAMS.count(42) == limit
    finally:
        for stream in opened:
            await stream.aclose()
        await gone.aclose()
    assert events.STREAMS.count(42) == 0
    assert "stream count in Redis unavailable, counting in this process" in caplog.text


BURST = 300  # streams opening at once on one process: more than a Redis pool's default 100


async def test_a_burst_of_streams_opening_at_once_all_open_and_hear_their_events(shared, caplog):
    """As when a red warning sends every phone of a township to the board at once: each stream
    takes its place in Redis and subscribes, none fails for want of a Redis connection."""
    people = [await make_person() for _ in range(BURST // 5)]
    caplog.set_level(logging.WARNING)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with (
        serve_here(shared) as url,
        contextlib.AsyncExitStack() as stack,
        httpx.AsyncClient(timeout=30, limits=limits) as http,
    ):
        opening = [
            stack.enter_async_context(events_of(http, url, person.headers))
            for person in people
            for _ in range(5)
        ]
        streams = await asyncio.gather(*opening)
        assert len(streams) == BURST
        for person in people:
            assert await _held(shared, person.id) == 5  # every place counted in Redis
        services.publish([p.id for p in people], {"type": "marker"})
        heard = await asyncio.gather(*(s.next_event(wait=15) for s in streams))
        assert [e and e["event"] for e in heard] == ["marker"] * BURST
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert failures == [], [r.getMessage() for r in failures][:5]
