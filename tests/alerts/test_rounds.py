"""Extra patrol rounds under a warning: as many as the plan asks for at the level, made once,
following the warning's changes, cancelled when it is lifted or ends early."""

from __future__ import annotations

from datetime import timedelta

from factories import G1, G3

from grid_backend.alerts.tables import WarningRound
from grid_backend.patrols.tables import PatrolTask
from grid_backend.settings import get_settings

CP = [(29.52, 106.52), (29.53, 106.53)]


async def make_plan(world, grid: str = G1, time: str = "09:00", **extra) -> dict:
    body = {
        "name": "风险点巡查",
        "grid_id": world.areas[grid],
        "duty": "grid_worker",
        "recurrence": {"kind": "daily", "time": time},
        "window_minutes": 60,
        "checkpoints": [{"lat": lat, "lng": lng} for lat, lng in CP],
        "extra_rounds": {"yellow": 1, "red": 2},
    }
    body.update(extra)
    by = world.dispatcher if grid != G3 else world.other_dispatcher
    r = await world.post(by, "/api/v1/patrol-plans", body)
    assert r.status_code == 201, r.text
    return r.json()


async def extra_tasks(plan_id: int) -> list[dict]:
    """The plan's tasks made by warnings, in window order."""
    links = await WarningRound.select(WarningRound.task).where(WarningRound.plan == plan_id)
    ids = [link["task"] for link in links if link["task"]]
    if not ids:
        return []
    return (
        await PatrolTask.select()
        .where(PatrolTask.id.is_in(ids))
        .order_by(PatrolTask.window_start)
        .run()
    )


def local(t: dict) -> str:
    return t["window_start"].astimezone(get_settings().zone).strftime("%H:%M")


async def patch(world, warning_id: int, body: dict) -> dict:
    r = await world.client.patch(
        f"/api/v1/warnings/{warning_id}", json=body, headers=world.dispatcher.headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_red_warning_adds_the_plans_red_rounds_over_its_period(world):
    plan = await make_plan(world)
    other = await make_plan(world, grid=G3)  # outside the warning
    none = await make_plan(world, extra_rounds={})  # asks for no rounds
    regular = await PatrolTask.count().where(PatrolTask.plan == plan["id"])
    w = await world.warn(level="red")  # 10:00 for 24 h
    assert w["extra_tasks"] == 2
    tasks = await extra_tasks(plan["id"])
    assert [local(t) for t in tasks] == ["10:00", "22:00"]
    worker = world.teams[G1]["grid_worker"]
    assert {t["assignee"] for t in tasks} == {worker.id}
    assert {t["status"] for t in tasks} == {"scheduled"}
    assert tasks[0]["window_end"] - tasks[0]["window_start"] == timedelta(minutes=60)
    assert await extra_tasks(other["id"]) == [] and await extra_tasks(none["id"]) == []
    # the worker sees them among their tasks
    r = await world.get(worker, "/api/v1/me/tasks")
    assert {t["id"] for t in tasks} <= {t["id"] for t in r.json()["items"]}
    # changing only the text makes nothing twice
    await patch(world, w["id"], {"message": "继续防范"})
    assert len(await extra_tasks(plan["id"])) == 2
    assert await PatrolTask.count().where(PatrolTask.plan == plan["id"]) == regular + 2


async def test_rounds_follow_the_level_and_the_end(world):
    plan = await make_plan(world)
    w = await world.warn(level="red")
    first, second = await extra_tasks(plan["id"])
    lowered = await patch(world, w["id"], {"level": "yellow"})  # one round at yellow
    assert lowered["extra_tasks"] == 1
    cancelled = await PatrolTask.select().where(PatrolTask.id == second["id"]).first()
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "warning_changed"
    orange = await patch(world, w["id"], {"level": "orange"})  # the plan has no orange rounds
    assert orange["extra_tasks"] == 0
    world.advance(hours=1)
    raised = await patch(world, w["id"], {"level": "red"})
    assert raised["extra_tasks"] == 2
    again = await extra_tasks(plan["id"])
    assert [t["status"] for t in again] == ["scheduled", "scheduled"]
    assert {t["id"] for t in again}.isdisjoint({first["id"], second["id"]})
    assert await WarningRound.count().where(WarningRound.plan == plan["id"]) == 2
    # ending early (at 16:00) cancels the round of 22:00-ish, keeps the one that starts before
    ended = await patch(
        world, w["id"], {"expires_at": (world.now + timedelta(hours=5)).isoformat()}
    )
    assert ended["extra_tasks"] == 1
    kept = [t for t in await extra_tasks(plan["id"]) if t["status"] != "cancelled"]
    assert len(kept) == 1 and kept[0]["window_start"] < world.now + timedelta(hours=5)
    cut = [t for t in await extra_tasks(plan["id"]) if t["status"] == "cancelled"]
    assert [t["cancel_reason"] for t in cut] == ["warning_ended"]
    # and it stays cut off when the warning changes again
    again = await patch(world, w["id"], {"message": "注意"})
    assert again["extra_tasks"] == 1


async def test_lifting_the_warning_cancels_rounds_nobody_started(world):
    plan = await make_plan(world)
    w = await world.warn(level="red")
    first, _ = await extra_tasks(plan["id"])
    worker = world.teams[G1]["grid_worker"]
    r = await world.post(worker, f"/api/v1/tasks/{first['id']}/start", {})
    assert r.status_code == 200, r.text
    r = await world.post(world.dispatcher, f"/api/v1/warnings/{w['id']}/cancel", {"reason": "解除"})
    assert r.json()["extra_tasks"] == 1  # the patrol under way goes on
    statuses = {t["id"]: (t["status"], t["cancel_reason"]) for t in await extra_tasks(plan["id"])}
    assert statuses[first["id"]] == ("in_progress", None)
    assert sorted(statuses.values())[0] == ("cancelled", "warning_cancelled")


async def test_a_round_starting_with_a_regular_task_moves_on_a_minute(world):
    plan = await make_plan(world, time="10:00")  # today's regular task starts at 10:00 too
    await world.warn(level="yellow")
    (task,) = await extra_tasks(plan["id"])
    assert local(task) == "10:01"
