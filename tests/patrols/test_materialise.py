"""The materialiser: idempotent and race-free, follows plan changes and duty holders; the
missed-marking job."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from factories import G1, G2

from grid_backend import scheduler
from grid_backend.areas.tables import Area
from grid_backend.core import policy
from grid_backend.core.db import fetch
from grid_backend.patrols import jobs
from grid_backend.patrols.tables import PatrolPlan, PatrolTask
from grid_backend.people.schemas import AssignmentCreate
from grid_backend.people.services import create_assignment, end_assignment

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 30, 16, 30, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


async def live_tasks(plan_id: int | None = None) -> list[dict]:
    query = PatrolTask.select().where(PatrolTask.status != "cancelled")
    if plan_id is not None:
        query = query.where(PatrolTask.plan == plan_id)
    return await query.order_by(PatrolTask.window_start).run()


async def count_rows() -> int:
    """Counted in SQL, not through the ORM's rows."""
    return (await fetch("SELECT COUNT(*) AS n FROM patrol_task"))[0]["n"]


async def make_plans(world, n: int) -> list[int]:
    """n plans across two grids, created directly (the API would materialise each at once)."""
    paths = {r["id"]: r["path"] for r in await Area.select(Area.id, Area.path).run()}
    ids = []
    for i in range(n):
        grid = world.areas[G1 if i % 2 else G2]
        row = (
            await PatrolPlan.insert(
                PatrolPlan(
                    name=f"计划{i}",
                    grid=grid,
                    area_path=paths[grid],
                    duty="grid_worker",
                    recurrence={"kind": "daily", "time": f"{8 + i % 3:02d}:00"},
                    window_minutes=60,
                    valid_from=date(2026, 3, 1),
                )
            )
            .returning(PatrolPlan.id)
            .run()
        )[0]
        ids.append(row["id"])
    return ids


async def test_materialise_twice_creates_nothing_the_second_time(world):
    await make_plans(world, 7)
    job = scheduler.find("patrols.materialise")
    first = await scheduler.run_job(job)
    assert first.ran
    assert first.result["created"] == 14  # two days in 36 hours for each of 7 plans
    assert first.error == ""
    second = await scheduler.run_job(job)
    assert second.result["created"] == 0
    assert second.result["plans"] == 0  # nothing due: each plan's next occurrence is beyond
    # even a run that forgets where it stopped creates nothing twice
    await PatrolPlan.update({PatrolPlan.next_due_at: None}).where(PatrolPlan.id > 0).run()
    third = await jobs.materialise(NOW)
    assert third["plans"] == 7
    assert third["created"] == 0
    assert await count_rows() == 14


async def test_concurrent_runs_create_each_task_once(world, monkeypatch):
    monkeypatch.setattr(jobs, "BATCH", 4)  # eleven plans: three batches
    await make_plans(world, 11)
    job = scheduler.find("patrols.materialise")
    outcomes = await asyncio.gather(
        scheduler.run_job(job, holder="replica-a"), scheduler.run_job(job, holder="replica-b")
    )
    assert sorted(o.ran for o in outcomes) == [False, True]  # the lease: one runs the tick
    expected = await count_rows()
    assert expected == 22
    # without the lease (it expired mid-run, say), two runs at once still make each task once
    await PatrolTask.delete().where(PatrolTask.id > 0).run()
    await PatrolPlan.update({PatrolPlan.next_due_at: None}).where(PatrolPlan.id > 0).run()
    results = await asyncio.gather(*[jobs.materialise(NOW) for _ in range(3)])
    assert sum(r["created"] for r in results) == expected
    assert await count_rows() == expected
    pairs = await fetch(
        "SELECT plan, window_start, COUNT(*) AS n FROM patrol_task"
        " GROUP BY plan, window_start HAVING COUNT(*) > 1"
    )
    assert pairs == []


async def test_the_unique_index_refuses_a_second_live_task(world):
    plan = await world.plan()
    task = (await live_tasks(plan["id"]))[0]
    inserted = await jobs._insert_tasks(
        [
            (
                plan["id"],
                1,
                world.areas[G1],
                task["area_path"],
                None,
                task["local_date"],
                task["window_start"],
                task["window_end"],
                "scheduled",
                NOW,
            )
        ]
    )
    assert inserted == []
    assert len(await live_tasks(plan["id"])) == 2


async def test_a_changed_plan_cancels_future_tasks_and_makes_them_again(world):
    plan = await world.plan()
    world.at(local(2026, 3, 31, 9, 30))  # today's window is open
    before = await live_tasks(plan["id"])
    assert [t["window_start"] for t in before] == [local(2026, 3, 31, 9), local(2026, 4, 1, 9)]
    r = await world.client.patch(
        f"/api/v1/patrol-plans/{plan['id']}",
        json={"recurrence": {"kind": "daily", "time": "14:00"}, "window_minutes": 90},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 2
    rows = await PatrolTask.select().where(PatrolTask.plan == plan["id"]).run()
    by_start = {(t["window_start"], t["status"]): t for t in rows}
    # the open window keeps its task; tomorrow's 09:00 is cancelled; 14:00s are made
    assert (local(2026, 3, 31, 9), "scheduled") in by_start
    cancelled = by_start[(local(2026, 4, 1, 9), "cancelled")]
    assert cancelled["cancel_reason"] == "plan_changed"
    made = [t for t in rows if t["plan_revision"] == 2]
    assert sorted(t["window_start"] for t in made) == [
        local(2026, 3, 31, 14),
        local(2026, 4, 1, 14),
    ]
    assert all(t["window_end"] - t["window_start"] == timedelta(minutes=90) for t in made)
    # and going back to 09:00 re-makes tomorrow's 09:00 beside its cancelled twin
    r = await world.client.patch(
        f"/api/v1/patrol-plans/{plan['id']}",
        json={"recurrence": {"kind": "daily", "time": "09:00"}},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    live = await live_tasks(plan["id"])
    assert [(t["window_start"], t["plan_revision"]) for t in live] == [
        (local(2026, 3, 31, 9), 1),
        (local(2026, 4, 1, 9), 3),
    ]
    assert (await jobs.materialise(local(2026, 3, 31, 9, 30)))["created"] == 0


async def test_a_name_change_keeps_the_tasks(world):
    plan = await world.plan()
    ids = [t["id"] for t in await live_tasks(plan["id"])]
    r = await world.client.patch(
        f"/api/v1/patrol-plans/{plan['id']}",
        json={"name": "改名", "extra_rounds": {"red": 2, "orange": 1}},
        headers=world.dispatcher.headers,
    )
    assert r.json()["revision"] == 1
    assert r.json()["extra_rounds"] == {"red": 2, "orange": 1}
    assert [t["id"] for t in await live_tasks(plan["id"])] == ids


async def test_pause_resume_and_end(world):
    plan = await world.plan()
    path = f"/api/v1/patrol-plans/{plan['id']}"
    r = await world.post(world.dispatcher, path + "/pause")
    assert r.json()["status"] == "paused"
    assert r.json()["next_windows"] == []
    assert await live_tasks(plan["id"]) == []
    assert (await jobs.materialise(NOW))["created"] == 0  # a paused plan makes nothing
    again = await world.post(world.dispatcher, path + "/pause")
    assert again.status_code == 200  # a retry changes nothing
    r = await world.post(world.dispatcher, path + "/resume")
    assert r.json()["status"] == "active"
    assert len(await live_tasks(plan["id"])) == 2
    r = await world.post(world.dispatcher, path + "/end")
    assert r.json()["status"] == "ended"
    assert r.json()["ended_at"] is not None
    assert await live_tasks(plan["id"]) == []
    reasons = {
        t["cancel_reason"]
        for t in await PatrolTask.select(PatrolTask.cancel_reason)
        .where(PatrolTask.plan == plan["id"])
        .run()
    }
    assert reasons == {"plan_paused", "plan_ended"}
    r = await world.post(world.dispatcher, path + "/resume")
    assert r.status_code == 409
    assert r.json()["code"] == "plan_ended"
    r = await world.client.patch(path, json={"name": "x"}, headers=world.dispatcher.headers)
    assert r.json()["code"] == "plan_ended"


async def test_duty_resolution_follows_an_assignment_change_for_future_tasks_only(world):
    plan = await world.plan()
    old = world.worker
    tasks = await live_tasks(plan["id"])
    assert [t["assignee"] for t in tasks] == [old.id, old.id]  # 31 March and 1 April
    # from 2 April a new full-time worker holds the grid; the old one's duty ends 1 April
    new = await world.person(name="新网格员")
    await create_assignment(
        data=AssignmentCreate(
            duty="grid_worker",
            area_code=G1,
            account_id=new.id,
            employment="full_time",
            valid_from=date(2026, 4, 2),
        ),
        grants=None,
        actor_id=None,
    )
    held = await fetch(
        "SELECT id FROM assignment WHERE account = {} AND duty = 'grid_worker'", old.id
    )
    admin_grants = [policy.Grant("admin", 1, "500000/")]
    await end_assignment(
        assignment_id=held[0]["id"],
        valid_to=date(2026, 4, 1),
        grants=admin_grants,
        actor_id=world.dispatcher.id,
    )
    for day in range(3):
        when = NOW + timedelta(days=day)
        world.at(when)
        await jobs.materialise(when)
    tasks = await live_tasks(plan["id"])
    assert [(t["local_date"].isoformat(), t["assignee"]) for t in tasks] == [
        ("2026-03-31", old.id),  # made before the change: kept
        ("2026-04-01", old.id),
        ("2026-04-02", new.id),
        ("2026-04-03", new.id),
    ]


async def test_part_time_workers_do_not_take_a_full_time_duty(world):
    part = await world.person(("grid_worker", G2), employment="part_time")
    plan = await world.plan(grid_id=world.areas[G2])
    tasks = await live_tasks(plan["id"])
    assert [t["assignee"] for t in tasks] == [None, None]  # a gap, flagged as unassigned
    r = await world.client.get(
        "/api/v1/tasks", params={"unassigned": "true"}, headers=world.dispatcher.headers
    )
    assert [t["id"] for t in r.json()["items"]] == [t["id"] for t in tasks]
    assert all(t["unassigned"] for t in r.json()["items"])
    # any grid worker, if the plan asks for no particular employment
    r = await world.client.patch(
        f"/api/v1/patrol-plans/{plan['id']}",
        json={"employment": None},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    assert [t["assignee"] for t in await live_tasks(plan["id"])] == [part.id, part.id]


async def test_a_gap_is_filled_when_someone_takes_the_duty(world):
    plan = await world.plan(grid_id=world.areas[G2])
    assert {t["assignee"] for t in await live_tasks(plan["id"])} == {None}
    filler = await world.person(("grid_worker", G2), employment="full_time")
    result = await jobs.materialise(NOW)
    assert result["gaps_filled"] == 2
    assert {t["assignee"] for t in await live_tasks(plan["id"])} == {filler.id}


async def test_mark_missed_unstarted_and_long_unfinished_tasks(world):
    plan = await world.plan()
    first, second = await live_tasks(plan["id"])
    world.at(local(2026, 3, 31, 10, 59))
    job = scheduler.find("patrols.mark_missed")
    assert (await scheduler.run_job(job)).result == {"missed": 0, "started_unfinished": 0}
    world.at(local(2026, 3, 31, 11, 0))  # the window's last instant has passed
    assert (await scheduler.run_job(job)).result == {"missed": 1, "started_unfinished": 0}
    assert (await scheduler.run_job(job)).result == {"missed": 0, "started_unfinished": 0}
    # a started task may be finished for an hour after its window; then it is missed too
    world.at(local(2026, 4, 1, 9, 5))
    r = await world.post(world.worker, f"/api/v1/tasks/{second['id']}/start")
    assert r.status_code == 200, r.text
    world.at(local(2026, 4, 1, 11, 59))
    assert (await scheduler.run_job(job)).result == {"missed": 0, "started_unfinished": 0}
    world.at(local(2026, 4, 1, 12, 0))
    assert (await scheduler.run_job(job)).result == {"missed": 0, "started_unfinished": 1}
    rows = {t["id"]: t for t in await live_tasks(plan["id"])}
    assert rows[first["id"]]["status"] == "missed"
    assert rows[first["id"]]["started_at"] is None
    assert rows[second["id"]]["status"] == "missed"
    assert rows[second["id"]]["started_at"] == local(2026, 4, 1, 9, 5)  # kept: it was begun
