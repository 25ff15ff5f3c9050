"""The delivery job under real schedulers: stopped in the middle of a run and started again,
or killed outright, it loses no notification and records each as sent exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from factories import make_person

from grid_backend import scheduler
from grid_backend.core.tables import JobLease
from grid_backend.notify import jobs, services
from grid_backend.notify.tables import DeliveryAttempt, Notification


async def _push(people: list[int], n: int) -> list[int]:
    for i in range(n):
        await services.enqueue_many(
            recipient_ids=people,
            kind="case.assigned",
            payload={"case_id": i},
            dedupe_key=f"restart:{i}",
            channels=["push"],
        )
    rows = await Notification.select(Notification.id).where(Notification.channel == "push").run()
    return sorted(r["id"] for r in rows)


async def _sent() -> set[int]:
    rows = (
        await Notification.select(Notification.id)
        .where((Notification.channel == "push") & (Notification.status == "sent"))
        .run()
    )
    return {r["id"] for r in rows}


async def _held() -> int:
    return await Notification.count().where(Notification.claimed_until.is_not_null()).run()


async def _ok_attempts() -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for r in await DeliveryAttempt.select(DeliveryAttempt.notification, DeliveryAttempt.ok).run():
        if r["ok"]:
            counts[r["notification"]] += 1
    return dict(counts)


async def _lease() -> dict:
    return (await JobLease.select().where(JobLease.job_id == "notify.deliver").first().run()) or {}


async def _until(condition, seconds: float = 60.0) -> None:
    """Wait (polling) until the condition holds: the schedulers run on their own."""
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110 - a query, not an event
            await asyncio.sleep(0.05)


class Runs:
    """The delivery job, every 50 ms, counting how many of its runs overlap anywhere."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.by: dict[str, int] = defaultdict(int)
        self.started: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def job(self, name: str) -> scheduler.Job:
        base = scheduler.find("notify.deliver")

        async def deliver(now: datetime) -> dict:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.by[name] += 1
            self.started[name].set()
            try:
                return await base.function(now)
            finally:
                self.active -= 1

        return dataclasses.replace(
            base, trigger=lambda: scheduler.IntervalTrigger(seconds=0.05), function=deliver
        )


async def test_a_scheduler_stopped_mid_run_and_started_again_sends_each_exactly_once(
    patient, test_clock, monkeypatch
):
    receiver = patient
    monkeypatch.setattr(jobs, "BATCH", 20)
    receiver.delay = 0.1  # keeps requests in flight when the stop comes
    people = [(await make_person()).id for _ in range(5)]
    ids = await _push(people, 60)
    runs = Runs()
    first = scheduler.build_scheduler([runs.job("first")], holder="replica-1")
    other = scheduler.build_scheduler([runs.job("other")], holder="replica-2")
    again = scheduler.build_scheduler([runs.job("again")], holder="replica-1")
    first.start()
    try:
        await asyncio.wait_for(receiver.wait_for_hits(30), 30)
        await first.stop()
        sent = await _sent()
        assert 0 < len(sent) < len(ids)  # stopped in the middle of the run
        # what reached the receiver was recorded, and nothing else; nothing is left claimed
        assert set(receiver.seen()) == sent
        assert await _held() == 0
        assert (await _lease())["expires_at"] is None

        # started again, beside another replica: the rest goes out, one run at a time
        again.start()
        other.start()
        await _until(lambda: _all_sent(ids))
    finally:
        for s in (first, other, again):
            await s.stop()

    assert receiver.seen() == dict.fromkeys(ids, 1)  # exactly once, no dedupe needed
    assert receiver.accepted == dict.fromkeys(ids, 1)
    assert await _ok_attempts() == dict.fromkeys(ids, 1)
    assert await _held() == 0
    assert (await _lease())["expires_at"] is None
    assert runs.peak == 1  # three schedulers, one delivery run at a time
    assert runs.by["first"] >= 1


async def _all_sent(ids: list[int]) -> bool:
    return await _sent() == set(ids)


async def test_a_killed_scheduler_loses_nothing_once_its_lease_and_claims_expire(
    patient, test_clock
):
    receiver = patient
    receiver.delay = 0.1
    people = [(await make_person()).id for _ in range(5)]
    ids = await _push(people, 60)
    # `grid-backend scheduler` in a process of its own (same database, the receiver's URL
    # from the environment), on the wall clock
    env = {**os.environ, "GRID_NOTIFY_INTERVAL_SECONDS": "0.5", "GRID_LOG_LEVEL": "WARNING"}
    command = [str(Path(sys.executable).parent / "grid-backend"), "scheduler"]
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        await asyncio.wait_for(receiver.wait_for_hits(30), 60)
    finally:
        process.send_signal(signal.SIGKILL)  # mid-run: no stop, no recording, no release
        process.wait()
    killed_at = datetime.now(UTC)

    async def drained() -> bool:  # requests the dead process had sent are read to the end
        return not receiver._tasks

    await _until(drained, 10)
    reached = set(receiver.seen())
    assert await _sent() < set(ids)
    assert await _held() > 0 and (await _lease())["expires_at"] is not None

    # until the dead run's lease and claims expire, nobody sends its notifications
    test_clock.now = killed_at
    job = Runs().job("again")
    again = scheduler.build_scheduler([job], holder="replica-2")
    assert not (await again.run(job)).ran
    assert (await services.deliver_due(test_clock.now))["claimed"] == 0
    # then a new scheduler takes over
    lease = scheduler.find("notify.deliver").lease_seconds
    test_clock.advance(seconds=max(lease, services.claim_seconds(500).total_seconds()) + 1)
    again.start()
    try:
        await _until(lambda: _all_sent(ids))
    finally:
        await again.stop()

    seen = receiver.seen()
    assert set(seen) == set(ids)  # none lost
    # at least once: only what was in flight when the process died went twice, and the
    # receiver drops those by notification id; the outbox records each as sent once
    assert {i for i, n in seen.items() if n > 1} <= reached
    assert max(seen.values()) <= 2
    assert await _ok_attempts() == dict.fromkeys(ids, 1)
    assert await _held() == 0
    assert (await _lease())["expires_at"] is None
