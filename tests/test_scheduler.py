"""The job scheduler: one list of jobs, a lease per tick, the test clock."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from grid_backend import scheduler
from grid_backend.core import clock
from grid_backend.core.tables import JobLease

NOW = datetime(2026, 3, 31, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai, the last minute of March


def _job(fn, lease_seconds: int = 60) -> scheduler.Job:
    return scheduler.Job(
        "test.job",
        lambda: scheduler.IntervalTrigger(minutes=1),
        fn,
        "a test job",
        lease_seconds=lease_seconds,
    )


async def test_two_processes_never_both_run_one_tick(db):
    clock.set_clock(lambda: NOW)
    calls = []

    async def work(now):
        calls.append(now)
        await asyncio.sleep(0.05)  # long enough for the other to try while this one runs
        return {"done": 1}

    job = _job(work)
    results = await asyncio.gather(
        *[scheduler.run_job(job, holder=f"replica-{i}") for i in range(4)]
    )
    assert sorted(r.ran for r in results) == [False, False, False, True]
    assert len(calls) == 1
    lease = (
        await JobLease.select()
        .where(JobLease.job_id == "test.job")
        .output(load_json=True)
        .first()
        .run()
    )
    assert lease["runs"] == 1
    assert lease["expires_at"] is None  # released
    assert lease["last_result"] == {"done": 1}


async def test_a_crashed_holders_lease_expires_and_another_takes_over(db):
    clock.set_clock(lambda: NOW)
    job = _job(lambda now: asyncio.sleep(0, {"ok": True}), lease_seconds=120)
    assert await scheduler.claim(job, now=NOW, holder="crashed")  # never released
    assert not (await scheduler.run_job(job, holder="other")).ran
    clock.set_clock(lambda: NOW + timedelta(seconds=121))
    outcome = await scheduler.run_job(job, holder="other")
    assert outcome.ran
    assert outcome.result == {"ok": True}


async def test_a_failing_job_records_its_error_and_frees_the_lease(db):
    clock.set_clock(lambda: NOW)

    async def broken(now):
        raise RuntimeError("gateway down")

    job = _job(broken)
    outcome = await scheduler.run_job(job, holder="a")
    assert outcome.ran
    assert outcome.error == "RuntimeError: gateway down"
    assert (await scheduler.run_job(job, holder="b")).ran  # the next tick retries at once


async def test_prune_job_removes_only_long_expired_refresh_tokens(db):
    from factories import make_person

    from grid_backend.people.tables import RefreshToken

    person = await make_person()
    for days in (-30, -8, -6, 10):
        await RefreshToken.insert(
            RefreshToken(
                account=person.id,
                family=uuid.uuid4(),
                token_hash=uuid.uuid4().hex,
                expires_at=NOW + timedelta(days=days),
            )
        ).run()
    clock.set_clock(lambda: NOW)
    outcome = await scheduler.run_job(scheduler.find("people.prune_refresh_tokens"))
    assert outcome.result == {"deleted": 2}
    assert await RefreshToken.count().run() == 2
    again = await scheduler.run_job(scheduler.find("people.prune_refresh_tokens"))
    assert again.result == {"deleted": 0}  # idempotent


async def test_sign_up_codes_nobody_came_back_for_are_pruned(db):
    from grid_backend.people.tables import RegistrationCode

    for phone, days in (("13800000001", -3), ("13800000002", -2), ("13800000003", 0)):
        await RegistrationCode.insert(
            RegistrationCode(phone=phone, code_hash="0" * 64, expires_at=NOW + timedelta(days=days))
        ).run()
    clock.set_clock(lambda: NOW)
    outcome = await scheduler.run_job(scheduler.find("people.prune_registration_codes"))
    assert outcome.result == {"deleted": 2}
    left = await RegistrationCode.select(RegistrationCode.phone).run()
    assert left == [{"phone": "13800000003"}]  # a live code stays usable
    again = await scheduler.run_job(scheduler.find("people.prune_registration_codes"))
    assert again.result == {"deleted": 0}


async def test_a_tick_another_process_already_ran_is_not_run_again(db):
    """Two replicas fire the same tick a moment apart: the first runs it and gives the lease
    back before the second's scheduler fires; the second must not run the tick again."""
    clock.set_clock(lambda: NOW)
    calls = []

    async def work(now):
        calls.append(now)
        return {}

    job, tick = _job(work), NOW - timedelta(seconds=0.1)  # fired at 0.1 s before NOW
    assert (await scheduler.run_job(job, holder="a", tick=tick)).ran
    clock.set_clock(lambda: NOW + timedelta(seconds=40))  # the same tick, b's scheduler late
    assert not (await scheduler.run_job(job, holder="b", tick=tick)).ran
    clock.set_clock(lambda: NOW + timedelta(minutes=1))  # the next tick
    assert (await scheduler.run_job(job, holder="b", tick=tick + timedelta(minutes=1))).ran
    assert len(calls) == 2
    # by hand (`grid-backend jobs run`, no spacing) a job runs whenever its lease is free
    assert (await scheduler.run_job(job, holder="a")).ran


async def test_every_process_fires_the_same_ticks(db):
    """Interval jobs count their ticks from one instant, not from each process's start."""
    first = scheduler.build_scheduler()
    await asyncio.sleep(0.3)
    second = scheduler.build_scheduler()
    now = datetime.now(UTC)
    for job in scheduler.JOBS:
        one, other = first.get_job(job.id).trigger, second.get_job(job.id).trigger
        assert one.get_next_fire_time(None, now) == other.get_next_fire_time(None, now), job.id
    assert first.ticks["notify.deliver"][1] == timedelta(seconds=5)
    assert first.ticks["patrols.materialise"][1] == timedelta(minutes=10)
    assert first.ticks["people.prune_refresh_tokens"][1] == timedelta(days=1)
    # the tick a run belongs to: the last fire time up to now
    tick = first.tick_of("notify.deliver")
    assert tick is not None and timedelta(0) <= datetime.now(UTC) - tick < timedelta(seconds=5)
    assert (tick - scheduler.TICKS_FROM).total_seconds() % 5 == 0


async def test_every_job_is_scheduled_in_the_configured_zone(db):
    sched = scheduler.build_scheduler()
    sched.start(paused=True)
    try:
        ids = {j.id for j in sched.get_jobs()}
        assert ids == {job.id for job in scheduler.JOBS}
        prune = sched.get_job("people.prune_refresh_tokens")
        fire = prune.trigger.get_next_fire_time(None, NOW)
        assert fire.utcoffset() == timedelta(hours=8)
        assert (fire.hour, fire.minute) == (3, 30)
        assert fire.date().isoformat() == "2026-04-01"  # across the month end, local time
    finally:
        sched.shutdown(wait=False)


async def test_a_scheduler_stopped_mid_run_frees_the_lease_at_once(db, caplog):
    clock.set_clock(lambda: NOW)
    started = asyncio.Event()

    async def endless(now):
        started.set()
        await asyncio.Event().wait()

    job = dataclasses.replace(
        _job(endless, lease_seconds=600), trigger=lambda: scheduler.IntervalTrigger(seconds=0.05)
    )
    sched = scheduler.build_scheduler([job], holder="a")
    sched.start()
    try:
        await asyncio.wait_for(started.wait(), 10)
    finally:
        await sched.stop()
    assert not sched.running and not sched.runs
    # a stop is not the job's failure: no error with a traceback in the server's log
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    lease = await JobLease.select().where(JobLease.job_id == "test.job").first().run()
    assert lease["expires_at"] is None and lease["last_error"] == "stopped"
    # another process runs the next tick at once, not when the 10-minute lease would expire
    quick = dataclasses.replace(job, function=lambda now: asyncio.sleep(0, {"ok": True}))
    assert (await scheduler.run_job(quick, holder="b")).ran


async def test_the_standalone_scheduler_stops_cleanly_on_sigterm(db):
    """`grid-backend scheduler` stopped the way docker, systemd or a supervisor stop it
    (SIGTERM) ends its runs and gives back every lease, as Ctrl-C does; killed instead, a
    scheduler started again would deliver nothing until the lease expired (5 minutes)."""
    import os
    import signal
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "grid_backend.cli",
        "scheduler",
        env={**os.environ, "GRID_NOTIFY_INTERVAL_SECONDS": "1"},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        started = await asyncio.wait_for(process.stderr.readline(), 60)
        assert b"scheduler running" in started
        for _ in range(100):  # the delivery job has run at least once
            if await JobLease.exists().where(JobLease.job_id == "notify.deliver").run():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the delivery job never ran")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    held = await JobLease.select(JobLease.job_id).where(JobLease.expires_at.is_not_null()).run()
    assert held == []
