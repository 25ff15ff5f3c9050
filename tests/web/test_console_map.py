"""The console's map page: who gets it, for which area, with which tiles and datum."""

from __future__ import annotations

import json
import re

from factories import D1, G1, T1, T2, make_person, make_tree
from shapely.geometry import shape

from grid_backend.settings import get_settings


def config_of(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="map-config">(.*?)</script>', page, re.S)
    assert found, page
    return json.loads(found.group(1))


async def test_a_dispatcher_gets_the_map_of_their_township_without_tiles(client):
    ids = await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/map")
    assert page.status_code == 200
    assert "/static/vendor/leaflet/leaflet.js" in page.text
    assert "/static/console/map.js" in page.text
    config = config_of(page.text)
    assert config.pop("status_names")["submitted"] == "待受理"  # case tooltips, localised
    assert config.pop("category_names")["gas"] == "燃气"  # and the case's kind, in words
    assert config == {
        "tile_url": "",
        "attribution": "",
        "datum": "wgs84",  # no tiles: positions stay in WGS-84
        "timezone": "Asia/Shanghai",
        "area_id": ids[T1],
    }
    assert 'aria-current="page"' in page.text and ">地图<" in page.text


async def test_a_supervisor_chooses_among_the_townships_of_the_district(client):
    ids = await make_tree()
    supervisor = await make_person(("supervisor", D1))
    client.cookies.set("grid_access", supervisor.token)
    page = await client.get("/console/map", params={"area_id": ids[T2]})
    assert page.status_code == 200
    options = re.findall(r'<option value="(\d+)"( selected)?>', page.text)
    assert [int(v) for v, _ in options] == [ids[D1], ids[T1], ids[T2]]
    assert config_of(page.text)["area_id"] == ids[T2]
    # an area outside the caller's falls back to their own
    page = await client.get("/console/map", params={"area_id": ids["500104"]})
    assert config_of(page.text)["area_id"] == ids[D1]


async def test_a_grid_worker_sees_their_grid_and_residents_are_turned_away(client):
    ids = await make_tree()
    worker = await make_person(("grid_worker", G1))
    client.cookies.set("grid_access", worker.token)
    assert config_of((await client.get("/console/map")).text)["area_id"] == ids[G1]
    resident = await make_person()
    client.cookies.set("grid_access", resident.token)
    assert (await client.get("/console/map")).status_code == 403
    client.cookies.clear()
    answer = await client.get("/console/map")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=")


async def test_a_configured_tile_server_sets_the_datum_of_the_positions(client, monkeypatch):
    await make_tree()
    settings = get_settings()
    monkeypatch.setattr(
        "grid_backend.web.console.map.get_settings",
        lambda: type(settings)(
            **{
                **{f: getattr(settings, f) for f in settings.__slots__},
                "map_tile_url": "https://tiles.example.cn/{z}/{x}/{y}.png",
                "map_tile_datum": "gcj02",
            }
        ),
    )
    dispatcher = await make_person(("dispatcher", T1))
    client.cookies.set("grid_access", dispatcher.token)
    config = config_of((await client.get("/console/map")).text)
    assert config["tile_url"] == "https://tiles.example.cn/{z}/{x}/{y}.png"
    assert config["datum"] == "gcj02"


async def test_outlines_are_the_communities_and_townships_of_the_grids_one_may_see(client):
    """The map's outlines: the township and each community around the grids shown, named;
    a grid worker's map outlines only what surrounds their own grid."""
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    r = await client.get("/api/v1/map/outlines", headers=dispatcher.headers)
    assert r.status_code == 200, r.text
    levels = sorted(
        (f["properties"]["level"], f["properties"]["code"]) for f in r.json()["features"]
    )
    assert ("township", T1) in levels
    assert {lvl for lvl, _ in levels} == {"community", "township"}
    assert all(code.startswith(T1) for _, code in levels)  # nothing of the other township
    for f in r.json()["features"]:
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        lng, lat = f["properties"]["label_at"]
        assert 100 < lng < 110 and 25 < lat < 35

    worker = await make_person(("grid_worker", G1))
    r = await client.get("/api/v1/map/outlines", headers=worker.headers)
    codes = [f["properties"]["code"] for f in r.json()["features"]]
    assert codes and all(G1.startswith(code) for code in codes)
    resident = await make_person()
    r = await client.get("/api/v1/map/outlines", headers=resident.headers)
    assert r.status_code == 403


async def test_outlines_say_when_they_stop_short_and_keep_a_bounded_cache(client, monkeypatch):
    """Past MAX_GRIDS the answer says it is cut (not a silently partial map), and each process
    keeps at most MAX_ENTRIES outlines, dropping the least recently drawn."""
    from grid_backend.areas import map as area_map

    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    whole = (await client.get("/api/v1/map/outlines", headers=dispatcher.headers)).json()
    assert whole["truncated"] is False and whole["features"]

    monkeypatch.setattr(area_map, "MAX_GRIDS", 1)
    cut = (await client.get("/api/v1/map/outlines", headers=dispatcher.headers)).json()
    assert cut["truncated"] is True
    township = {f["properties"]["level"]: shape(f["geometry"]).area for f in whole["features"]}
    first_grid = {f["properties"]["level"]: shape(f["geometry"]).area for f in cut["features"]}
    assert first_grid["township"] < township["township"]  # the outline of one grid only

    monkeypatch.setattr(area_map._Outlines, "MAX_ENTRIES", 2)
    area_map._outlines.features.clear()
    monkeypatch.setattr(area_map, "MAX_GRIDS", 3_000)
    for datum in ("wgs84", "gcj02", "bd09"):
        r = await client.get(
            "/api/v1/map/outlines", params={"datum": datum}, headers=dispatcher.headers
        )
        assert r.status_code == 200 and r.json()["features"]
        assert len(area_map._outlines.features) <= 2
