"""write_transaction() and fetch(): on SQLite they run on connections kept open; what a caller
sees must be what a new connection per query would show."""

from __future__ import annotations

import asyncio

import pytest

from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.tables import GeoRevision

_COUNT = "SELECT revision FROM revision WHERE name = {}"


async def _revision(name: str) -> int | None:
    rows = await fetch(_COUNT, name)
    return rows[0]["revision"] if rows else None


async def test_a_committed_write_is_read_at_once(db):
    for n in range(5):
        async with write_transaction():
            await GeoRevision.insert(GeoRevision(name=f"probe{n}", revision=n)).run()
        assert await _revision(f"probe{n}") == n


async def test_a_failed_transaction_is_rolled_back_and_the_next_one_works(db):
    async def failing() -> None:
        async with write_transaction():
            await GeoRevision.insert(GeoRevision(name="rolled_back", revision=1)).run()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing()
    assert await _revision("rolled_back") is None
    async with write_transaction():
        await GeoRevision.insert(GeoRevision(name="after", revision=2)).run()
    assert await _revision("after") == 2


async def test_a_cancelled_transaction_leaves_nothing_behind(db):
    inside = asyncio.Event()

    async def writer() -> None:
        async with write_transaction():
            await GeoRevision.insert(GeoRevision(name="cancelled", revision=1)).run()
            inside.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with write_transaction():
        await GeoRevision.insert(GeoRevision(name="next", revision=3)).run()
    assert await _revision("cancelled") is None
    assert await _revision("next") == 3


async def test_others_do_not_see_a_write_before_its_commit(db):
    written, checked = asyncio.Event(), asyncio.Event()
    seen: list[int | None] = []

    async def reader() -> None:  # created outside the transaction: not part of it
        await written.wait()
        seen.append(await _revision("pending"))
        checked.set()

    task = asyncio.create_task(reader())
    async with write_transaction():
        await GeoRevision.insert(GeoRevision(name="pending", revision=7)).run()
        assert await _revision("pending") == 7  # the transaction sees its own write
        written.set()
        await checked.wait()
    await task
    assert seen == [None]
    assert await _revision("pending") == 7


async def test_parallel_reads_and_serialised_writes(db):
    async def bump(n: int) -> None:
        async with write_transaction():
            await GeoRevision.insert(GeoRevision(name=f"parallel{n}", revision=n)).run()
        assert await _revision(f"parallel{n}") == n

    await asyncio.gather(*(bump(n) for n in range(20)))
    rows = await fetch("SELECT count(*) AS n FROM revision WHERE name LIKE {}", "parallel%")
    assert rows[0]["n"] == 20
