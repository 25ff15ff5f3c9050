"""The risk map's layers: grids with open cases and risk level, risk points, a grid's team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factories import D1, G1, G2, G3, G4, POINT_IN, T1, file_report, make_person, make_tree
from shapely.geometry import shape

from grid_backend.core import clock, geo
from grid_backend.core.security import issue_access_token


async def add_point(client, person, grid, level, name="滑坡点"):
    lat, lng = POINT_IN[grid]
    r = await client.post(
        "/api/v1/risk-points",
        json={"name": name, "type": "landslide", "risk_level": level, "lat": lat, "lng": lng},
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_grids_carry_open_case_counts_and_the_highest_risk_level(client):
    ids = await make_tree()
    start = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)
    clock.set_clock(lambda: start)
    dispatcher = await make_person(("dispatcher", T1))
    resident = await make_person()
    await add_point(client, dispatcher, G1, "medium")
    await add_point(client, dispatcher, G1, "major", name="危岩")
    await file_report(client, resident, grid=G1)
    await file_report(client, resident, grid=G1, urgent=True)
    await file_report(client, resident, grid=G2)
    rejected = await file_report(client, resident, grid=G2)
    r = await client.post(
        f"/api/v1/reports/{rejected['id']}/actions",
        json={"action": "reject", "reason": "重复"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    clock.set_clock(lambda: start + timedelta(hours=2))  # past the 1 h triage deadline
    token, _ = issue_access_token(dispatcher.id)

    r = await client.get("/api/v1/map/grids", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert body["area"]["code"] == T1  # the caller's own area by default
    assert body["truncated"] is False
    by_code = {f["properties"]["code"]: f for f in body["features"]}
    assert set(by_code) == {G1, G2}
    g1 = by_code[G1]["properties"]
    assert (g1["open_cases"], g1["overdue_cases"], g1["urgent_cases"]) == (2, 2, 1)
    assert (g1["risk_points"], g1["risk_level"]) == (2, "major")
    g2 = by_code[G2]["properties"]
    assert (g2["open_cases"], g2["risk_points"], g2["risk_level"]) == (1, 0, None)
    assert by_code[G1]["id"] == ids[G1]
    outline = shape(by_code[G1]["geometry"])
    assert outline.bounds == (106.50, 29.50, 106.55, 29.55)


async def test_outlines_come_in_the_datum_the_tiles_need(client):
    ids = await make_tree()
    worker = await make_person(("grid_worker", G3))
    r = await client.get("/api/v1/map/grids", params={"datum": "gcj02"}, headers=worker.headers)
    assert r.status_code == 200, r.text
    [feature] = r.json()["features"]
    assert feature["id"] == ids[G3]  # a grid worker sees their own grid only
    corners = shape(feature["geometry"]).exterior.coords
    for corner in [(106.55, 29.50), (106.60, 29.60)]:
        lng, lat = geo.convert(*corner, "wgs84", "gcj02")
        assert any(abs(x - lng) < 1e-6 and abs(y - lat) < 1e-6 for x, y in corners)
    assert r.json()["datum"] == "gcj02"


async def test_an_area_above_the_caller_shows_only_the_callers_part(client):
    ids = await make_tree()
    worker = await make_person(("grid_worker", G2))
    r = await client.get("/api/v1/map/grids", params={"area_id": ids[D1]}, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert [f["properties"]["code"] for f in r.json()["features"]] == [G2]
    # an area beside the caller's is refused, and residents have no map
    r = await client.get("/api/v1/map/grids", params={"area_id": ids[G4]}, headers=worker.headers)
    assert r.status_code == 403
    resident = await make_person()
    r = await client.get("/api/v1/map/grids", headers=resident.headers)
    assert r.status_code == 403
    assert (await client.get("/api/v1/map/grids")).status_code == 401


async def test_risk_points_layer_is_scoped_and_converted(client):
    ids = await make_tree()
    supervisor = await make_person(("supervisor", D1))
    await add_point(client, supervisor, G1, "high")
    await add_point(client, supervisor, G3, "low", name="加油站")
    outsider = await make_person(("supervisor", "500104"))
    await add_point(client, outsider, G4, "low", name="别区")
    dispatcher = await make_person(("dispatcher", T1))
    r = await client.get(
        "/api/v1/map/risk-points", params={"datum": "gcj02"}, headers=dispatcher.headers
    )
    assert r.status_code == 200, r.text
    [point] = r.json()["features"]
    assert point["properties"]["risk_level"] == "high"
    assert point["properties"]["grid_id"] == ids[G1]
    lat, lng = POINT_IN[G1]
    assert point["geometry"]["coordinates"] == [
        round(v, 7) for v in geo.convert(lng, lat, "wgs84", "gcj02")
    ]
    r = await client.get("/api/v1/map/risk-points", headers=supervisor.headers)
    assert sorted(f["properties"]["name"] for f in r.json()["features"]) == ["加油站", "滑坡点"]


async def test_grid_detail_lists_the_team_with_phones_for_staff_only_there(client):
    ids = await make_tree()
    leader = await make_person(("grid_leader", G1), name="张网格长")
    await make_person(("grid_worker", G1), name="周网格员", employment="full_time")
    dispatcher = await make_person(("dispatcher", T1))
    r = await client.get(f"/api/v1/map/grids/{ids[G1]}", headers=dispatcher.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grid"]["code"] == G1
    assert [a["level"] for a in body["ancestors"]] == ["district", "township", "community"]
    assert [(m["name"], m["duty"]) for m in body["team"]] == [
        ("张网格长", "grid_leader"),
        ("周网格员", "grid_worker"),
    ]
    assert body["team"][0]["phone"] == leader.phone
    assert body["phones_masked"] is False
    # a grid outside the caller's area is not there for them
    other = await make_person(("grid_worker", G3))
    r = await client.get(f"/api/v1/map/grids/{ids[G1]}", headers=other.headers)
    assert r.status_code == 404
