"""The hazard ledger as GeoJSON: read back by GDAL (pyogrio) as a GIS would, scoped and filtered
like the Excel export, WGS-84 or GCJ-02 on request, never the reporter, streamed in batches."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec
import pyogrio
import pytest
import shapely
from factories import G1, G3, POINT_IN, T1, T2, file_report, make_person, make_tree

from grid_backend.areas.tables import Area
from grid_backend.core import clock, geo, geojson
from grid_backend.core.tables import AuditEntry
from grid_backend.hazards.tables import HazardReport
from grid_backend.stats import ledger

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DAY = {"from": "2026-05-10", "to": "2026-05-10"}
SCRIPT = '<script>alert("x")</script>'


@pytest.fixture
async def world(client):
    clock.set_clock(lambda: NOW)
    await make_tree()
    resident = await make_person(name="居民甲")
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    cases = [
        (await file_report(client, resident, description=f"第{i}处 {SCRIPT}"))["id"]
        for i in range(2)
    ]
    other = (await file_report(client, resident, grid=G3))["id"]
    return client, resident, dispatcher, cases, other


async def export(client, person, **params):
    return await client.get(
        "/api/v1/reports/export",
        params={"format": "geojson", **DAY, **params},
        headers=person.headers,
    )


def read_with_gdal(tmp_path, body: bytes, name: str = "export.geojson"):
    """The file as QGIS would open it, through GDAL's GeoJSON driver: its layer's description
    and its features as {field: values} plus "geometry" (shapely points)."""
    path = tmp_path / name
    path.write_bytes(body)
    info = pyogrio.read_info(path)
    meta, _fids, geometry, values = pyogrio.raw.read(path)
    columns = {name: list(column) for name, column in zip(meta["fields"], values, strict=True)}
    columns["geometry"] = list(shapely.from_wkb(geometry)) if geometry is not None else []
    return info, columns


async def test_a_gis_reads_the_cases_as_wgs84_points(world, tmp_path):
    client, resident, dispatcher, cases, _other = world
    r = await export(client, dispatcher)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    assert 'filename="hazard-ledger-20260510-20260510.geojson"' in r.headers["content-disposition"]
    assert r.headers["x-row-count"] == "2"
    info, frame = read_with_gdal(tmp_path, r.content)
    assert info["features"] == 2
    assert info["geometry_type"] == "Point"
    assert info["crs"] == "EPSG:4326"
    assert {"id", "category", "status", "channel", "township", "community", "grid"} <= set(
        info["fields"]
    )
    assert not {"reporter", "reporter_phone"} & set(info["fields"])
    assert resident.phone not in r.text and resident.phone[-4:] not in r.text
    assert sorted(frame["id"]) == cases  # not the other township's case
    lat, lng = POINT_IN[G1]
    assert {(round(p.x, 6), round(p.y, 6)) for p in frame["geometry"]} == {(lng, lat)}

    doc = msgspec.json.decode(r.content)
    assert doc["crs_name"] == "WGS84" and "crs_note" not in doc
    first = doc["features"][0]["properties"]
    assert first["created_at"] == "2026-05-10T10:00:00+08:00"  # local time with its offset
    assert first["township"] == "解放碑街道" and first["grid"] == "第一网格"
    assert first["status"] == "submitted" and first["status_name"] == "待受理"
    # a script in a description is JSON text, nothing more
    assert first["description"] == f"第0处 {SCRIPT}"
    assert set(frame["description"]) == {f"第{i}处 {SCRIPT}" for i in range(2)}


async def test_gcj02_on_request_shifts_every_point_and_says_so(world, tmp_path):
    client, _resident, dispatcher, _cases, _other = world
    r = await export(client, dispatcher, crs="gcj02")
    assert r.status_code == 200, r.text
    doc = msgspec.json.decode(r.content)
    assert doc["crs_name"] == "GCJ02" and "GCJ-02" in doc["crs_note"]
    lat, lng = POINT_IN[G1]
    want = geo.wgs84_to_gcj02(lng, lat)
    for feature in doc["features"]:
        x, y = feature["geometry"]["coordinates"]
        assert (x, y) == (round(want[0], 6), round(want[1], 6))
        assert geo.distance_m(lng, lat, x, y) > 100  # a real shift, several hundred metres
    info, _ = read_with_gdal(tmp_path, r.content)
    assert info["features"] == 2


async def test_scoped_like_the_ledger_and_audited(world, tmp_path):
    client, resident, _dispatcher, cases, other = world
    r = await export(client, resident)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await export(client, await make_person(("dispatcher", T2)))
    assert [f["id"] for f in r.json()["features"]] == [other]
    # a grid worker does not export the ledger in any format
    r = await export(client, await make_person(("grid_worker", G1)))
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await export(client, await make_person(("grid_leader", G1)))
    assert [f["id"] for f in r.json()["features"]] == cases
    audits = (
        await AuditEntry.select()
        .where(AuditEntry.action == "report.export")
        .output(load_json=True)
        .run()
    )
    assert len(audits) == 2  # the refused ones are not exports
    assert {(a["detail"]["format"], a["detail"]["crs"]) for a in audits} == {("geojson", "wgs84")}


async def test_filters_are_the_ledgers(world, tmp_path):
    client, _resident, dispatcher, _cases, _other = world
    # another period: a valid, empty collection that a GIS opens
    r = await export(client, dispatcher, **{"from": "2026-05-11", "to": "2026-05-12"})
    assert r.status_code == 200
    assert r.json() == {
        "type": "FeatureCollection",
        "name": "hazard_reports",
        "crs_name": "WGS84",
        "features": [],
    }
    info, _ = read_with_gdal(tmp_path, r.content)
    assert info["features"] == 0
    # an area outside the caller's duties is refused, as for the workbook
    g3 = await Area.select(Area.id).where(Area.code == G3).first().run()
    r = await export(client, dispatcher, area_id=g3["id"])
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"crs": "bd09"}, "validation_failed"),
        ({"crs": "gcj02", "format": "csv"}, "crs_geojson_only"),
        ({"format": "kml"}, "validation_failed"),
        ({"from": "2026-05-12", "to": "2026-05-10"}, "validation_failed"),
    ],
)
async def test_bad_parameters_are_problems_with_codes(world, params, code):
    client, _resident, dispatcher, _cases, _other = world
    r = await export(client, dispatcher, **params)
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


async def test_two_thousand_cases_stream_in_batches(world, tmp_path, monkeypatch):
    client, _resident, dispatcher, _cases, _other = world
    grid = await Area.select(Area.id, Area.path).where(Area.code == G1).first().run()
    lat, lng = POINT_IN[G1]
    rows = [
        HazardReport(
            category="fire",
            level="general",
            description=f"堆放杂物 {i} {SCRIPT}",
            lat=lat + i * 1e-6,
            lng=lng,
            sent_lat=lat,
            sent_lng=lng,
            grid=grid["id"],
            area_path=grid["path"],
            status="submitted",
            created_at=NOW - timedelta(minutes=i % 300),
            updated_at=NOW,
        )
        for i in range(2000)
    ]
    for start in range(0, len(rows), 500):
        await HazardReport.insert(*rows[start : start + 500]).run()
    fetched: list[int] = []
    records = ledger.Export.records

    async def counting(self):
        async for batch in records(self):
            fetched.append(len(batch))
            yield batch

    monkeypatch.setattr(ledger.Export, "records", counting)
    started = time.perf_counter()
    r = await export(client, dispatcher)
    elapsed = time.perf_counter() - started
    assert r.status_code == 200
    assert max(fetched) <= ledger.BATCH and len(fetched) >= 3  # never the whole set at once
    assert elapsed < 20
    info, frame = read_with_gdal(tmp_path, r.content)
    assert info["features"] == 2002 == len(set(frame["id"]))


def test_the_writer_rounds_and_closes_an_empty_collection():
    feature = geojson.Feature(
        id=1, lng=106.123456789, lat=29.987654321, properties={"share": 1 / 3, "n": None}
    )
    encoded = msgspec.json.decode(geojson.encode(feature, "wgs84"))
    assert encoded["geometry"]["coordinates"] == [106.123457, 29.987654]
    assert encoded["properties"] == {"share": 0.333333, "n": None}


async def test_the_exports_page_offers_the_geojson_file(world):
    client, _resident, dispatcher, _cases, _other = world
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/exports")
    assert page.status_code == 200
    assert 'name="format" value="geojson"' in page.text
    assert "下载 GeoJSON（GIS）" in page.text
    r = await client.get("/api/v1/reports/export", params={"format": "geojson", **DAY})
    assert r.status_code == 200  # the console's cookie downloads it, as it does the workbook
    assert len(r.json()["features"]) == 2
