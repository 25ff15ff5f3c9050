"""Supervisors: excusing missed patrols (audited, in their area) and the completion and
punctuality figures, checked against numbers worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from factories import D1, G1, G2, G3, T2

from grid_backend import scheduler
from grid_backend.core.tables import AuditEntry

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


async def run(job_id: str) -> dict:
    return (await scheduler.run_job(scheduler.find(job_id))).result


async def patrol(world, person, task_id: int, *, start: datetime, finish: datetime | None) -> None:
    world.at(start)
    r = await world.post(person, f"/api/v1/tasks/{task_id}/start")
    assert r.status_code == 200, r.text
    if finish is not None:
        world.at(finish)
        r = await world.post(person, f"/api/v1/tasks/{task_id}/finish", {"households_visited": 3})
        assert r.status_code == 200, r.text


async def test_excuse_a_missed_task(world):
    await world.plan()
    task = (await world.my_tasks(world.worker))[0]
    path = f"/api/v1/tasks/{task['id']}/excuse"
    r = await world.post(world.dispatcher, path, {"reason": "暴雨停课"})
    assert r.status_code == 409  # not missed (yet)
    assert r.json()["code"] == "task_state_conflict"
    world.at(local(2026, 3, 31, 11, 0))
    assert (await run("patrols.mark_missed"))["missed"] == 1

    other = await world.person(("dispatcher", T2))
    leader = await world.person(("grid_leader", G1))
    r = await world.post(other, path, {"reason": "x"})
    assert (r.status_code, r.json()["code"]) == (404, "task_not_found")
    assert (await world.post(world.worker, path, {"reason": "生病"})).status_code == 403
    assert (await world.post(leader, path, {"reason": "生病"})).status_code == 403
    r = await world.post(world.dispatcher, path, {"reason": "   "})
    assert r.status_code == 422
    r = await world.post(world.dispatcher, path, {"reason": "暴雨红色预警，全员转移群众"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["excused"]) == ("missed", True)
    assert body["excuse_reason"] == "暴雨红色预警，全员转移群众"
    again = await world.post(world.dispatcher, path, {"reason": "再次"})
    assert again.status_code == 409
    entries = (
        await AuditEntry.select()
        .where(AuditEntry.action == "patrol_task.excuse")
        .output(load_json=True)
        .run()
    )
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor_id"] == world.dispatcher.id
    assert entry["object_id"] == str(task["id"])
    assert entry["area_path"].endswith(f"{G1}/")
    assert entry["detail"] == {
        "reason": "暴雨红色预警，全员转移群众",
        "assignee_id": world.worker.id,
    }


async def test_stats_by_grid_and_person_match_hand_counts(world):
    supervisor = await world.person(("supervisor", D1))
    w1 = world.worker
    w2 = await world.person(("grid_worker", G2), name="吴网格员")
    await world.plan()  # A: G1, the full-time worker (w1), 09:00
    await world.plan(grid_id=world.areas[G2], account_id=w2.id, duty=None, employment=None)  # B
    await world.plan(supervisor, grid_id=world.areas[G3])  # C: G3 has no worker: unassigned
    await world.plan(  # P: G1, w1, 20:00
        account_id=w1.id, duty=None, employment=None, recurrence={"kind": "daily", "time": "20:00"}
    )
    q = await world.plan(recurrence={"kind": "daily", "time": "13:00"})  # Q: ended at once
    await world.post(world.dispatcher, f"/api/v1/patrol-plans/{q['id']}/end")

    mine = {t["window_start"]: t["id"] for t in await world.my_tasks(w1)}
    theirs = {t["window_start"]: t["id"] for t in await world.my_tasks(w2)}
    a1 = mine["2026-03-31T01:00:00Z"]
    a2 = mine["2026-04-01T01:00:00Z"]
    p1 = mine["2026-03-31T12:00:00Z"]
    b1 = theirs["2026-03-31T01:00:00Z"]
    await patrol(world, w1, a1, start=local(2026, 3, 31, 9, 2), finish=local(2026, 3, 31, 10))
    await patrol(world, w2, b1, start=local(2026, 3, 31, 9, 20), finish=local(2026, 3, 31, 10, 30))
    await patrol(world, w1, p1, start=local(2026, 3, 31, 20, 5), finish=None)  # never finished
    world.at(local(2026, 4, 1, 12, 0))
    assert await run("patrols.mark_missed") == {"missed": 4, "started_unfinished": 1}
    created = (await run("patrols.materialise"))["created"]
    assert created == 5  # P's 1 and 2 April 20:00, and A, B, C on 2 April (out of the period)
    r = await world.post(world.dispatcher, f"/api/v1/tasks/{a2}/excuse", {"reason": "培训"})
    assert r.status_code == 200

    period = {"from": "2026-03-31", "to": "2026-04-01"}
    r = await world.client.get(
        "/api/v1/patrols/stats",
        params={**period, "area_id": world.areas[D1], "group_by": "grid"},
        headers=supervisor.headers,
    )
    assert r.status_code == 200, r.text
    stats = r.json()
    counts = ("tasks", "completed", "missed", "excused", "pending", "started", "on_time_starts")

    def row(item: dict) -> tuple:
        return (*(item[k] for k in counts), item["completion_rate"], item["on_time_rate"])

    # G1: A1 done on time, A2 excused, P1 begun on time and missed, P2 (1 April 20:00) pending
    # G2: B1 done late, B2 missed; G3: both missed, nobody to do them
    assert [(i["grid"]["code"], row(i)) for i in stats["items"]] == [
        (G1, (4, 1, 1, 1, 1, 2, 2, 0.5, 1.0)),
        (G2, (2, 1, 1, 0, 0, 1, 0, 0.5, 0.0)),
        (G3, (2, 0, 2, 0, 0, 0, 0, 0.0, None)),
    ]
    assert row(stats["totals"]) == (8, 2, 4, 1, 1, 3, 2, 0.3333, 0.6667)
    assert stats["unassigned"] == 2
    assert (stats["date_from"], stats["date_to"], stats["group_by"]) == (
        "2026-03-31",
        "2026-04-01",
        "grid",
    )

    # the township's dispatcher: their two grids only, by person
    r = await world.client.get(
        "/api/v1/patrols/stats",
        params={**period, "group_by": "person"},
        headers=world.dispatcher.headers,
    )
    stats = r.json()
    assert [(i["account_id"], i["account_name"], row(i)) for i in stats["items"]] == [
        (w1.id, "周网格员", (4, 1, 1, 1, 1, 2, 2, 0.5, 1.0)),
        (w2.id, "吴网格员", (2, 1, 1, 0, 0, 1, 0, 0.5, 0.0)),
    ]
    assert row(stats["totals"]) == (6, 2, 2, 1, 1, 3, 2, 0.5, 0.6667)
    assert stats["unassigned"] == 0

    # one day, one page at a time
    one_day = {"from": "2026-04-01", "to": "2026-04-01", "limit": 1}
    page = (
        await world.client.get("/api/v1/patrols/stats", params=one_day, headers=supervisor.headers)
    ).json()
    assert [(i["grid"]["code"], i["tasks"]) for i in page["items"]] == [(G1, 2)]
    page = (
        await world.client.get(
            "/api/v1/patrols/stats",
            params={**one_day, "cursor": page["next_cursor"]},
            headers=supervisor.headers,
        )
    ).json()
    assert [(i["grid"]["code"], i["tasks"]) for i in page["items"]] == [(G2, 1)]

    # outside one's area, or without oversight: refused
    r = await world.client.get(
        "/api/v1/patrols/stats",
        params={"area_id": world.areas[G3]},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 403
    r = await world.client.get("/api/v1/patrols/stats", headers=w1.headers)
    assert r.status_code == 403
    r = await world.client.get(
        "/api/v1/patrols/stats",
        params={"from": "2026-04-02", "to": "2026-04-01"},
        headers=supervisor.headers,
    )
    assert r.status_code == 422
