"""Reading the area tree over HTTP: lists, one area with its boundary, GeoJSON export."""

from __future__ import annotations

import json

import pytest
import shapely
from factories import C1, D1, G1, G2, G3, G4, T1, TREE, make_person, make_tree
from shapely.geometry import box, shape

from grid_backend.areas.tables import Area, AreaBoundary
from grid_backend.core import geo

BOUNDS = {code: bounds for code, _, _, _, bounds in TREE}


async def walk(client, url, headers, **params):
    """Every item of a paginated list, following next_cursor; also the number of pages."""
    items, pages, cursor = [], 0, None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        r = await client.get(url, params=query, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 50, "pagination does not end"


async def boundary_rows() -> int:
    return await AreaBoundary.count().run()


async def test_areas_need_a_signed_in_caller(client):
    await make_tree()
    r = await client.get("/api/v1/areas")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"


async def test_list_filters_by_level_and_parent(client):
    ids = await make_tree()
    me = await make_person()  # a resident may read the tree
    r = await client.get("/api/v1/areas", params={"level": "grid"}, headers=me.headers)
    assert r.status_code == 200, r.text
    grids = r.json()["items"]
    assert sorted(a["code"] for a in grids) == sorted([G1, G2, G3, G4])
    assert all(a["level"] == "grid" for a in grids)
    g1 = next(a for a in grids if a["code"] == G1)
    assert g1["bbox"] == pytest.approx(list(BOUNDS[G1]))
    assert g1["parent_id"] == ids[C1]
    assert g1["path"] == f"500000/{D1}/{T1}/{C1}/{G1}/"

    r = await client.get("/api/v1/areas", params={"parent_id": ids[C1]}, headers=me.headers)
    assert [a["code"] for a in r.json()["items"]] == [G1, G2]
    r = await client.get(
        "/api/v1/areas", params={"parent_id": ids[D1], "level": "township"}, headers=me.headers
    )
    assert [a["code"] for a in r.json()["items"]] == [T1, "500103002"]
    r = await client.get(
        "/api/v1/areas", params={"parent_id": ids[D1], "level": "grid"}, headers=me.headers
    )
    assert r.json() == {"items": [], "next_cursor": None}


async def test_pages_cover_every_area_once(client):
    await make_tree()
    me = await make_person()
    items, pages = await walk(client, "/api/v1/areas", me.headers, limit=3)
    codes = [a["code"] for a in items]
    assert len(codes) == len(set(codes)) == len(TREE)
    assert sorted(codes) == sorted(code for code, *_ in TREE)
    assert pages == 5  # 13 areas, 3 a page
    ids = [a["id"] for a in items]
    assert ids == sorted(ids)
    # a filter and pagination together
    items, pages = await walk(client, "/api/v1/areas", me.headers, limit=1, level="grid")
    assert [a["code"] for a in items] == [G1, G2, G3, G4]
    assert pages == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"level": "province"}, "level"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"parent_id": "abc"}, "parent_id"),
    ],
)
async def test_bad_list_parameters_name_the_field(client, params, field):
    await make_tree()
    me = await make_person()
    r = await client.get("/api/v1/areas", params=params, headers=me.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_one_area_has_boundary_bbox_ancestors_and_children(client):
    ids = await make_tree()
    me = await make_person()
    r = await client.get(f"/api/v1/areas/{ids[G1]}", headers=me.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["code"], body["level"], body["datum"]) == (G1, "grid", "wgs84")
    assert body["boundary"]["type"] == "Polygon"
    assert shape(body["boundary"]).equals(box(*BOUNDS[G1]))
    assert body["bbox"] == pytest.approx(list(BOUNDS[G1]))
    assert body["boundary_valid_from"] is not None
    assert [(a["code"], a["level"]) for a in body["ancestors"]] == [
        ("500000", "city"),
        (D1, "district"),
        (T1, "township"),
        (C1, "community"),
    ]
    assert body["ancestors"][-1]["id"] == body["parent_id"] == ids[C1]
    assert body["children"] == []
    assert body["children_count"] == 0

    body = (await client.get(f"/api/v1/areas/{ids[D1]}", headers=me.headers)).json()
    assert [a["code"] for a in body["ancestors"]] == ["500000"]
    assert [(c["code"], c["level"]) for c in body["children"]] == [
        (T1, "township"),
        ("500103002", "township"),
    ]
    assert body["children_count"] == 2

    city = (await client.get(f"/api/v1/areas/{ids['500000']}", headers=me.headers)).json()
    assert city["ancestors"] == []
    assert city["parent_id"] is None
    assert city["children_count"] == 2


async def test_boundary_in_gcj02_is_shifted_by_a_few_hundred_metres(client):
    ids = await make_tree()
    me = await make_person()
    r = await client.get(f"/api/v1/areas/{ids[G1]}", params={"datum": "gcj02"}, headers=me.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["datum"] == "gcj02"
    shifted = body["boundary"]["coordinates"][0]
    original = shapely.get_coordinates(box(*BOUNDS[G1]).exterior)
    assert len(shifted) == len(original)
    for (lng, lat), (wlng, wlat) in zip(shifted, original, strict=True):
        assert (lng, lat) == pytest.approx(geo.wgs84_to_gcj02(wlng, wlat), abs=1e-9)
        assert 100 < geo.distance_m(lng, lat, wlng, wlat) < 1000
    # the bbox stays WGS-84, as documented in the schema
    assert body["bbox"] == pytest.approx(list(BOUNDS[G1]))

    r = await client.get(f"/api/v1/areas/{ids[G1]}", params={"datum": "bd09"}, headers=me.headers)
    lng, lat = r.json()["boundary"]["coordinates"][0][0]
    assert (lng, lat) == pytest.approx(geo.wgs84_to_bd09(*original[0]), abs=1e-9)


async def test_unknown_area_is_a_404_problem(client):
    await make_tree()
    me = await make_person()
    for url in ("/api/v1/areas/999999", "/api/v1/areas/999999/export"):
        r = await client.get(url, headers=me.headers)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "area_not_found"
    r = await client.get("/api/v1/areas/1", params={"datum": "utm"}, headers=me.headers)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["datum"]


async def test_export_is_the_subtree_as_a_feature_collection(client):
    ids = await make_tree()
    me = await make_person()
    r = await client.get(f"/api/v1/areas/{ids[D1]}/export", headers=me.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection"
    codes = [f["properties"]["code"] for f in body["features"]]
    assert sorted(codes) == sorted(c for c, *_ in TREE if c.startswith(D1))
    assert G4 not in codes
    g1 = next(f for f in body["features"] if f["properties"]["code"] == G1)
    assert g1["type"] == "Feature"
    assert g1["properties"] == {
        "code": G1,
        "name": "第一网格",
        "level": "grid",
        "parent_code": C1,
        "kind": "comprehensive",
        "households": 400,
        "population": 1000,
    }
    assert shape(g1["geometry"]).equals(box(*BOUNDS[G1]))

    r = await client.get(
        f"/api/v1/areas/{ids[D1]}/export", params={"level": "grid"}, headers=me.headers
    )
    assert sorted(f["properties"]["code"] for f in r.json()["features"]) == [G1, G2, G3]
    r = await client.get(
        f"/api/v1/areas/{ids[D1]}/export",
        params=[("level", "grid"), ("level", "community")],
        headers=me.headers,
    )
    assert sorted(f["properties"]["level"] for f in r.json()["features"]) == [
        "community",
        "community",
        "grid",
        "grid",
        "grid",
    ]


async def test_export_then_import_changes_nothing(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    ids = {r["code"]: r["id"] for r in await Area.select(Area.id, Area.code).run()}
    before = await AreaBoundary.select().order_by(AreaBoundary.id).run()
    exported = (
        await client.get(f"/api/v1/areas/{ids['500000']}/export", headers=admin.headers)
    ).content

    r = await client.post("/api/v1/areas/import", content=exported, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 0
    assert r.json()["updated"] == len(TREE)
    assert r.json()["boundaries_changed"] == 0
    assert await AreaBoundary.select().order_by(AreaBoundary.id).run() == before
    again = (
        await client.get(f"/api/v1/areas/{ids['500000']}/export", headers=admin.headers)
    ).content
    assert json.loads(again) == json.loads(exported)


async def test_export_in_gcj02_round_trips_through_an_import_as_is(client):
    """The file says which datum it is in, so it can be imported back without ?datum=."""
    await make_tree()
    admin = await make_person(("admin", "500000"))
    ids = {r["code"]: r["id"] for r in await Area.select(Area.id, Area.code).run()}
    r = await client.get(
        f"/api/v1/areas/{ids[D1]}/export", params={"datum": "gcj02"}, headers=admin.headers
    )
    exported = r.json()
    assert exported["datum"] == "gcj02"
    rows = await boundary_rows()
    for params in ({}, {"datum": "gcj02"}):
        r = await client.post(
            "/api/v1/areas/import", json=exported, params=params, headers=admin.headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["boundaries_changed"] == 0, params
    assert await boundary_rows() == rows

    # a file that says gcj02 imported as explicitly something else is refused, not shifted
    r = await client.post(
        "/api/v1/areas/import", json=exported, params={"datum": "wgs84"}, headers=admin.headers
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["datum"]
    assert await boundary_rows() == rows
