"""Patrol check-ins as GeoJSON, read back by GDAL (pyogrio): the tasks of the period in the
caller's areas, their flags and notes; a grid worker is refused, as for patrol review."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pyogrio
from factories import T2, make_person

URL = "/api/v1/patrols/check-ins/export.geojson"
CP = [(29.52, 106.52), (29.53, 106.53), (29.54, 106.54)]  # the plan's checkpoints (conftest)
SCRIPT = '<script>alert("x")</script>'


async def test_check_ins_open_in_a_gis(world, tmp_path):
    await world.plan()
    world.at(datetime(2026, 3, 31, 1, 2, tzinfo=UTC))  # 09:02 in Shanghai
    task = (await world.my_tasks(world.worker))[0]
    r = await world.post(world.worker, f"/api/v1/tasks/{task['id']}/start")
    assert r.status_code == 200, r.text
    for checkpoint, (lat, lng) in zip(r.json()["checkpoints"], CP, strict=True):
        r = await world.post(
            world.worker,
            f"/api/v1/tasks/{task['id']}/check-ins",
            {
                "checkpoint_id": checkpoint["id"],
                "location": {"lat": lat, "lng": lng},
                "note": SCRIPT,
            },
        )
        assert r.status_code == 201, r.text

    period = {"from": "2026-03-31", "to": "2026-03-31"}
    r = await world.client.get(URL, params=period, headers=world.dispatcher.headers)
    assert r.status_code == 200, r.text
    assert "patrol-check-ins-20260331-20260331.geojson" in r.headers["content-disposition"]
    path = tmp_path / "check-ins.geojson"
    path.write_bytes(r.content)
    info = pyogrio.read_info(path)
    assert (info["features"], info["geometry_type"], info["crs"]) == (3, "Point", "EPSG:4326")
    assert {"at", "task", "checkpoint", "patroller", "within_radius", "note"} <= set(info["fields"])
    doc = msgspec.json.decode(r.content)
    first = doc["features"][0]
    assert first["geometry"]["coordinates"] == [CP[0][1], CP[0][0]]
    assert first["properties"]["at"] == "2026-03-31T09:02:00+08:00"
    assert first["properties"]["note"] == SCRIPT
    assert first["properties"]["patroller"] == "周网格员"

    r = await world.client.get(
        URL, params={"from": "2026-04-01", "to": "2026-04-02"}, headers=world.dispatcher.headers
    )
    assert r.json()["features"] == []
    r = await world.client.get(
        URL, params=period, headers=(await make_person(("dispatcher", T2))).headers
    )
    assert r.json()["features"] == []
    r = await world.client.get(URL, params=period, headers=world.worker.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await world.client.get(
        URL, params={"from": "2026-04-02", "to": "2026-03-31"}, headers=world.dispatcher.headers
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
