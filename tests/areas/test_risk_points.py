"""Risk points over HTTP: routing to grids, scoped lists, retiring, GeoJSON import, audit."""

from __future__ import annotations

import re

import pytest
from factories import G1, G2, G3, G4, POINT_IN, T1, T2, make_person, make_tree

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import geo
from grid_backend.core.tables import AuditEntry

URL = "/api/v1/risk-points"
OUTSIDE = (29.40, 106.52)  # 11 km south of every grid


def point_body(grid: str, **extra) -> dict:
    lat, lng = POINT_IN[grid]
    return {
        "name": "滑坡点",
        "type": "landslide",
        "risk_level": "high",
        "lat": lat,
        "lng": lng,
    } | extra


def point_feature(code: str, lat: float, lng: float, **props) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": {
            "code": code,
            "name": f"点位{code}",
            "type": "gas_station",
            "risk_level": "medium",
        }
        | props,
    }


def points(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


async def audit_actions(object_id: int | None = None) -> list[str]:
    query = AuditEntry.select(AuditEntry.action).where(AuditEntry.object_type == "risk_point")
    if object_id is not None:
        query = query.where(AuditEntry.object_id == str(object_id))
    return [r["action"] for r in await query.order_by(AuditEntry.id).run()]


async def area_path(code: str) -> str:
    return (await Area.select(Area.path).where(Area.code == code).first().run())["path"]


async def walk(client, headers, **params) -> tuple[list[dict], int]:
    items, pages, cursor = [], 0, None
    while True:
        r = await client.get(
            URL, params=params | ({"cursor": cursor} if cursor else {}), headers=headers
        )
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items, pages


async def test_create_routes_the_point_to_the_grid_at_its_position(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    body = point_body(
        G1,
        threatened_households=12,
        note="雨季重点巡查",
        contacts=[{"name": "张三", "role": "业主", "phone": "13800001111"}],
    )
    r = await client.post(URL, json=body, headers=dispatcher.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert re.fullmatch(r"RP[0-9A-F]{10}", created["code"])
    assert created["grid"]["code"] == G1
    assert (created["lat"], created["lng"]) == POINT_IN[G1]
    assert created["is_active"] is True
    assert created["threatened_households"] == 12
    assert created["contacts"] == [{"name": "张三", "role": "业主", "phone": "13800001111"}]
    row = (
        await RiskPoint.select(RiskPoint.area_path)
        .where(RiskPoint.id == created["id"])
        .first()
        .run()
    )
    assert row["area_path"] == await area_path(G1)

    entry = await AuditEntry.select().where(AuditEntry.action == "risk_point.create").first().run()
    assert entry["actor_id"] == dispatcher.id
    assert entry["object_id"] == str(created["id"])
    assert entry["area_path"] == await area_path(G1)

    r = await client.get(f"{URL}/{created['id']}", headers=dispatcher.headers)
    assert r.status_code == 200
    assert r.json() == created


async def test_a_code_already_taken_is_a_conflict_naming_the_field(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    assert (
        await client.post(URL, json=point_body(G1, code="RP-1"), headers=admin.headers)
    ).status_code == 201
    r = await client.post(URL, json=point_body(G2, code="RP-1"), headers=admin.headers)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "conflict"
    assert [e["field"] for e in r.json()["errors"]] == ["code"]
    assert await RiskPoint.count().run() == 1
    assert await audit_actions() == ["risk_point.create"]


async def test_an_unknown_field_is_refused(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    r = await client.post(URL, json=point_body(G1, grid_id=1), headers=admin.headers)
    assert r.status_code == 422
    assert "grid_id" in r.json()["errors"][0]["message"]
    assert await RiskPoint.count().run() == 0


async def test_a_gcj02_position_is_stored_in_wgs84(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    wgs = (106.548, 29.52)  # G1; its GCJ-02 numbers read as WGS-84 would be in G3
    lng, lat = geo.wgs84_to_gcj02(*wgs)
    r = await client.post(
        URL,
        json=point_body(G1, lat=lat, lng=lng, datum="gcj02", code="RP-GCJ"),
        headers=dispatcher.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["grid"]["code"] == G1
    assert (r.json()["lng"], r.json()["lat"]) == pytest.approx(wgs, abs=1e-7)


async def test_only_managers_and_the_grid_team_leads_may_create(client):
    await make_tree()
    resident = await make_person()
    worker = await make_person(("grid_worker", G1))
    leader = await make_person(("grid_leader", G1))
    officer = await make_person(("emergency_officer", G1))
    for person in (resident, worker):
        r = await client.post(URL, json=point_body(G1), headers=person.headers)
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "forbidden"
    for person in (leader, officer):
        assert (
            await client.post(URL, json=point_body(G1), headers=person.headers)
        ).status_code == 201
        # but not in the neighbouring grid
        assert (
            await client.post(URL, json=point_body(G2), headers=person.headers)
        ).status_code == 403
    assert await RiskPoint.count().run() == 2
    assert await audit_actions() == ["risk_point.create", "risk_point.create"]


async def test_a_point_outside_every_grid_is_refused(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    r = await client.post(
        URL, json=point_body(G1, lat=OUTSIDE[0], lng=OUTSIDE[1]), headers=admin.headers
    )
    assert r.status_code == 404
    assert r.json()["code"] == "outside_all_grids"
    assert await RiskPoint.count().run() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lat": 95}, "lat"),
        ({"lng": -181}, "lng"),
        ({"type": "volcano"}, "type"),
        ({"risk_level": "extreme"}, "risk_level"),
        ({"name": ""}, "name"),
        ({"datum": "xyz"}, "datum"),
        ({"code": "no spaces allowed"}, "code"),
        ({"threatened_households": -1}, "threatened_households"),
        ({"contacts": [{"name": ""}]}, "contacts[0].name"),
    ],
)
async def test_a_bad_create_names_the_field(client, change, field):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    r = await client.post(URL, json=point_body(G1, **change), headers=admin.headers)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert await RiskPoint.count().run() == 0


async def test_moving_a_point_re_routes_it_and_is_audited(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    created = (await client.post(URL, json=point_body(G1), headers=dispatcher.headers)).json()
    lat, lng = POINT_IN[G2]
    r = await client.patch(
        f"{URL}/{created['id']}",
        json={"lat": lat, "lng": lng, "risk_level": "major"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["grid"]["code"] == G2
    assert (moved["lat"], moved["lng"], moved["risk_level"]) == (lat, lng, "major")
    assert moved["updated_at"] >= created["updated_at"]
    row = (
        await RiskPoint.select(RiskPoint.area_path)
        .where(RiskPoint.id == created["id"])
        .first()
        .run()
    )
    assert row["area_path"] == await area_path(G2)
    entry = (
        await AuditEntry.select()
        .where(AuditEntry.action == "risk_point.update")
        .first()
        .output(load_json=True)
        .run()
    )
    assert entry["actor_id"] == dispatcher.id
    assert entry["detail"]["fields"] == ["area_path", "grid", "lat", "lng", "risk_level"]

    # a change of name only keeps the grid
    r = await client.patch(
        f"{URL}/{created['id']}", json={"name": "新滑坡点"}, headers=dispatcher.headers
    )
    assert (r.json()["name"], r.json()["grid"]["code"]) == ("新滑坡点", G2)
    assert await audit_actions(created["id"]) == [
        "risk_point.create",
        "risk_point.update",
        "risk_point.update",
    ]


async def test_a_move_out_of_the_callers_area_or_of_every_grid_is_refused(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    created = (await client.post(URL, json=point_body(G1), headers=dispatcher.headers)).json()
    lat, lng = POINT_IN[G3]  # township T2
    r = await client.patch(
        f"{URL}/{created['id']}", json={"lat": lat, "lng": lng}, headers=dispatcher.headers
    )
    assert r.status_code == 403
    r = await client.patch(
        f"{URL}/{created['id']}",
        json={"lat": OUTSIDE[0], "lng": OUTSIDE[1]},
        headers=dispatcher.headers,
    )
    assert r.status_code == 404
    assert r.json()["code"] == "outside_all_grids"
    r = await client.patch(
        f"{URL}/{created['id']}", json={"lat": 29.55}, headers=dispatcher.headers
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["lat"]
    after = (await client.get(f"{URL}/{created['id']}", headers=dispatcher.headers)).json()
    assert after == created
    assert await audit_actions(created["id"]) == ["risk_point.create"]

    other = await make_person(("dispatcher", T2))
    r = await client.patch(f"{URL}/{created['id']}", json={"name": "x"}, headers=other.headers)
    assert r.status_code == 403
    assert (await client.get(f"{URL}/{created['id']}", headers=other.headers)).status_code == 403
    r = await client.get(f"{URL}/999999", headers=other.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "risk_point_not_found"


async def test_delete_retires_the_point_and_hides_it_from_the_default_list(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    keep = (
        await client.post(URL, json=point_body(G1, code="RP-KEEP"), headers=dispatcher.headers)
    ).json()
    gone = (
        await client.post(URL, json=point_body(G2, code="RP-GONE"), headers=dispatcher.headers)
    ).json()
    r = await client.delete(f"{URL}/{gone['id']}", headers=dispatcher.headers)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False
    assert await RiskPoint.count().run() == 2  # kept for the history of patrols and cases

    listed = (await client.get(URL, headers=dispatcher.headers)).json()["items"]
    assert [p["code"] for p in listed] == ["RP-KEEP"]
    listed = (
        await client.get(URL, params={"include_inactive": "true"}, headers=dispatcher.headers)
    ).json()
    assert [p["code"] for p in listed["items"]] == ["RP-KEEP", "RP-GONE"]
    assert (await client.get(f"{URL}/{gone['id']}", headers=dispatcher.headers)).json()[
        "is_active"
    ] is False
    assert await audit_actions(gone["id"]) == ["risk_point.create", "risk_point.update"]
    entry = (
        await AuditEntry.select()
        .where(AuditEntry.object_id == str(gone["id"]))
        .order_by(AuditEntry.id, ascending=False)
        .first()
        .output(load_json=True)
        .run()
    )
    assert entry["detail"]["fields"] == ["is_active"]

    worker = await make_person(("grid_worker", G1))  # may read, may not retire
    assert (await client.delete(f"{URL}/{keep['id']}", headers=worker.headers)).status_code == 403
    # brought back by a PATCH
    r = await client.patch(
        f"{URL}/{gone['id']}", json={"is_active": True}, headers=dispatcher.headers
    )
    assert r.json()["is_active"] is True


async def test_lists_are_scoped_to_the_callers_areas_and_paginated(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    codes = {}
    for grid, n in ((G1, 3), (G2, 2), (G3, 2), (G4, 1)):
        for i in range(n):
            lat, _ = POINT_IN[grid]
            body = point_body(
                grid,
                code=f"RP{grid}-{i}",
                lat=lat + i * 0.001,
                type="landslide" if i == 0 else "old_building",
            )
            r = await client.post(URL, json=body, headers=admin.headers)
            assert r.status_code == 201, r.text
            codes.setdefault(grid, []).append(r.json()["code"])

    dispatcher = await make_person(("dispatcher", T1))
    items, pages = await walk(client, dispatcher.headers, limit=2)
    assert [p["code"] for p in items] == codes[G1] + codes[G2]  # each once, in order
    assert pages == 3
    worker = await make_person(("grid_worker", G3))
    items, _ = await walk(client, worker.headers, limit=1)
    assert [p["code"] for p in items] == codes[G3]
    both = await make_person(("grid_worker", G3), ("grid_leader", G4))
    items, _ = await walk(client, both.headers)
    assert [p["code"] for p in items] == codes[G3] + codes[G4]
    items, pages = await walk(client, admin.headers, limit=3)
    assert len(items) == len({p["id"] for p in items}) == 8
    assert pages == 3

    g2 = await Area.select(Area.id).where(Area.code == G2).first().run()
    items, _ = await walk(client, dispatcher.headers, area_id=g2["id"])
    assert [p["code"] for p in items] == codes[G2]
    items, _ = await walk(client, dispatcher.headers, type="landslide")
    assert [p["code"] for p in items] == [codes[G1][0], codes[G2][0]]
    # asking for another township's area answers nothing of it
    g3 = await Area.select(Area.id).where(Area.code == G3).first().run()
    assert (await walk(client, dispatcher.headers, area_id=g3["id"]))[0] == []

    resident = await make_person()
    r = await client.get(URL, headers=resident.headers)
    assert r.status_code == 403
    r = await client.get(URL, params={"area_id": 999999}, headers=dispatcher.headers)
    assert r.json()["code"] == "area_not_found"
    r = await client.get(URL, params={"cursor": "bogus"}, headers=dispatcher.headers)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["cursor"]


async def test_import_creates_points_in_their_grids_and_updates_by_code(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    body = points(
        point_feature("RP1", *POINT_IN[G1], threatened_households=3),
        point_feature("RP2", *POINT_IN[G3]),
        point_feature("RP3", *POINT_IN[G4], contacts=[{"name": "站长", "phone": "13800002222"}]),
    )
    r = await client.post(f"{URL}/import", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "created": 3,
        "updated": 0,
        "boundaries_changed": 0,
        "codes": ["RP1", "RP2", "RP3"],
    }
    rows = (
        await RiskPoint.select(
            RiskPoint.code, RiskPoint.grid.code.as_alias("grid"), RiskPoint.threatened_households
        )
        .order_by(RiskPoint.code)
        .run()
    )
    assert rows == [
        {"code": "RP1", "grid": G1, "threatened_households": 3},
        {"code": "RP2", "grid": G3, "threatened_households": 0},
        {"code": "RP3", "grid": G4, "threatened_households": 0},
    ]

    # again: RP2 moved to G2 and renamed, RP4 new
    body = points(
        point_feature("RP2", *POINT_IN[G2], name="加油站(迁)"), point_feature("RP4", *POINT_IN[G1])
    )
    r = await client.post(f"{URL}/import", json=body, headers=admin.headers)
    assert (r.json()["created"], r.json()["updated"]) == (1, 1)
    rp2 = (
        await RiskPoint.select(
            RiskPoint.name, RiskPoint.grid.code.as_alias("grid"), RiskPoint.area_path
        )
        .where(RiskPoint.code == "RP2")
        .first()
        .run()
    )
    assert rp2 == {"name": "加油站(迁)", "grid": G2, "area_path": await area_path(G2)}
    assert await RiskPoint.count().run() == 4

    entries = (
        await AuditEntry.select()
        .where(AuditEntry.action == "risk_point.import")
        .order_by(AuditEntry.id)
        .output(load_json=True)
        .run()
    )
    assert [(e["actor_id"], e["detail"]["created"], e["detail"]["updated"]) for e in entries] == [
        (admin.id, 3, 0),
        (admin.id, 1, 1),
    ]


async def test_import_in_gcj02_stores_wgs84(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    wgs = (106.548, 29.52)
    lng, lat = geo.wgs84_to_gcj02(*wgs)
    r = await client.post(
        f"{URL}/import",
        json=points(point_feature("RPG", lat, lng)),
        params={"datum": "gcj02"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    row = (
        await RiskPoint.select(RiskPoint.lat, RiskPoint.lng, RiskPoint.grid.code.as_alias("grid"))
        .first()
        .run()
    )
    assert row["grid"] == G1
    assert (row["lng"], row["lat"]) == pytest.approx(wgs, abs=1e-7)


BAD_IMPORTS = {
    "one point outside every grid": (
        points(
            point_feature("RP1", *POINT_IN[G1]),
            point_feature("RP2", *OUTSIDE),
            point_feature("RP3", *POINT_IN[G2]),
        ),
        "features[1].geometry",
        "outside_all_grids",
    ),
    "not a FeatureCollection": ({"type": "Feature"}, "features", "geojson_invalid"),
    "empty features": (points(), "features", "geojson_invalid"),
    "a Polygon instead of a Point": (
        points(
            point_feature("RP1", *POINT_IN[G1])
            | {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[106.5, 29.5], [106.51, 29.5], [106.51, 29.51], [106.5, 29.5]]
                    ],
                }
            }
        ),
        "features[0]",
        "geojson_invalid",
    ),
    "no code": (
        points(point_feature("RP1", *POINT_IN[G1]), point_feature(None, *POINT_IN[G1])),
        "features[1].properties.code",
        None,
    ),
    "the same code twice": (
        points(point_feature("RP1", *POINT_IN[G1]), point_feature("RP1", *POINT_IN[G2])),
        "features[1].properties.code",
        None,
    ),
    "an unknown type": (
        points(point_feature("RP1", *POINT_IN[G1], type="volcano")),
        "features[0].properties.type",
        None,
    ),
    "latitude 95": (points(point_feature("RP1", 95, 106.52)), "features[0].geometry", None),
    "coordinates as strings": (
        points(point_feature("RP1", "29.52", "106.52")),
        "features[0].geometry",
        None,
    ),
    "an unknown property": (
        points(point_feature("RP1", *POINT_IN[G1], grid="G1")),
        "features[0].properties.grid",
        None,
    ),
}


@pytest.mark.parametrize(
    ("body", "field", "code"), list(BAD_IMPORTS.values()), ids=list(BAD_IMPORTS)
)
async def test_a_bad_import_names_the_field_and_writes_nothing(client, body, field, code):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    await client.post(
        f"{URL}/import", json=points(point_feature("RP0", *POINT_IN[G4])), headers=admin.headers
    )
    before = (await RiskPoint.select().order_by(RiskPoint.id).run(), await AuditEntry.count().run())
    r = await client.post(f"{URL}/import", json=body, headers=admin.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    if code is not None:
        assert r.json()["code"] == code
    assert (
        await RiskPoint.select().order_by(RiskPoint.id).run(),
        await AuditEntry.count().run(),
    ) == before


async def test_import_is_limited_to_the_callers_area(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    await client.post(
        f"{URL}/import", json=points(point_feature("RP-T2", *POINT_IN[G3])), headers=admin.headers
    )
    before = await RiskPoint.select().order_by(RiskPoint.id).run()
    dispatcher = await make_person(("dispatcher", T1))

    r = await client.post(
        f"{URL}/import",
        json=points(point_feature("RP-NEW", *POINT_IN[G3])),
        headers=dispatcher.headers,
    )
    assert r.status_code in (403, 422)
    assert [e["field"] for e in r.json()["errors"]] == ["features[0]"]
    # another township's point cannot be taken over by importing its code at a place in T1
    r = await client.post(
        f"{URL}/import",
        json=points(point_feature("RP-T2", *POINT_IN[G1])),
        headers=dispatcher.headers,
    )
    assert r.status_code in (403, 422), r.text
    assert [e["field"] for e in r.json()["errors"]] == ["features[0].properties.code"]
    assert await RiskPoint.select().order_by(RiskPoint.id).run() == before

    for person in (await make_person(), await make_person(("grid_worker", G1))):
        r = await client.post(
            f"{URL}/import",
            json=points(point_feature("RP-X", *POINT_IN[G1])),
            headers=person.headers,
        )
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"
    assert await RiskPoint.select().order_by(RiskPoint.id).run() == before

    r = await client.post(
        f"{URL}/import",
        json=points(point_feature("RP-T1", *POINT_IN[G2])),
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
