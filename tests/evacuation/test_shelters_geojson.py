"""Shelters as GeoJSON, read back by GDAL (pyogrio): the shelters the caller's list shows, with
the areas they serve, no contact phone; an empty file is still a valid collection."""

from __future__ import annotations

import msgspec
import pyogrio
from factories import C2

SCRIPT = '<script>alert("x")</script>'


async def test_shelters_open_in_a_gis_scoped_like_their_list(world, tmp_path):
    school = await world.shelter(name=f"较场口小学 {SCRIPT}")
    other = await world.shelter(
        by=world.dispatcher2,
        name="朝东广场",
        area_ids=[world.areas[C2]],
        location={"lat": 29.52, "lng": 106.58},
    )
    r = await world.client.get("/api/v1/shelters/export.geojson", headers=world.worker.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    path = tmp_path / "shelters.geojson"
    path.write_bytes(r.content)
    info = pyogrio.read_info(path)
    assert (info["features"], info["geometry_type"], info["crs"]) == (1, "Point", "EPSG:4326")
    _meta, _fids, _geometry, values = pyogrio.raw.read(path)
    fields = dict(zip(info["fields"], values, strict=True))
    assert list(fields["id"]) == [school["id"]]  # not the other township's
    assert list(fields["name"]) == [f"较场口小学 {SCRIPT}"]
    assert list(fields["capacity"]) == [300]
    assert "13800000000" not in r.text

    r = await world.client.get(
        "/api/v1/shelters/export.geojson",
        params={"crs": "gcj02"},
        headers=world.dispatcher2.headers,
    )
    doc = msgspec.json.decode(r.content)
    assert [f["id"] for f in doc["features"]] == [other["id"]]
    assert doc["crs_name"] == "GCJ02"

    r = await world.client.get(
        "/api/v1/shelters/export.geojson",
        params={"kind": "open_ground"},
        headers=world.worker.headers,
    )
    assert r.json()["features"] == []
    path.write_bytes(r.content)
    assert pyogrio.read_info(path)["features"] == 0

    r = await world.client.get("/api/v1/shelters/export.geojson", headers=world.resident.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
