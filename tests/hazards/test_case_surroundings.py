"""The case page's small map: a case's grid, the grids around it, and the open cases and risk
points near it, each as the caller's duties allow (the same scope as the queue and the map)."""

from __future__ import annotations

from factories import D1, G1, T1, T2, file_report, make_person, make_tree

# three points a few hundred metres apart across two grids of T1 (G1 south, G2 north) and
# the grid of the next township (G3, east of lng 106.55)
A = {"lat": 29.549, "lng": 106.548}  # G1
C = {"lat": 29.551, "lng": 106.548}  # G2, 220 m north
B = {"lat": 29.549, "lng": 106.552}  # G3 in T2, 390 m east
FAR = {"lat": 29.520, "lng": 106.520}  # G1, 4 km away


async def risk_point(client, person, where, name):
    r = await client.post(
        "/api/v1/risk-points",
        json={"name": name, "type": "landslide", "risk_level": "high", **where},
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def world(client):
    ids = await make_tree()
    resident = await make_person()
    cases = {
        name: (await file_report(client, resident, location=where))["id"]
        for name, where in (("A", A), ("B", B), ("C", C), ("FAR", FAR))
    }
    return ids, resident, cases


async def around(client, person, case_id):
    return await client.get(f"/api/v1/reports/{case_id}/surroundings", headers=person.headers)


async def test_a_dispatcher_sees_their_townships_cases_and_grids_around_a_case(client):
    ids, _, cases = await world(client)
    dispatcher = await make_person(("dispatcher", T1))
    other = await make_person(("dispatcher", T2))
    mine = await risk_point(client, dispatcher, {"lat": 29.5495, "lng": 106.5485}, "危岩")
    theirs = await risk_point(client, other, {"lat": 29.5495, "lng": 106.5515}, "边坡")

    r = await around(client, dispatcher, cases["A"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["case"]["id"] == cases["A"]
    assert body["case"]["geometry"]["coordinates"] == [A["lng"], A["lat"]]
    assert [f["id"] for f in body["cases"]["features"]] == [cases["C"]]  # not B, not far away
    assert [f["id"] for f in body["risk_points"]["features"]] == [mine]
    own = [g for g in body["grids"] if g["properties"]["own"]]
    assert [g["id"] for g in own] == [ids[G1]]
    assert own[0]["properties"]["name"] == "第一网格"
    assert own[0]["properties"]["community"] == "较场口社区"
    codes = {g["properties"]["code"] for g in body["grids"]}
    assert all(code.startswith(T1) for code in codes)  # the next township's grid is not drawn

    # a district's supervisor sees across the township line
    supervisor = await make_person(("supervisor", D1))
    body = (await around(client, supervisor, cases["A"])).json()
    assert {f["id"] for f in body["cases"]["features"]} == {cases["B"], cases["C"]}
    assert {f["id"] for f in body["risk_points"]["features"]} == {mine, theirs}


async def test_nobody_else_gets_a_cases_surroundings(client):
    _, resident, cases = await world(client)
    r = await around(client, resident, cases["A"])  # the reporter: their own case, no map
    assert r.status_code == 404
    other = await make_person(("dispatcher", T2))
    assert (await around(client, other, cases["A"])).status_code == 404
    assert (await around(client, other, 999_999)).status_code == 404
    worker = await make_person(("grid_worker", G1))
    body = (await around(client, worker, cases["A"])).json()
    assert cases["B"] not in {f["id"] for f in body["cases"]["features"]}
    r = await client.get(
        f"/api/v1/reports/{cases['A']}/surroundings",
        params={"datum": "gcj02"},
        headers=worker.headers,
    )
    assert r.status_code == 200 and r.json()["datum"] == "gcj02"
    lng, lat = r.json()["case"]["geometry"]["coordinates"]
    assert (lng, lat) != (A["lng"], A["lat"])  # shifted into the tiles' datum
