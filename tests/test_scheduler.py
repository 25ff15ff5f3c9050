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


async def test_a_scheduler_stopped_mid_run_frees_the_lease_at_once(db):
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
    lease = await JobLease.select().where(JobLease.job_id == "test.job").first().run()
    assert lease["expires_at"] is None and lease["last_error"] == "stopped"
    # another process runs the next tick at once, not when the 10-minute lease would expire
    quick = dataclasses.replace(job, function=lambda now: asyncio.sleep(0, {"ok": True}))
    assert (await scheduler.run_job(quick, holder="b")).ran
