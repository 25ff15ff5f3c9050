"""Point → grid over HTTP: ancestors, the team on duty, datums, edges, tolerance, the index."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import shapely
from factories import C1, D1, G1, G2, G3, G4, POINT_IN, T1, make_person, make_tree
from shapely.geometry import box

from grid_backend.areas.locate import grid_index
from grid_backend.areas.services import AreaInput, apply_areas
from grid_backend.areas.tables import Area, AreaBoundary
from grid_backend.core import audit, clock, geo
from grid_backend.core.db import write_transaction

M1, M2 = G1 + "01", G1 + "02"  # micro-grids in G1's south-west corner, sharing lng 106.52


async def locate(client, headers, lat, lng, datum=None):
    params = {"lat": lat, "lng": lng} | ({"datum": datum} if datum else {})
    return await client.get("/api/v1/locate", params=params, headers=headers)


async def grid_at(client, headers, lat, lng, datum=None) -> str:
    r = await locate(client, headers, lat, lng, datum)
    assert r.status_code == 200, r.text
    return r.json()["grid"]["code"]


async def test_locate_answers_the_grid_and_its_ancestors(client):
    await make_tree()
    me = await make_person()
    for code, (lat, lng) in POINT_IN.items():
        assert await grid_at(client, me.headers, lat, lng) == code
    r = await locate(client, me.headers, *POINT_IN[G1])
    body = r.json()
    assert body["grid"] | {"id": 0} == {"id": 0, "code": G1, "name": "第一网格", "level": "grid"}
    assert [(a["code"], a["level"]) for a in body["ancestors"]] == [
        (D1, "district"),
        (T1, "township"),
        (C1, "community"),
    ]
    assert body["micro_grid"] is None
    assert body["outside_grid"] is False
    assert body["distance_m"] == 0
    assert body["position"] == {"lat": 29.52, "lng": 106.52, "datum": "wgs84"}
    assert body["team"] == []


async def test_locate_needs_a_signed_in_caller(client):
    await make_tree()
    r = await client.get("/api/v1/locate", params={"lat": 29.52, "lng": 106.52})
    assert r.status_code == 401


async def test_the_team_on_duty_today_in_duty_order(client):
    await make_tree()
    today = clock.today()
    # created out of order, so the answer's order comes from the duty table
    responder = await make_person(("responder", G1), name="赵群防员")
    officer = await make_person(("emergency_officer", G1), name="钱应急管理员")
    worker = await make_person(("grid_worker", G1), name="孙网格员", employment="full_time")
    leader = await make_person(("grid_leader", G1), name="李网格长")
    instructor = await make_person(("grid_instructor", G1), name="周指导员")
    last_day_today = await make_person(
        ("grid_worker", G1),
        name="吴兼职",
        employment="part_time",
        valid_from=today - timedelta(days=30),
        valid_to=today,
    )
    await make_person(
        ("grid_worker", G1),
        name="已离任",
        valid_from=today - timedelta(days=30),
        valid_to=today - timedelta(days=1),
    )
    await make_person(
        ("emergency_officer", G1), name="明天上任", valid_from=today + timedelta(days=1)
    )
    await make_person(("grid_leader", G2), name="隔壁网格长")
    await make_person(("dispatcher", T1), name="街道值班员")  # township staff are not the grid team

    me = await make_person()
    body = (await locate(client, me.headers, *POINT_IN[G1])).json()
    team = [(m["account_id"], m["duty"]) for m in body["team"]]
    assert team == [
        (leader.id, "grid_leader"),
        (last_day_today.id, "grid_worker"),
        (worker.id, "grid_worker"),  # same duty: by name
        (instructor.id, "grid_instructor"),
        (officer.id, "emergency_officer"),
        (responder.id, "responder"),
    ]
    by_id = {m["account_id"]: m for m in body["team"]}
    assert by_id[worker.id]["employment"] == "full_time"
    assert by_id[last_day_today.id]["employment"] == "part_time"
    assert by_id[leader.id]["name"] == "李网格长"
    assert all(m["area_id"] == body["grid"]["id"] for m in body["team"])


async def test_phones_are_masked_for_residents_and_shown_to_staff_of_the_grid(client):
    await make_tree()
    leader = await make_person(("grid_leader", G1), name="李网格长")
    worker = await make_person(("grid_worker", G1), name="孙网格员")
    dispatcher = await make_person(("dispatcher", T1))
    other_grid = await make_person(("grid_worker", G3))
    other_township = await make_person(("dispatcher", "500103002"))
    resident = await make_person()
    phones = {leader.id: leader.phone, worker.id: worker.phone}

    body = (await locate(client, resident.headers, *POINT_IN[G1])).json()
    assert body["phones_masked"] is True
    for m in body["team"]:
        real = phones[m["account_id"]]
        assert re.fullmatch(r"1\d{2}\*{4}\d{4}", m["phone"]), m["phone"]
        assert m["phone"] == real[:3] + "****" + real[-4:]

    for staff in (worker, dispatcher):  # covering G1: the grid's own worker, the township
        body = (await locate(client, staff.headers, *POINT_IN[G1])).json()
        assert body["phones_masked"] is False
        assert {m["account_id"]: m["phone"] for m in body["team"]} == phones

    for staff in (other_grid, other_township):  # staff, but not of this grid
        body = (await locate(client, staff.headers, *POINT_IN[G1])).json()
        assert body["phones_masked"] is True
        assert all("****" in m["phone"] for m in body["team"])


async def test_a_gcj02_point_is_converted_before_matching(client):
    await make_tree()
    me = await make_person()
    wgs = (106.548, 29.52)  # in G1, 190 m west of G3
    lng, lat = geo.wgs84_to_gcj02(*wgs)
    assert await grid_at(client, me.headers, lat, lng, "wgs84") == G3  # the raw numbers are in G3
    r = await locate(client, me.headers, lat, lng, "gcj02")
    assert r.status_code == 200, r.text
    assert r.json()["grid"]["code"] == G1
    assert r.json()["outside_grid"] is False
    position = r.json()["position"]
    assert position["datum"] == "wgs84"
    assert (position["lng"], position["lat"]) == pytest.approx(wgs, abs=1e-6)

    blng, blat = geo.wgs84_to_bd09(*wgs)
    assert await grid_at(client, me.headers, blat, blng, "bd09") == G1


@pytest.mark.parametrize(
    ("lat", "lng", "expected"),
    [
        (29.55, 106.52, G1),  # G1 | G2
        (29.52, 106.55, G1),  # G1 | G3
        (29.55, 106.55, G1),  # the corner of G1, G2 and G3
        (29.52, 106.60, G3),  # G3 | G4, across a district border
        (29.58, 106.55, G2),  # G2 | G3
    ],
)
async def test_a_point_on_a_shared_edge_goes_to_the_lower_code(client, lat, lng, expected):
    await make_tree()
    me = await make_person()
    answers = {await grid_at(client, me.headers, lat, lng) for _ in range(3)}
    grid_index.reset()  # and again from a freshly built index
    answers.add(await grid_at(client, me.headers, lat, lng))
    assert answers == {expected}


@pytest.mark.parametrize(
    ("lat", "lng", "metres"),
    [
        (29.499, 106.52, 111),  # south of G1
        (29.52, 106.498, 194),  # west of G1
        (29.601, 106.65, 111),  # north of G4
        (29.4974, 106.52, 289),  # just inside the 300 m tolerance
    ],
)
async def test_just_outside_every_grid_goes_to_the_nearest_and_is_flagged(client, lat, lng, metres):
    await make_tree()
    me = await make_person()
    r = await locate(client, me.headers, lat, lng)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outside_grid"] is True
    assert body["distance_m"] > 0
    assert body["distance_m"] == pytest.approx(metres, abs=3)
    nearest = G4 if lng > 106.6 else G1
    assert body["grid"]["code"] == nearest


@pytest.mark.parametrize(
    ("lat", "lng"), [(29.49, 106.52), (29.4968, 106.52), (29.55, 106.71), (0.0, 0.0)]
)
async def test_beyond_the_tolerance_is_a_404_problem(client, lat, lng):
    await make_tree()
    me = await make_person()
    r = await locate(client, me.headers, lat, lng)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "outside_all_grids"
    assert "300" in r.json()["detail"]


async def test_no_grids_at_all_is_a_404_problem(client):
    me = await make_person()
    r = await locate(client, me.headers, 29.52, 106.52)
    assert r.status_code == 404
    assert r.json()["code"] == "outside_all_grids"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": 91, "lng": 106.52}, "lat"),
        ({"lat": -90.5, "lng": 106.52}, "lat"),
        ({"lat": 29.52, "lng": 181}, "lng"),
        ({"lat": "nan", "lng": 106.52}, "lat"),
        ({"lat": "inf", "lng": 106.52}, "lat"),
        ({"lat": "abc", "lng": 106.52}, "lat"),
        ({"lng": 106.52}, "lat"),
        ({"lat": 29.52}, "lng"),
        ({"lat": 29.52, "lng": 106.52, "datum": "xyz"}, "datum"),
        ({"lat": 29.52, "lng": 106.52, "datum": "WGS84"}, "datum"),
    ],
)
async def test_bad_coordinates_are_a_422_naming_the_field(client, params, field):
    await make_tree()
    me = await make_person()
    r = await client.get("/api/v1/locate", params=params, headers=me.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def add_micro_grids(*codes: str) -> None:
    shapes = {M1: box(106.50, 29.50, 106.52, 29.52), M2: box(106.52, 29.50, 106.54, 29.52)}
    await apply_areas(
        [AreaInput(c, f"微网格{c[-2:]}", "micro_grid", G1, shapes[c], 20, 50) for c in codes],
        source_datum="wgs84",
        actor_id=None,
    )


async def test_a_point_in_a_micro_grid_answers_it_and_its_team(client):
    await make_tree()
    await add_micro_grids(M1, M2)
    leader = await make_person(("grid_leader", G1))
    micro_leader = await make_person(("grid_leader", M1), name="微网格长")
    me = await make_person()

    body = (await locate(client, me.headers, 29.51, 106.51)).json()
    assert body["grid"]["code"] == G1
    assert body["micro_grid"]["code"] == M1
    assert body["micro_grid"]["level"] == "micro_grid"
    assert [a["code"] for a in body["ancestors"]] == [D1, T1, C1]
    assert {m["account_id"] for m in body["team"]} == {leader.id, micro_leader.id}

    body = (await locate(client, me.headers, 29.51, 106.53)).json()
    assert body["micro_grid"]["code"] == M2
    assert {m["account_id"] for m in body["team"]} == {leader.id}

    body = (await locate(client, me.headers, 29.54, 106.52)).json()  # in G1, in no micro-grid
    assert body["grid"]["code"] == G1
    assert body["micro_grid"] is None


async def test_a_point_on_a_micro_grid_edge_goes_to_the_lower_code(client):
    await make_tree()
    await add_micro_grids(M2, M1)  # the higher code stored first
    me = await make_person()
    body = (await locate(client, me.headers, 29.51, 106.52)).json()
    assert body["micro_grid"]["code"] == M1


async def replace_boundary(code: str, geometry) -> None:
    """Write a new boundary version the way another process's import would, minus the cache."""
    area = await Area.select(Area.id).where(Area.code == code).first().run()
    now = clock.now()
    min_lng, min_lat, max_lng, max_lat = geometry.bounds
    async with write_transaction():
        await (
            AreaBoundary.update({AreaBoundary.valid_to: now})
            .where((AreaBoundary.area == area["id"]) & AreaBoundary.valid_to.is_null())
            .run()
        )
        await AreaBoundary.insert(
            AreaBoundary(
                area=area["id"],
                wkb=shapely.to_wkb(geometry),
                min_lng=min_lng,
                min_lat=min_lat,
                max_lng=max_lng,
                max_lat=max_lat,
                valid_from=now,
            )
        ).run()


async def test_the_index_follows_boundary_changes_made_by_another_process(client):
    await make_tree()
    me = await make_person()
    east = (29.55, 106.72)  # 2 km east of G4
    assert (await locate(client, me.headers, *east)).status_code == 404
    built = await grid_index.get()

    await replace_boundary(G4, box(106.60, 29.50, 106.75, 29.60))
    # the revision is what tells processes to reload: without it this one keeps its index
    assert (await locate(client, me.headers, *east)).status_code == 404
    assert await grid_index.get() is built

    await audit.bump_revision("boundaries")
    assert await grid_at(client, me.headers, *east) == G4
    assert await grid_index.get() is not built


async def test_the_index_follows_an_import_made_after_it_was_built(client):
    await make_tree()
    me = await make_person()
    assert await grid_at(client, me.headers, 29.555, 106.52) == G2
    await grid_index.get()
    await apply_areas(
        [
            AreaInput(G1, "第一网格", "grid", C1, box(106.50, 29.50, 106.55, 29.56)),
            AreaInput(G2, "第二网格", "grid", C1, box(106.50, 29.56, 106.55, 29.60)),
        ],
        source_datum="wgs84",
        actor_id=None,
    )
    assert await grid_at(client, me.headers, 29.555, 106.52) == G1
    assert await grid_at(client, me.headers, 29.565, 106.52) == G2
