"""The rescue-team registry, managed inside one's areas; the nearest teams of each tier
suggested for an urgent case; a dispatcher sending a team and recording its steps."""

from __future__ import annotations

from factories import G1, G3, POINT_IN, file_report

from grid_backend.core import geo

CASE_AT = POINT_IN[G1]  # (29.52, 106.52)


def offset(metres_north: float, metres_east: float = 0.0) -> dict[str, float]:
    lat = CASE_AT[0] + metres_north / 111_195.0
    lng = CASE_AT[1] + metres_east / (111_195.0 * 0.8703)  # cos(29.52°)
    return {"lat": lat, "lng": lng}


async def test_managers_keep_the_teams_of_their_areas(world):
    t1 = world.areas["500103001"]
    d1 = world.areas["500103"]
    team = await world.team(world.dispatcher, name="解放碑消防站", area_ids=[t1])
    assert team["manageable"] is True
    assert [a["code"] for a in team["areas"]] == ["500103001"]
    # a base given in GCJ-02 is stored in WGS-84 and answered in either
    lng, lat = geo.convert(106.53, 29.53, "wgs84", "gcj02")
    made = await world.team(
        world.supervisor,
        tier="air",
        type="aviation",
        name="航空救援",
        base={"lat": lat, "lng": lng, "datum": "gcj02"},
        area_ids=[d1],
    )
    assert abs(made["lat"] - 29.53) < 1e-6 and abs(made["lng"] - 106.53) < 1e-6
    r = await world.client.get(
        f"/api/v1/rescue-teams/{made['id']}",
        params={"datum": "gcj02"},
        headers=world.dispatcher.headers,
    )
    assert abs(r.json()["lat"] - lat) < 1e-6
    # the township dispatcher sees the district's team but may not change it
    assert r.json()["manageable"] is False
    r = await world.client.patch(
        f"/api/v1/rescue-teams/{made['id']}",
        json={"name": "改名"},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 403
    # nor make a team for the whole district
    r = await world.client.post(
        "/api/v1/rescue-teams",
        json={
            "name": "x",
            "type": "professional",
            "tier": "ground",
            "base": {"lat": 29.5, "lng": 106.5},
            "area_ids": [d1],
        },
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 403
    # grid staff read teams but do not manage them; residents do not see them
    r = await world.client.get("/api/v1/rescue-teams", headers=world.responder.headers)
    assert [t["id"] for t in r.json()["items"]] == [team["id"], made["id"]]
    r = await world.client.post(
        "/api/v1/rescue-teams",
        json={
            "name": "x",
            "type": "community",
            "tier": "community",
            "base": {"lat": 29.5, "lng": 106.5},
            "area_ids": [world.areas[G1]],
        },
        headers=world.responder.headers,
    )
    assert r.status_code == 403
    r = await world.client.get("/api/v1/rescue-teams", headers=world.resident.headers)
    assert r.status_code == 403
    # the other township sees the district's team, not T1's own
    r = await world.client.get("/api/v1/rescue-teams", headers=world.dispatcher2.headers)
    assert [t["id"] for t in r.json()["items"]] == [made["id"]]
    r = await world.client.get(
        f"/api/v1/rescue-teams/{team['id']}", headers=world.dispatcher2.headers
    )
    assert r.status_code == 404
    assert r.json()["code"] == "team_not_found"
    # changing and retiring
    r = await world.client.patch(
        f"/api/v1/rescue-teams/{team['id']}",
        json={"contact_phone": "119", "tier": "community"},
        headers=world.dispatcher.headers,
    )
    assert (r.json()["contact_phone"], r.json()["tier"]) == ("119", "community")
    r = await world.client.delete(
        f"/api/v1/rescue-teams/{team['id']}", headers=world.dispatcher.headers
    )
    assert r.status_code == 200
    assert r.json()["active"] is False
    r = await world.client.get("/api/v1/rescue-teams", headers=world.dispatcher.headers)
    assert [t["id"] for t in r.json()["items"]] == [made["id"]]
    r = await world.client.get(
        "/api/v1/rescue-teams", params={"active": "false"}, headers=world.dispatcher.headers
    )
    assert [t["id"] for t in r.json()["items"]] == [team["id"]]
    # bad input names the field
    r = await world.client.post(
        "/api/v1/rescue-teams",
        json={
            "name": "x",
            "type": "professional",
            "tier": "sea",
            "base": {"lat": 29.5, "lng": 106.5},
            "area_ids": [t1],
        },
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "tier"


async def test_suggestions_are_the_nearest_teams_of_each_tier(world):
    t1, d1, t2 = world.areas["500103001"], world.areas["500103"], world.areas["500103002"]
    near = await world.team(world.dispatcher, name="近", base=offset(800), area_ids=[t1])
    far = await world.team(world.dispatcher, name="远", base=offset(-3000, 2000), area_ids=[t1])
    middle = await world.team(world.supervisor, name="中", base=offset(0, 1500), area_ids=[d1])
    await world.team(world.dispatcher2, name="别的街道", base=offset(100), area_ids=[t2])
    retired = await world.team(world.dispatcher, name="停用", base=offset(50), area_ids=[t1])
    await world.client.delete(
        f"/api/v1/rescue-teams/{retired['id']}", headers=world.dispatcher.headers
    )
    air = await world.team(
        world.supervisor,
        name="直升机",
        tier="air",
        type="aviation",
        base=offset(20_000),
        area_ids=[d1],
    )
    community = await world.team(
        world.dispatcher,
        name="社区应急队",
        tier="community",
        type="community",
        base=offset(300),
        area_ids=[world.areas[G1]],
    )
    case = await world.urgent(grid=G1)
    r = await world.client.get(
        f"/api/v1/reports/{case['id']}/team-suggestions", headers=world.dispatcher.headers
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert [x["team"]["id"] for x in s["ground"]] == [near["id"], middle["id"], far["id"]]
    distances = [x["distance_m"] for x in s["ground"]]
    assert abs(distances[0] - 800) < 2 and abs(distances[1] - 1500) < 5
    assert distances == sorted(distances)
    assert [x["team"]["id"] for x in s["air"]] == [air["id"]]
    assert [x["team"]["id"] for x in s["community"]] == [community["id"]]
    r = await world.client.get(
        f"/api/v1/reports/{case['id']}/team-suggestions",
        params={"per_tier": 1},
        headers=world.supervisor.headers,
    )
    assert [x["team"]["id"] for x in r.json()["ground"]] == [near["id"]]
    # dispatched teams are marked; grid staff do not dispatch
    assert (await world.dispatch(case["id"], near["id"])).status_code == 201
    r = await world.client.get(
        f"/api/v1/reports/{case['id']}/team-suggestions", headers=world.dispatcher.headers
    )
    assert [x["already_dispatched"] for x in r.json()["ground"]] == [True, False, False]
    r = await world.client.get(
        f"/api/v1/reports/{case['id']}/team-suggestions", headers=world.responder.headers
    )
    assert r.status_code == 403
    r = await world.client.get(
        f"/api/v1/reports/{case['id']}/team-suggestions", headers=world.dispatcher2.headers
    )
    assert r.status_code == 404


async def test_a_dispatcher_sends_a_team_and_records_its_steps(world):
    team = await world.team(world.dispatcher, base=offset(2000))
    case = await world.urgent(grid=G1)
    world.later(2)
    r = await world.dispatch(case["id"], team["id"])
    assert r.status_code == 201, r.text
    rec = r.json()
    assert (rec["kind"], rec["team_id"], rec["tier"], rec["status"]) == (
        "team",
        team["id"],
        "ground",
        "alerted",
    )
    assert rec["dispatched_by"] == world.dispatcher.id
    # dispatching again returns the same record
    again = await world.dispatch(case["id"], team["id"])
    assert again.status_code == 200
    assert again.json()["id"] == rec["id"]
    # the dispatcher records the team's steps; the responders of the grid may not
    r = await world.step(world.responder, case["id"], rec["id"], "acknowledge")
    assert r.status_code == 403
    world.later(1)
    assert (
        await world.step(world.dispatcher, case["id"], rec["id"], "acknowledge")
    ).status_code == 200
    assert (await world.step(world.dispatcher, case["id"], rec["id"], "set_off")).status_code == 200
    world.later(20)
    r = await world.step(world.dispatcher, case["id"], rec["id"], "arrive", near=CASE_AT)
    assert r.json()["arrival_minutes"] == 21.0
    assert r.json()["arrival_verified"] is True
    # refused: a case that is not urgent, a team retired, someone without the duty
    plain = await file_report(world.client, world.resident, grid=G1)
    r = await world.dispatch(plain["id"], team["id"])
    assert (r.status_code, r.json()["code"]) == (409, "report_not_urgent")
    other = await world.team(world.dispatcher, name="备用")
    await world.client.delete(
        f"/api/v1/rescue-teams/{other['id']}", headers=world.dispatcher.headers
    )
    r = await world.dispatch(case["id"], other["id"])
    assert (r.status_code, r.json()["code"]) == (409, "team_retired")
    r = await world.dispatch(case["id"], team["id"], by=world.worker)
    assert r.status_code == 403
    r = await world.dispatch(case["id"], 999_999)
    assert (r.status_code, r.json()["code"]) == (404, "team_not_found")
    g3_case = await world.urgent(grid=G3)
    r = await world.dispatch(g3_case["id"], team["id"])
    assert r.status_code == 404  # T1's dispatcher does not cover a case in T2
    # the console's list: urgent cases with their responses
    r = await world.client.get("/api/v1/urgent-cases", headers=world.dispatcher.headers)
    items = r.json()["items"]
    assert [c["id"] for c in items] == [case["id"]]
    assert {x["kind"] for x in items[0]["responses"]} == {"person", "team"}
    assert items[0]["waiting"] is False  # the team's arrival was verified
