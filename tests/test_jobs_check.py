"""`grid-backend jobs check`: the health check of a separate scheduler process (compose's
`scheduler` service) says whether a job has finished a run lately."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from grid_backend.core import clock
from grid_backend.core.tables import JobLease

ROOT = Path(__file__).resolve().parents[1]


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grid_backend.cli", "jobs", "check", *args],
        env=os.environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_healthy_only_while_the_job_keeps_finishing(db) -> None:
    never = _check()
    assert never.returncode == 1 and "notify.deliver: last finished never" in never.stderr
    await JobLease.insert(
        JobLease(job_id="notify.deliver", last_finished_at=clock.now() - timedelta(seconds=30))
    ).run()
    fresh = _check("--within", "120")
    assert fresh.returncode == 0, fresh.stderr
    assert "notify.deliver: finished 3" in fresh.stdout  # about 30 s ago
    stale = _check("--within", "10")
    assert stale.returncode == 1 and "over 10 s ago" in stale.stderr
    unknown = _check("--job", "no.such.job")
    assert unknown.returncode == 1 and "no job 'no.such.job'" in unknown.stderr
