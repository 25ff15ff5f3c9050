"""Patrol plans over HTTP: what a plan must say, and who may see and change which plans."""

from __future__ import annotations

import pytest
from factories import D1, G1, G2, G3, T2

from grid_backend.areas.risk_points import create_risk_point
from grid_backend.areas.schemas import RiskPointCreate
from grid_backend.core import geo
from grid_backend.core.tables import AuditEntry


async def risk_point(lat: float, lng: float, name: str = "滑坡点") -> int:
    point = await create_risk_point(
        data=RiskPointCreate(name=name, type="landslide", risk_level="high", lat=lat, lng=lng),
        grants=None,
        actor_id=None,
    )
    return point.id


async def test_create_plan_from_risk_points_and_positions(world):
    rp = await risk_point(29.51, 106.51)
    lng, lat = geo.convert(106.53, 29.53, "wgs84", "gcj02")
    plan = await world.plan(
        checkpoints=[
            {"risk_point_id": rp, "radius_m": 80},
            {"lat": lat, "lng": lng, "datum": "gcj02", "name": "积水路段"},
        ],
        ordered=True,
        extra_rounds={"orange": 1, "red": 2},
        valid_to="2026-12-31",
    )
    assert plan["grid"]["code"] == G1
    assert plan["status"] == "active"
    assert plan["duty"] == "grid_worker"
    assert plan["employment"] == "full_time"
    assert plan["valid_from"] == "2026-03-31"  # today, local
    assert plan["extra_rounds"] == {"orange": 1, "red": 2}
    first, second = plan["checkpoints"]
    assert (first["name"], first["risk_point_id"], first["radius_m"]) == ("滑坡点", rp, 80.0)
    assert (first["lat"], first["lng"]) == (29.51, 106.51)
    assert second["name"] == "积水路段"
    assert abs(second["lat"] - 29.53) < 1e-6  # stored and answered in WGS-84
    assert second["radius_m"] == 50.0
    assert plan["next_windows"] == [
        "2026-03-31T01:00:00Z",
        "2026-04-01T01:00:00Z",
        "2026-04-02T01:00:00Z",
    ]
    audit = await AuditEntry.select().where(AuditEntry.action == "patrol_plan.create").run()
    assert [a["object_id"] for a in audit] == [str(plan["id"])]
    assert audit[0]["actor_id"] == world.dispatcher.id


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (
            {"recurrence": {"kind": "weekly", "time": "15:00"}},
            "recurrence.days",
            "recurrence_invalid",
        ),
        (
            {"recurrence": {"kind": "daily", "time": "09:00", "days": ["mon"]}},
            "recurrence.days",
            "recurrence_invalid",
        ),
        (
            {"recurrence": {"kind": "weekly", "time": "09:00", "days": ["mon", "mon"]}},
            "recurrence.days",
            "recurrence_invalid",
        ),
        (
            {"recurrence": {"kind": "weekly", "time": "09:00", "days": [1]}},
            "recurrence.days[0]",
            "invalid",
        ),
        ({"recurrence": {"kind": "daily", "time": "24:00"}}, "recurrence.time", "invalid"),
        ({"recurrence": {"kind": "hourly", "time": "09:00"}}, "recurrence.kind", "invalid"),
        ({"duty": None, "employment": None}, "account_id", "validation_failed"),
        ({"account_id": 1}, "account_id", "validation_failed"),
        ({"duty": "dispatcher", "employment": None}, "duty", "duty_unknown"),
        ({"duty": "grid_leader"}, "employment", "validation_failed"),
        ({"window_minutes": 0}, "window_minutes", "invalid"),
        ({"valid_from": "2026-05-01", "valid_to": "2026-04-01"}, "valid_to", "validation_failed"),
        ({"extra_rounds": {"purple": 1}}, "extra_rounds", "invalid"),
        ({"checkpoints": []}, "checkpoints", "invalid"),
        ({"checkpoints": [{"lat": 29.52}]}, "checkpoints[0]", "validation_failed"),
        (
            {"checkpoints": [{"risk_point_id": 7, "lat": 29.5, "lng": 106.5}]},
            "checkpoints[0]",
            "validation_failed",
        ),
        (
            {"checkpoints": [{"risk_point_id": 999}]},
            "checkpoints[0].risk_point_id",
            "risk_point_not_found",
        ),
        (
            {"checkpoints": [{"lat": 29.52, "lng": 106.52, "radius_m": 1}]},
            "checkpoints[0].radius_m",
            "invalid",
        ),
    ],
)
async def test_plan_validation(world, change, field, code):
    body = {
        "name": "巡查",
        "grid_id": world.areas[G1],
        "duty": "grid_worker",
        "employment": "full_time",
        "recurrence": {"kind": "daily", "time": "09:00"},
        "checkpoints": [{"lat": 29.52, "lng": 106.52}],
        **change,
    }
    r = await world.client.post("/api/v1/patrol-plans", json=body, headers=world.dispatcher.headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["field"] == field
    assert problem["code"] == code or problem["errors"][0]["code"] == code


async def test_the_assignee_must_hold_a_duty_in_the_grid(world):
    resident = await world.person()
    neighbour = await world.person(("grid_worker", G2))
    for person in (resident, neighbour):
        r = await world.client.post(
            "/api/v1/patrol-plans",
            json={
                "name": "巡查",
                "grid_id": world.areas[G1],
                "account_id": person.id,
                "recurrence": {"kind": "daily", "time": "09:00"},
                "checkpoints": [{"lat": 29.52, "lng": 106.52}],
            },
            headers=world.dispatcher.headers,
        )
        assert r.json()["code"] == "patrol_assignee_invalid"
    plan = await world.plan(account_id=world.worker.id, duty=None, employment=None)
    assert plan["account_id"] == world.worker.id
    assert plan["account_name"] == "周网格员"


async def test_a_risk_point_outside_the_planners_area_cannot_be_a_checkpoint(world):
    leader = await world.person(("grid_leader", G1))
    theirs = await risk_point(29.58, 106.52, "别网格的点")  # in G2
    r = await world.client.post(
        "/api/v1/patrol-plans",
        json={
            "name": "巡查",
            "grid_id": world.areas[G1],
            "duty": "grid_worker",
            "recurrence": {"kind": "daily", "time": "09:00"},
            "checkpoints": [{"risk_point_id": theirs}],
        },
        headers=leader.headers,
    )
    assert r.json()["errors"][0]["field"] == "checkpoints[0].risk_point_id"


async def test_who_may_make_see_and_change_plans(world):
    plan = await world.plan()
    path = f"/api/v1/patrol-plans/{plan['id']}"
    other_dispatcher = await world.person(("dispatcher", T2))
    supervisor = await world.person(("supervisor", D1))
    leader = await world.person(("grid_leader", G1))
    instructor = await world.person(("grid_instructor", G1))

    # a dispatcher of another township neither sees nor changes it
    assert (await world.client.get(path, headers=other_dispatcher.headers)).status_code == 404
    r = await world.client.patch(path, json={"name": "x"}, headers=other_dispatcher.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "plan_not_found"
    for action in ("pause", "resume", "end"):
        assert (await world.post(other_dispatcher, f"{path}/{action}")).status_code == 404
    listed = await world.client.get("/api/v1/patrol-plans", headers=other_dispatcher.headers)
    assert listed.json()["items"] == []
    # nor makes one in this township
    body = {
        "name": "越权",
        "grid_id": world.areas[G1],
        "duty": "grid_worker",
        "recurrence": {"kind": "daily", "time": "09:00"},
        "checkpoints": [{"lat": 29.52, "lng": 106.52}],
    }
    r = await world.client.post("/api/v1/patrol-plans", json=body, headers=other_dispatcher.headers)
    assert r.status_code == 403

    # the district supervisor and the grid's leader see and may change it
    for person in (supervisor, leader):
        assert (await world.client.get(path, headers=person.headers)).status_code == 200
        listed = await world.client.get("/api/v1/patrol-plans", headers=person.headers)
        assert [p["id"] for p in listed.json()["items"]] == [plan["id"]]
    r = await world.client.patch(path, json={"name": "网格长改名"}, headers=leader.headers)
    assert r.status_code == 200
    # a grid leader plans in their own grid only
    assert (
        await world.client.post("/api/v1/patrol-plans", json=body, headers=leader.headers)
    ).status_code == 201
    r = await world.client.post(
        "/api/v1/patrol-plans",
        json={**body, "grid_id": world.areas[G2]},
        headers=leader.headers,
    )
    assert r.status_code == 403
    # the instructor reads, but does not change; the worker patrols, but does not plan
    assert (await world.client.get(path, headers=instructor.headers)).status_code == 200
    r = await world.client.patch(path, json={"name": "x"}, headers=instructor.headers)
    assert r.status_code == 403
    assert (await world.client.get(path, headers=world.worker.headers)).status_code == 404
    assert (
        await world.client.post("/api/v1/patrol-plans", json=body, headers=world.worker.headers)
    ).status_code == 403
    # the supervisor plans anywhere in the district, also in the other township
    r = await world.client.post(
        "/api/v1/patrol-plans",
        json={**body, "grid_id": world.areas[G3]},
        headers=supervisor.headers,
    )
    assert r.status_code == 201


async def test_list_plans_filters_and_pages(world):
    first = await world.plan()
    second = await world.plan(grid_id=world.areas[G2], name="第二网格")
    await world.post(world.dispatcher, f"/api/v1/patrol-plans/{first['id']}/pause")
    get = world.client.get
    h = world.dispatcher.headers
    r = await get("/api/v1/patrol-plans", params={"status": "paused"}, headers=h)
    assert [p["id"] for p in r.json()["items"]] == [first["id"]]
    r = await get("/api/v1/patrol-plans", params={"area_id": world.areas[G2]}, headers=h)
    assert [p["id"] for p in r.json()["items"]] == [second["id"]]
    page = (await get("/api/v1/patrol-plans", params={"limit": 1}, headers=h)).json()
    assert [p["id"] for p in page["items"]] == [first["id"]]
    r = await get(
        "/api/v1/patrol-plans", params={"limit": 1, "cursor": page["next_cursor"]}, headers=h
    )
    assert [p["id"] for p in r.json()["items"]] == [second["id"]]
    assert r.json()["next_cursor"] is None


async def test_changing_who_and_checkpoints(world):
    plan = await world.plan()
    path = f"/api/v1/patrol-plans/{plan['id']}"
    old_points = [c["id"] for c in plan["checkpoints"]]
    r = await world.client.patch(
        path,
        json={"account_id": world.worker.id, "checkpoints": [{"lat": 29.545, "lng": 106.545}]},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["account_id"], changed["duty"], changed["employment"]) == (
        world.worker.id,
        None,
        None,
    )
    assert len(changed["checkpoints"]) == 1
    assert changed["checkpoints"][0]["id"] not in old_points
    tasks = await world.my_tasks(world.worker)
    assert [len(t["checkpoints"]) for t in tasks] == [1, 1]  # the new tasks, new checkpoints
    r = await world.client.patch(path, json={"duty": None}, headers=world.dispatcher.headers)
    assert r.status_code == 422
    r = await world.client.patch(path, json={"bogus": 1}, headers=world.dispatcher.headers)
    assert r.status_code == 422
    updates = (
        await AuditEntry.select()
        .where(AuditEntry.action == "patrol_plan.update")
        .output(load_json=True)
        .run()
    )
    assert len(updates) == 1
    assert updates[0]["detail"]["tasks_cancelled"] == 2
    assert updates[0]["detail"]["account_id"] == world.worker.id
