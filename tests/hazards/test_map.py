"""The open cases layer of the risk map: positions of the cases the caller may see."""

from __future__ import annotations

from factories import G1, G3, POINT_IN, T1, file_report, make_person, make_tree

from grid_backend.core import geo


async def test_open_cases_are_points_in_the_requested_datum_scoped_to_the_caller(client):
    ids = await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", T1))
    mine = await file_report(client, resident, grid=G1, urgent=True)
    closed = await file_report(client, resident, grid=G1)
    await file_report(client, resident, grid=G3)  # another township's
    r = await client.post(
        f"/api/v1/reports/{closed['id']}/actions",
        json={"action": "reject", "reason": "不实"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text

    r = await client.get(
        "/api/v1/reports/map", params={"datum": "gcj02"}, headers=dispatcher.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["datum"] == "gcj02" and body["truncated"] is False
    [case] = body["features"]
    assert case["id"] == mine["id"]
    assert case["properties"]["urgent"] is True
    assert case["properties"]["grid_id"] == ids[G1]
    assert case["properties"]["status"] == "submitted"
    lat, lng = POINT_IN[G1]
    assert case["geometry"]["coordinates"] == [
        round(v, 7) for v in geo.convert(lng, lat, "wgs84", "gcj02")
    ]
    r = await client.get(
        "/api/v1/reports/map", params={"urgent": "false"}, headers=dispatcher.headers
    )
    assert r.json()["features"] == []


async def test_residents_get_no_case_map(client):
    await make_tree()
    resident = await make_person()
    await file_report(client, resident, grid=G1)
    r = await client.get("/api/v1/reports/map", headers=resident.headers)
    assert r.status_code == 403
