"""Patrol reminders and escalations through the outbox, on the test clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factories import G1, T1

from grid_backend import scheduler
from grid_backend.notify.tables import Notification

from .conftest import NOW

DAY = timedelta(days=1)
WINDOW = datetime(2026, 3, 31, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai on 31 March


async def _inbox(account_id: int) -> list[str]:
    rows = (
        await Notification.select(Notification.kind)
        .where((Notification.recipient == account_id) & (Notification.channel == "inbox"))
        .order_by(Notification.id)
        .run()
    )
    return [r["kind"] for r in rows]


async def _run(world, when: datetime, *job_ids: str) -> None:
    world.at(when)
    for job_id in job_ids:
        assert (await scheduler.run_job(scheduler.find(job_id))).ran


async def test_before_halfway_and_missed(world):
    leader = await world.person(("grid_leader", G1))
    await world.plan()
    await _run(world, NOW, "patrols.materialise")
    await _run(world, WINDOW - timedelta(minutes=45), "patrols.remind")
    assert await _inbox(world.worker.id) == []  # more than 30 min ahead
    await _run(world, WINDOW - timedelta(minutes=25), "patrols.remind")
    await _run(world, WINDOW - timedelta(minutes=20), "patrols.remind")  # no second reminder
    assert await _inbox(world.worker.id) == ["patrol.reminder"]
    await _run(world, WINDOW + timedelta(minutes=61), "patrols.remind")  # half of 120 min gone
    assert await _inbox(world.worker.id) == ["patrol.reminder", "patrol.not_started"]
    assert await _inbox(leader.id) == []
    await _run(world, WINDOW + timedelta(minutes=125), "patrols.mark_missed", "patrols.remind")
    await _run(world, WINDOW + timedelta(minutes=130), "patrols.remind")
    assert await _inbox(leader.id) == ["patrol.missed"]


async def test_a_started_patrol_is_not_chased(world):
    await world.plan()
    await _run(world, NOW, "patrols.materialise")
    world.at(WINDOW + timedelta(minutes=5))
    task = (await world.my_tasks(world.worker))[0]
    r = await world.post(world.worker, f"/api/v1/tasks/{task['id']}/start", {})
    assert r.status_code == 200, r.text
    await _run(world, WINDOW + timedelta(minutes=70), "patrols.remind")
    assert "patrol.not_started" not in await _inbox(world.worker.id)


async def test_three_misses_in_a_week_reach_the_township(world):
    await world.plan()
    for day in range(3):
        await _run(world, NOW + day * DAY, "patrols.materialise")
        await _run(
            world, WINDOW + day * DAY + timedelta(hours=3), "patrols.mark_missed", "patrols.remind"
        )
    assert await _inbox(world.dispatcher.id) == ["patrol.repeated_misses"]
    await _run(world, WINDOW + 2 * DAY + timedelta(hours=4), "patrols.remind")
    assert await _inbox(world.dispatcher.id) == ["patrol.repeated_misses"]  # once a week
    assert T1
