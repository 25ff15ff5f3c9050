"""Timed jobs: the one list of jobs, and the database lease that makes each tick run once.

Every server process (and `grid-backend scheduler`) runs an APScheduler AsyncIOScheduler with
the jobs below. Before a job runs, it claims its row in `job_lease` with one conditional
UPDATE; only the process whose claim succeeds does the work, the others skip the tick. Jobs
are idempotent (unique keys, not luck), so a crash mid-run or a repeated run changes nothing."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from grid_backend.core import clock
from grid_backend.core.tables import JobLease
from grid_backend.hazards import jobs as hazard_jobs
from grid_backend.notify.jobs import deliver as deliver_notifications
from grid_backend.patrols import jobs as patrol_jobs
from grid_backend.patrols import reminders as patrol_reminders
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


async def prune_refresh_tokens(now: datetime) -> dict[str, Any]:
    """Delete refresh tokens that expired more than a week ago."""
    from grid_backend.people.tables import RefreshToken

    gone = (
        await RefreshToken.delete()
        .where(RefreshToken.expires_at < now - timedelta(days=7))
        .returning(RefreshToken.id)
        .run()
    )
    return {"deleted": len(gone)}


def _zone() -> Any:
    return get_settings().zone


# The one explicit list of jobs. Each domain's job function lives in that domain.
JOBS: list[Job] = [
    Job(
        "people.prune_refresh_tokens",
        lambda: CronTrigger(hour=3, minute=30, timezone=_zone()),
        prune_refresh_tokens,
        "delete refresh tokens expired more than 7 days ago",
    ),
    Job(
        "notify.deliver",
        lambda: IntervalTrigger(seconds=get_settings().notify_interval_seconds, timezone=_zone()),
        deliver_notifications,
        "send due notifications: push, SMS and scheduled inbox items, with retries",
    ),
    Job(
        "patrols.materialise",
        lambda: IntervalTrigger(minutes=10, timezone=_zone()),
        patrol_jobs.materialise,
        "make the patrol tasks of the next GRID_PATROL_HORIZON_HOURS from the plans",
        lease_seconds=900,
    ),
    Job(
        "patrols.mark_missed",
        lambda: IntervalTrigger(minutes=5, timezone=_zone()),
        patrol_jobs.mark_missed,
        "mark patrol tasks whose window ended unfinished as missed",
    ),
    Job(
        "hazards.remind_deadlines",
        lambda: IntervalTrigger(minutes=5, timezone=_zone()),
        hazard_jobs.remind_deadlines,
        "remind before case deadlines and escalate overdue cases up the area tree",
    ),
    Job(
        "patrols.remind",
        lambda: IntervalTrigger(minutes=5, timezone=_zone()),
        patrol_reminders.remind_patrols,
        "remind before patrol windows, at half-window without a start, and escalate misses",
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


async def claim(job: Job, *, now: datetime, holder: str = HOLDER) -> bool:
    """Take the job's lease if it is free (or expired); one statement, so it is atomic."""
    await (
        JobLease.insert(JobLease(job_id=job.id))
        .on_conflict(target=JobLease.job_id, action="DO NOTHING")
        .run()
    )
    won = (
        await JobLease.update(
            {
                JobLease.holder: holder,
                JobLease.expires_at: now + timedelta(seconds=job.lease_seconds),
                JobLease.last_started_at: now,
                JobLease.runs: JobLease.runs + 1,
            }
        )
        .where(
            (JobLease.job_id == job.id)
            & (JobLease.expires_at.is_null() | (JobLease.expires_at <= now))
        )
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


async def run_job(job: Job, *, holder: str = HOLDER) -> RunResult:
    """Run one tick of a job if this process wins its lease."""
    now = clock.now()
    if not await claim(job, now=now, holder=holder):
        return RunResult(job.id, ran=False)
    result: dict[str, Any] = {}
    error = ""
    try:
        result = await job.function(now) or {}
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        logger.exception("job %s failed", job.id)
    finally:
        await release(job, holder=holder, result=result, error=error)
    return RunResult(job.id, ran=True, result=result, error=error)


def build_scheduler(jobs: list[Job] | None = None) -> AsyncIOScheduler:
    """An AsyncIOScheduler with every job; start() and shutdown() are the caller's."""
    scheduler = AsyncIOScheduler(timezone=_zone())
    for job in jobs if jobs is not None else JOBS:
        scheduler.add_job(
            run_job,
            trigger=job.trigger(),
            args=[job],
            id=job.id,
            name=job.description,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=job.lease_seconds,
            **job.options,
        )
    return scheduler


__all__ = ["JOBS", "CronTrigger", "IntervalTrigger", "Job", "build_scheduler", "run_job"]
