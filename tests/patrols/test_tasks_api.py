"""A grid worker's patrol over HTTP: the task list, start, check-ins with their flags and
idempotent replays, finishing with a log, and who may act on whose task."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from factories import G1, G3, file_report, upload_photo

from grid_backend.core import geo
from grid_backend.patrols.tables import CheckIn

SHANGHAI = ZoneInfo("Asia/Shanghai")
CP = [(29.52, 106.52), (29.53, 106.53), (29.54, 106.54)]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def z(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def at(lat: float, lng: float, **extra: object) -> dict:
    return {"lat": lat, "lng": lng, "accuracy_m": 8.0, **extra}


async def started(world, **plan) -> tuple[dict, dict]:
    """A plan, and today's task started on time at 09:02."""
    made = await world.plan(**plan)
    world.at(local(2026, 3, 31, 9, 2))
    task = (await world.my_tasks(world.worker))[0]
    r = await world.post(world.worker, f"/api/v1/tasks/{task['id']}/start")
    assert r.status_code == 200, r.text
    return made, r.json()


async def test_my_tasks_today_and_upcoming_with_checkpoints(world):
    await world.plan()
    items = await world.my_tasks(world.worker)
    assert [(t["local_date"], t["window_start"], t["status"]) for t in items] == [
        ("2026-03-31", z(local(2026, 3, 31, 9)), "scheduled"),
        ("2026-04-01", z(local(2026, 4, 1, 9)), "scheduled"),
    ]
    first = items[0]
    assert first["window_end"] == z(local(2026, 3, 31, 11))
    assert first["grid"]["code"] == G1
    assert first["assignee_id"] == world.worker.id
    assert [(c["seq"], c["lat"], c["lng"], c["radius_m"]) for c in first["checkpoints"]] == [
        (1, 29.52, 106.52, 50.0),
        (2, 29.53, 106.53, 50.0),
        (3, 29.54, 106.54, 50.0),
    ]
    assert not any(c["checked_in"] for c in first["checkpoints"])
    # in the datum of the client's map
    gcj = await world.my_tasks(world.worker, datum="gcj02")
    lng, lat = geo.convert(106.52, 29.52, "wgs84", "gcj02")
    assert gcj[0]["checkpoints"][0]["datum"] == "gcj02"
    assert abs(gcj[0]["checkpoints"][0]["lat"] - lat) < 1e-6
    assert abs(gcj[0]["checkpoints"][0]["lng"] - lng) < 1e-6
    # someone else's list is empty; a page of one has a cursor to the next
    assert await world.my_tasks(world.dispatcher) == []
    r = await world.client.get(
        "/api/v1/me/tasks", params={"limit": 1}, headers=world.worker.headers
    )
    page = r.json()
    assert [t["local_date"] for t in page["items"]] == ["2026-03-31"]
    r = await world.client.get(
        "/api/v1/me/tasks",
        params={"limit": 1, "cursor": page["next_cursor"]},
        headers=world.worker.headers,
    )
    assert [t["local_date"] for t in r.json()["items"]] == ["2026-04-01"]
    assert r.json()["next_cursor"] is None
    r = await world.client.get(
        "/api/v1/me/tasks", params={"cursor": "bogus"}, headers=world.worker.headers
    )
    assert r.status_code == 422
    # the next day yesterday's task drops off, unless it is still in progress
    world.at(local(2026, 4, 1, 8, 0))
    assert [t["local_date"] for t in await world.my_tasks(world.worker)] == ["2026-04-01"]
    world.at(local(2026, 3, 31, 10, 59))
    await world.post(world.worker, f"/api/v1/tasks/{first['id']}/start")
    world.at(local(2026, 4, 1, 8, 0))
    assert [(t["local_date"], t["status"]) for t in await world.my_tasks(world.worker)] == [
        ("2026-03-31", "in_progress"),
        ("2026-04-01", "scheduled"),
    ]


async def test_start_window_and_punctuality(world):
    await world.plan()
    task = (await world.my_tasks(world.worker))[0]
    path = f"/api/v1/tasks/{task['id']}/start"
    world.at(local(2026, 3, 31, 8, 29))  # more than 30 minutes early
    r = await world.post(world.worker, path)
    assert r.status_code == 409
    assert r.json()["code"] == "task_window_closed"
    world.at(local(2026, 3, 31, 9, 16))  # late by more than 15 minutes, still in the window
    r = await world.post(world.worker, path, {"device_time": "2026-03-31T09:15:30+08:00"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"
    assert r.json()["started_on_time"] is False
    assert r.json()["started_at"] == z(local(2026, 3, 31, 9, 16))
    assert (await world.post(world.worker, path)).status_code == 200  # a retry
    second = (await world.my_tasks(world.worker))[1]
    world.at(local(2026, 4, 1, 11, 0))  # its window has closed
    r = await world.post(world.worker, f"/api/v1/tasks/{second['id']}/start")
    assert r.json()["code"] == "task_window_closed"


async def test_check_in_flags_radius_mock_and_order(world):
    _, task = await started(world, ordered=True)
    cps = [c["id"] for c in task["checkpoints"]]
    path = f"/api/v1/tasks/{task['id']}/check-ins"
    photo = await upload_photo(world.client, world.worker)

    # the second checkpoint first: out of order, otherwise fine
    r = await world.post(
        world.worker,
        path,
        {
            "checkpoint_id": cps[1],
            "location": at(*CP[1]),
            "photo_ids": [photo],
            "note": "路面积水",
            "device_time": "2026-03-31T09:10:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["out_of_order"] is True
    assert body["within_radius"] is True
    assert body["distance_m"] == 0.0
    assert body["flagged"] is True
    assert body["photo_ids"] == [photo]
    assert body["device_time"] == "2026-03-31T01:10:00Z"
    assert body["at"] == z(local(2026, 3, 31, 9, 2))  # server time, next to the device's

    # the first one, about 111 m off (north): accepted, flagged outside the radius
    r = await world.post(
        world.worker, path, {"checkpoint_id": cps[0], "location": at(CP[0][0] + 0.001, CP[0][1])}
    )
    body = r.json()
    assert r.status_code == 201
    assert body["within_radius"] is False
    assert 105 < body["distance_m"] < 117
    assert body["out_of_order"] is False
    assert body["flagged"] is True

    # the third, from a mock location, sent in GCJ-02 at the checkpoint: converted, in range
    lng, lat = geo.convert(CP[2][1], CP[2][0], "wgs84", "gcj02")
    r = await world.post(
        world.worker,
        path,
        {
            "checkpoint_id": cps[2],
            "location": at(lat, lng, datum="gcj02", is_mock=True, source="network"),
        },
    )
    body = r.json()
    assert body["is_mock"] is True
    assert body["within_radius"] is True
    assert body["distance_m"] < 1
    assert body["out_of_order"] is False
    assert body["flagged"] is True
    assert (body["sent_datum"], body["sent_lat"]) == ("gcj02", lat)

    # a clean check-in is not flagged
    r = await world.post(world.worker, path, {"checkpoint_id": cps[0], "location": at(*CP[0])})
    assert r.json()["flagged"] is False

    detail = (
        await world.client.get(f"/api/v1/tasks/{task['id']}", headers=world.worker.headers)
    ).json()
    assert [c["check_ins"] for c in detail["checkpoints"]] == [2, 1, 1]
    assert len(detail["check_ins"]) == 4
    assert detail["check_ins"][0]["photo_ids"] == [photo]


async def test_check_in_checks_its_input(world):
    _, task = await started(world)
    path = f"/api/v1/tasks/{task['id']}/check-ins"
    cp = task["checkpoints"][0]["id"]
    r = await world.post(world.worker, path, {"checkpoint_id": 999999, "location": at(*CP[0])})
    assert r.status_code == 422
    assert r.json()["code"] == "checkpoint_unknown"
    stranger = await world.person()
    theirs = await upload_photo(world.client, stranger)
    r = await world.post(
        world.worker,
        path,
        {"checkpoint_id": cp, "location": at(*CP[0]), "photo_ids": [theirs]},
    )
    assert r.json()["code"] == "photo_not_yours"
    r = await world.post(
        world.worker,
        path,
        {"checkpoint_id": cp, "location": {"lat": 29.5, "lng": 106.5, "datum": "utm"}},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "location.datum"
    # not started: nothing to check in to
    world.at(local(2026, 3, 31, 9, 30))
    tomorrow = (await world.my_tasks(world.worker))[1]
    r = await world.post(
        world.worker,
        f"/api/v1/tasks/{tomorrow['id']}/check-ins",
        {"checkpoint_id": tomorrow["checkpoints"][0]["id"], "location": at(*CP[0])},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "task_state_conflict"


async def test_a_replayed_check_in_returns_the_first(world):
    _, task = await started(world)
    path = f"/api/v1/tasks/{task['id']}/check-ins"
    body = {"checkpoint_id": task["checkpoints"][0]["id"], "location": at(*CP[0])}
    first = await world.post(world.worker, path, body, **{"Idempotency-Key": "phone-0001-a"})
    assert first.status_code == 201
    world.at(local(2026, 3, 31, 9, 7))  # the phone retries later, on a better network
    again = await world.post(world.worker, path, body, **{"Idempotency-Key": "phone-0001-a"})
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = {**body, "note": "不同内容"}
    r = await world.post(world.worker, path, other, **{"Idempotency-Key": "phone-0001-a"})
    assert r.status_code == 409
    assert r.json()["code"] == "idempotency_conflict"
    # the same with a client_id in the body
    with_id = {**body, "client_id": "c9a1c6f0-0001"}
    one = await world.post(world.worker, path, with_id)
    two = await world.post(world.worker, path, with_id)
    assert (one.status_code, two.status_code) == (201, 200)
    assert one.json()["id"] == two.json()["id"]
    assert await CheckIn.count().where(CheckIn.task == task["id"]).run() == 2


async def test_finish_lists_skipped_checkpoints_and_links_own_reports(world):
    _, task = await started(world)
    path = f"/api/v1/tasks/{task['id']}"
    cps = [c["id"] for c in task["checkpoints"]]
    await world.post(
        world.worker, path + "/check-ins", {"checkpoint_id": cps[1], "location": at(*CP[1])}
    )
    mine = await file_report(world.client, world.worker)
    resident = await world.person()
    theirs = await file_report(world.client, resident)
    log = {
        "households_visited": 12,
        "issues_found": 2,
        "fixed_on_spot": 1,
        "hazard_report_ids": [mine["id"], theirs["id"]],
        "narrative": "巡查三个点位，一处积水已处理。",
        "device_time": "2026-03-31T10:40:00+08:00",
    }
    r = await world.post(world.worker, path + "/finish", log)
    assert r.status_code == 422
    assert r.json()["code"] == "patrol_report_invalid"
    r = await world.post(
        world.worker, path + "/finish", {**log, "fixed_on_spot": 3, "hazard_report_ids": []}
    )
    assert r.json()["errors"][0]["field"] == "fixed_on_spot"
    world.at(local(2026, 3, 31, 10, 41))
    r = await world.post(world.worker, path + "/finish", {**log, "hazard_report_ids": [mine["id"]]})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed"
    assert done["finished_at"] == z(local(2026, 3, 31, 10, 41))
    assert done["skipped_checkpoint_ids"] == [cps[0], cps[2]]
    assert [c["checked_in"] for c in done["checkpoints"]] == [False, True, False]
    assert done["log"]["households_visited"] == 12
    assert done["log"]["hazard_report_ids"] == [mine["id"]]
    assert done["log"]["device_time"] == "2026-03-31T02:40:00Z"
    again = await world.post(world.worker, path + "/finish", log)
    assert again.status_code == 200  # a retried finish returns the finished task
    assert again.json()["log"] == done["log"]
    r = await world.post(
        world.worker, path + "/check-ins", {"checkpoint_id": cps[0], "location": at(*CP[0])}
    )
    assert r.json()["code"] == "task_state_conflict"


async def test_a_report_filed_before_the_patrol_cannot_be_linked(world):
    await world.plan()
    world.at(local(2026, 3, 31, 7, 0))
    early = await file_report(world.client, world.worker)
    world.at(local(2026, 3, 31, 9, 0))
    task = (await world.my_tasks(world.worker))[0]
    await world.post(world.worker, f"/api/v1/tasks/{task['id']}/start")
    r = await world.post(
        world.worker, f"/api/v1/tasks/{task['id']}/finish", {"hazard_report_ids": [early["id"]]}
    )
    assert r.json()["code"] == "patrol_report_invalid"


async def test_no_one_acts_on_another_persons_task(world):
    _, task = await started(world)
    path = f"/api/v1/tasks/{task['id']}"
    colleague = await world.person(("grid_worker", G1), employment="part_time")
    elsewhere = await world.person(("grid_worker", G3))
    cp = {"checkpoint_id": task["checkpoints"][0]["id"], "location": at(*CP[0])}
    for person in (colleague, elsewhere):
        assert (await world.client.get(path, headers=person.headers)).status_code == 404
        assert (await world.post(person, path + "/start")).status_code == 404
        r = await world.post(person, path + "/check-ins", cp)
        assert r.status_code == 404
        assert r.json()["code"] == "task_not_found"
        assert (await world.post(person, path + "/finish", {})).status_code == 404
    # the dispatcher sees the task, but patrolling it is the worker's
    assert (await world.client.get(path, headers=world.dispatcher.headers)).status_code == 200
    assert (await world.post(world.dispatcher, path + "/check-ins", cp)).status_code == 403
    # and the list of tasks is scoped to the caller's area
    r = await world.client.get("/api/v1/tasks", headers=elsewhere.headers)
    assert r.json()["items"] == []


async def test_window_edges_for_starting(world):
    await world.plan()
    first, second = await world.my_tasks(world.worker)
    world.at(local(2026, 3, 31, 8, 30))  # exactly 30 minutes early: allowed, on time
    r = await world.post(world.worker, f"/api/v1/tasks/{first['id']}/start")
    assert (r.status_code, r.json()["started_on_time"]) == (200, True)
    world.at(local(2026, 4, 1, 9, 15))  # exactly 15 minutes late: still on time
    r = await world.post(world.worker, f"/api/v1/tasks/{second['id']}/start")
    assert r.json()["started_on_time"] is True
    third = await world.plan(recurrence={"kind": "daily", "time": "10:00"}, window_minutes=30)
    task = next(t for t in await world.my_tasks(world.worker) if t["plan_id"] == third["id"])
    world.at(datetime.fromisoformat(task["window_end"]))  # the window's end is outside it
    r = await world.post(world.worker, f"/api/v1/tasks/{task['id']}/start")
    assert r.json()["code"] == "task_window_closed"


async def test_a_check_in_sent_twice_at_once_is_stored_once(world):
    _, task = await started(world)
    body = {
        "checkpoint_id": task["checkpoints"][0]["id"],
        "location": at(*CP[0]),
        "client_id": "0b5c1e7a-race",
    }
    path = f"/api/v1/tasks/{task['id']}/check-ins"
    responses = await asyncio.gather(*[world.post(world.worker, path, body) for _ in range(4)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await CheckIn.count().where(CheckIn.task == task["id"]).run() == 1
