"""The delivery job: `grid-backend jobs run notify.deliver` runs one tick by hand."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from grid_backend.notify import services

BATCH = 500
RUNNERS = 2  # while one run claims or records in the database, the other sends
BUDGET_SECONDS = 120.0  # then leave the rest to the next tick, well inside the job's lease


async def deliver(now: datetime) -> dict[str, Any]:
    """Send the notifications due at `now`, batch after batch, until none are left."""
    totals = {"claimed": 0, "sent": 0, "retried": 0, "dead": 0, "batches": 0}
    started = time.monotonic()

    async def runner() -> None:
        while True:
            result = await services.deliver_due(now, limit=BATCH)
            for key, value in result.items():
                totals[key] += value
            totals["batches"] += result["claimed"] > 0
            if result["claimed"] < BATCH or time.monotonic() - started > BUDGET_SECONDS:
                return

    # a task group, not gather: when the run is stopped, it waits until every runner has
    # recorded what it sent (gather would return as soon as the first one ended)
    async with asyncio.TaskGroup() as group:
        for _ in range(RUNNERS):
            group.create_task(runner())
    return totals
