"""Risk points as GeoJSON, read back by GDAL (pyogrio): scoped like their list, filtered by
type, no contact phone, WGS-84 or GCJ-02."""

from __future__ import annotations

import msgspec
import pyogrio
from factories import G1, G3, POINT_IN, T1, make_person, make_tree

from grid_backend.core import geo
from grid_backend.core.tables import AuditEntry

URL = "/api/v1/risk-points"
SCRIPT = '<script>alert("x")</script>'


async def register(client, person, grid: str, **extra) -> int:
    lat, lng = POINT_IN[grid]
    body = {"name": f"滑坡点 {SCRIPT}", "type": "landslide", "risk_level": "high"}
    body |= {"lat": lat, "lng": lng, "note": SCRIPT}
    body |= {"contacts": [{"name": "张三", "phone": "13800000001"}]} | extra
    r = await client.post(URL, json=body, headers=person.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_risk_points_open_in_a_gis_scoped_to_the_callers_grids(client, tmp_path):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    mine = await register(client, admin, G1)
    gas = await register(client, admin, G1, type="gas_station")
    other = await register(client, admin, G3)

    worker = await make_person(("grid_worker", G1))
    r = await client.get(f"{URL}/export.geojson", headers=worker.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    assert 'filename="risk-points.geojson"' in r.headers["content-disposition"]
    path = tmp_path / "risk-points.geojson"
    path.write_bytes(r.content)
    info = pyogrio.read_info(path)
    assert (info["features"], info["geometry_type"], info["crs"]) == (2, "Point", "EPSG:4326")
    assert {"id", "code", "name", "type", "risk_level", "grid"} <= set(info["fields"])
    _meta, _fids, _geometry, values = pyogrio.raw.read(path)
    fields = dict(zip(info["fields"], values, strict=True))
    assert sorted(fields["id"]) == [mine, gas]  # not G3's
    assert set(fields["name"]) == {f"滑坡点 {SCRIPT}"}
    assert "13800000001" not in r.text  # the contacts' phones stay out

    r = await client.get(
        f"{URL}/export.geojson",
        params={"type": "gas_station", "crs": "gcj02"},
        headers=worker.headers,
    )
    doc = msgspec.json.decode(r.content)
    assert [f["id"] for f in doc["features"]] == [gas]
    assert doc["crs_name"] == "GCJ02"
    lat, lng = POINT_IN[G1]
    gx, gy = geo.wgs84_to_gcj02(lng, lat)
    assert doc["features"][0]["geometry"]["coordinates"] == [round(gx, 6), round(gy, 6)]

    township = await make_person(("dispatcher", T1))
    r = await client.get(f"{URL}/export.geojson", headers=township.headers)
    assert other not in [f["id"] for f in r.json()["features"]]

    resident = await make_person(name="居民")
    r = await client.get(f"{URL}/export.geojson", headers=resident.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await client.get(f"{URL}/export.geojson", params={"crs": "bd09"}, headers=worker.headers)
    assert r.status_code == 400 or r.status_code == 422
    assert r.json()["code"] == "validation_failed"
    exports = await AuditEntry.count().where(AuditEntry.action == "risk_point.export").run()
    assert exports == 3
