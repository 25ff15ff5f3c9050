"""Timed jobs: the one list of jobs, and the database lease that makes each tick run once.

Every server process (and `grid-backend scheduler`) runs an APScheduler AsyncIOScheduler with
the jobs below. Before a job runs, it claims its row in `job_lease` with one conditional
UPDATE; only the process whose claim succeeds does the work, the others skip the tick. Jobs
are idempotent (unique keys, not luck), so a crash mid-run or a repeated run changes nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from grid_backend.alerts import jobs as alert_jobs
from grid_backend.core import clock
from grid_backend.core.db import write_transaction
from grid_backend.core.tables import JobLease
from grid_backend.evacuation import jobs as evacuation_jobs
from grid_backend.hazards import jobs as hazard_jobs
from grid_backend.notify.jobs import deliver as deliver_notifications
from grid_backend.notify.services import to_the_end
from grid_backend.patrols import jobs as patrol_jobs
from grid_backend.patrols import reminders as patrol_reminders
from grid_backend.people import jobs as people_jobs
from grid_backend.settings import get_settings

logger = logging.getLogger("grid_backend.scheduler")

JobFunction = Callable[[datetime], Awaitable[dict[str, Any]]]
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Job:
    id: str
    trigger: Callable[[], BaseTrigger]  # built when the scheduler starts (in the set time zone)
    function: JobFunction
    description: str
    lease_seconds: int = 300  # longest a run may take before another process may take over
    options: dict[str, Any] = field(default_factory=dict)


def _zone() -> Any:
    return get_settings().zone


# Interval ticks counted from one fixed instant, so that every process's scheduler fires the
# same ticks (APScheduler's default starts counting when each process starts: two replicas
# then ran every interval job at twice its rate, each on its own ticks).
TICKS_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def every(**interval: float) -> IntervalTrigger:
    """An interval trigger on the ticks every process shares (`seconds=5`, `minutes=10`)."""
    return IntervalTrigger(**interval, start_date=TICKS_FROM, timezone=_zone())


# The one explicit list of jobs. Each domain's job function lives in that domain.
JOBS: list[Job] = [
    Job(
        "people.prune_refresh_tokens",
        lambda: CronTrigger(hour=3, minute=30, timezone=_zone()),
        people_jobs.prune_refresh_tokens,
        "delete refresh tokens expired more than 7 days ago",
    ),
    Job(
        "people.prune_registration_codes",
        lambda: CronTrigger(hour=3, minute=40, timezone=_zone()),
        people_jobs.prune_registration_codes,
        "delete sign-up codes expired more than a day ago",
    ),
    Job(
        "notify.deliver",
        lambda: every(seconds=get_settings().notify_interval_seconds),
        deliver_notifications,
        "send due notifications: push, SMS and scheduled inbox items, with retries",
    ),
    Job(
        "patrols.materialise",
        lambda: every(minutes=10),
        patrol_jobs.materialise,
        "make the patrol tasks of the next GRID_PATROL_HORIZON_HOURS from the plans",
        lease_seconds=900,
    ),
    Job(
        "patrols.mark_missed",
        lambda: every(minutes=5),
        patrol_jobs.mark_missed,
        "mark patrol tasks whose window ended unfinished as missed",
    ),
    Job(
        "hazards.remind_deadlines",
        lambda: every(minutes=5),
        hazard_jobs.remind_deadlines,
        "remind before case deadlines and escalate overdue cases up the area tree",
    ),
    Job(
        "hazards.announce_deadlines",
        lambda: every(minutes=1),
        hazard_jobs.announce_deadlines,
        "tell the consoles of their areas live when case deadlines are 30 min away or passed",
        lease_seconds=120,
    ),
    Job(
        "hazards.prune_announcements",
        lambda: CronTrigger(hour=3, minute=50, timezone=_zone()),
        hazard_jobs.prune_announcements,
        "delete the marks of case deadlines announced more than 2 days ago",
    ),
    Job(
        "patrols.remind",
        lambda: every(minutes=5),
        patrol_reminders.remind_patrols,
        "remind before patrol windows, at half-window without a start, and escalate misses",
    ),
    Job(
        "alerts.escalate",
        lambda: every(seconds=30),
        alert_jobs.escalate,
        "escalate unanswered callouts: remind, then the grid leader, then the township",
        lease_seconds=120,
    ),
    Job(
        "alerts.announce_expiries",
        lambda: every(minutes=1),
        alert_jobs.announce_expiries,
        "send warning.expired to webhook subscribers for warnings that ran out at their end",
    ),
    Job(
        "evacuation.escalate",
        lambda: every(seconds=30),
        evacuation_jobs.escalate,
        "name helpers who have not started an evacuation to their grid leader and township",
        lease_seconds=120,
    ),
    Job(
        "evacuation.warnings",
        lambda: every(seconds=30),
        evacuation_jobs.sync_warnings,
        "propose an evacuation for orange and red warnings over households; end it when lifted",
        lease_seconds=300,
    ),
]


def find(job_id: str) -> Job:
    for job in JOBS:
        if job.id == job_id:
            return job
    raise KeyError(job_id)


@dataclass
class RunResult:
    job_id: str
    ran: bool  # False: another process holds the lease for this tick
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""


async def claim(
    job: Job, *, now: datetime, holder: str = HOLDER, since: datetime | None = None
) -> bool:
    """Take the job's lease if it is free (or expired) and, when `since` is given, no run
    started since then (this tick's run, done by another process); one statement, so atomic."""
    # in a write transaction: on SQLite, claims queue in order with this process's other
    # writes instead of waiting on SQLite's busy handler, which may let a whole run and its
    # release pass first (and the same tick run twice)
    async with write_transaction():
        return await _claim(job, now=now, holder=holder, since=since)


async def _claim(job: Job, *, now: datetime, holder: str, since: datetime | None) -> bool:
    await (
        JobLease.insert(JobLease(job_id=job.id))
        .on_conflict(target=JobLease.job_id, action="DO NOTHING")
        .run()
    )
    free = (JobLease.job_id == job.id) & (
        JobLease.expires_at.is_null() | (JobLease.expires_at <= now)
    )
    if since is not None:
        free &= JobLease.last_started_at.is_null() | (JobLease.last_started_at < since)
    won = (
        await JobLease.update(
            {
                JobLease.holder: holder,
                JobLease.expires_at: now + timedelta(seconds=job.lease_seconds),
                JobLease.last_started_at: now,
                JobLease.runs: JobLease.runs + 1,
            }
        )
        .where(free)
        .returning(JobLease.id)
        .run()
    )
    return bool(won)


async def release(job: Job, *, holder: str, result: dict[str, Any], error: str) -> None:
    await (
        JobLease.update(
            {
                JobLease.expires_at: None,
                JobLease.last_finished_at: clock.now(),
                JobLease.last_result: result,
                JobLease.last_error: error,
            }
        )
        .where((JobLease.job_id == job.id) & (JobLease.holder == holder))
        .run()
    )


async def run_job(job: Job, *, holder: str = HOLDER, tick: datetime | None = None) -> RunResult:
    """Run one tick of a job if this process wins its lease. `tick`, for a scheduled run: when
    the tick began; a run started since then was this tick's (another process's scheduler fired
    the same tick a moment earlier, and its run may already have given the lease back)."""
    now = clock.now()
    # a stop (cancellation) during the claim or the release must not leave the lease taken
    # until it expires: both run to their end, and a claim won just as the stop came is
    # given back
    try:
        won = await to_the_end(claim(job, now=now, holder=holder, since=tick))
    except asyncio.CancelledError:
        await to_the_end(release(job, holder=holder, result={}, error="stopped"))
        raise
    if not won:
        return RunResult(job.id, ran=False)
    result: dict[str, Any] = {}
    error = ""
    try:
        result = await job.function(now) or {}
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        logger.exception("job %s failed", job.id)
    except asyncio.CancelledError:
        error = "stopped"
        raise
    finally:
        await to_the_end(release(job, holder=holder, result=result, error=error))
    return RunResult(job.id, ran=True, result=result, error=error)


class Scheduler(AsyncIOScheduler):
    """APScheduler's AsyncIOScheduler with a graceful stop: `await stop()` ends the runs in
    flight and waits until each has put its work back (the delivery job records what it sent
    and frees what it had not started), so a restart neither repeats nor loses anything. A
    process that dies instead leaves its lease and claims to expire."""

    def __init__(self, *, holder: str = HOLDER, **options: Any) -> None:
        super().__init__(**options)
        self.holder = holder
        self.runs: set[asyncio.Task[Any]] = set()
        self.ticks: dict[str, tuple[BaseTrigger, timedelta]] = {}  # job id -> trigger, spacing
        self.stopping = False

    async def run(self, job: Job) -> RunResult:
        task = asyncio.current_task()
        assert task is not None
        self.runs.add(task)
        try:
            return await run_job(job, holder=self.holder, tick=self.tick_of(job.id))
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            # stop() cancelled it and waits for it: the run has put its work back, and
            # APScheduler would log the cancellation as the job's failure, with a traceback
            return RunResult(job.id, ran=True, error="stopped")
        finally:
            self.runs.discard(task)

    def tick_of(self, job_id: str) -> datetime | None:
        """When the job's current tick began (the last fire time up to now)."""
        if job_id not in self.ticks or not clock.is_system():
            return None  # ticks are told apart by time: not on a test clock that stands still
        trigger, spacing = self.ticks[job_id]
        after = clock.now() - spacing + timedelta(microseconds=1)
        return trigger.get_next_fire_time(None, after)

    async def stop(self, grace: float | None = None) -> None:
        """Stop scheduling, cancel the runs in flight and wait for them to wind down (at most
        `grace` seconds: by default the notify timeout, what a request in flight may take,
        plus 10 s)."""
        self.stopping = True
        if self.running:
            self.shutdown(wait=False)  # also cancels the runs in flight
        running = [t for t in self.runs if not t.done()]
        for task in running:
            if not task.cancelling():
                task.cancel()
        if not running:
            return
        if grace is None:
            grace = get_settings().notify_timeout_seconds + 10
        _, late = await asyncio.wait(running, timeout=grace)
        if late:
            logger.warning("%d job runs still winding down after %.0f s", len(late), grace)


def _spacing(trigger: BaseTrigger) -> timedelta:
    """The time between two of the trigger's next ticks."""
    now = datetime.now(UTC)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first) if first else None
    if first is None or second is None:
        return timedelta(0)
    return second - first


def build_scheduler(jobs: list[Job] | None = None, *, holder: str = HOLDER) -> Scheduler:
    """A Scheduler with every job; start() and `await stop()` are the caller's."""
    scheduler = Scheduler(holder=holder, timezone=_zone())
    for job in jobs if jobs is not None else JOBS:
        trigger = job.trigger()
        scheduler.ticks[job.id] = (trigger, _spacing(trigger))
        scheduler.add_job(
            scheduler.run,
            trigger=trigger,
            args=[job],
            id=job.id,
            name=job.description,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=job.lease_seconds,
            **job.options,
        )
    return scheduler


__all__ = [
    "JOBS",
    "CronTrigger",
    "IntervalTrigger",
    "Job",
    "Scheduler",
    "build_scheduler",
    "run_job",
]
