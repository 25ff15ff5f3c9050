"""In-process caches converge across replicas: a boundary import and a new assignment made
through replica A reach replica B's locate index, rosters and permissions within
GRID_INDEX_REFRESH_SECONDS (core/revisions.py), with no restart and no shared memory.

A is the app in this process, B a `grid-backend serve` process on the same database, which
reads the revisions at most once a second here."""

from __future__ import annotations

import asyncio
import json

import httpx
from factories import CITY, T3, make_person, make_tree
from servers import serve, serve_here
from shapely.geometry import box, mapping

from grid_backend.settings import get_settings

REFRESH_SECONDS = 1.0
NEW_GRID = "500105001001001"
POINT = {"lat": 29.55, "lng": 106.75}  # 5 km east of the toy city: in no grid until imported


def _district() -> dict:
    geometry = json.loads(json.dumps(mapping(box(106.70, 29.50, 106.80, 29.60))))
    levels = [
        ("500105", "district", CITY),
        ("500105001", "township", "500105"),
        ("500105001001", "community", "500105001"),
        (NEW_GRID, "grid", "500105001001"),
    ]
    features = [
        {
            "type": "Feature",
            "geometry": geometry,
            "properties": {"code": code, "name": "新区域", "level": level, "parent_code": parent},
        }
        for code, level, parent in levels
    ]
    return {"type": "FeatureCollection", "features": features}


async def _until(check, within: float = REFRESH_SECONDS + 4) -> float:
    """Seconds until `check()` (async) is true; fails after `within`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await check():
        assert loop.time() - start < within, f"not converged within {within} s"
        await asyncio.sleep(0.1)
    return loop.time() - start


async def test_a_change_through_one_replica_reaches_the_other_within_the_refresh(db):
    areas = await make_tree()
    admin = await make_person(("admin", CITY))
    worker = await make_person()
    async with (
        serve_here(get_settings()) as a,
        serve({"GRID_INDEX_REFRESH_SECONDS": str(REFRESH_SECONDS)}) as b_server,
        httpx.AsyncClient(timeout=10) as http,
    ):
        b = b_server.url

        async def located_on_b() -> httpx.Response:
            return await http.get(f"{b}/api/v1/locate", params=POINT, headers=admin.headers)

        coverage = f"/api/v1/areas/{areas[T3]}/coverage"
        # B has built its index and its caches of the worker's (no) permissions
        assert (await located_on_b()).status_code == 404
        assert (await http.get(b + coverage, headers=worker.headers)).status_code == 403

        # boundaries, through A
        r = await http.post(f"{a}/api/v1/areas/import", json=_district(), headers=admin.headers)
        assert r.status_code == 200, r.text

        async def b_locates_the_new_grid() -> bool:
            r = await located_on_b()
            return r.status_code == 200 and r.json()["grid"]["code"] == NEW_GRID

        await _until(b_locates_the_new_grid)

        # an assignment, through A: B's roster for the new grid and its permissions follow
        for duty, code in (("grid_worker", NEW_GRID), ("dispatcher", T3)):
            r = await http.post(
                f"{a}/api/v1/assignments",
                json={"duty": duty, "area_code": code, "account_id": worker.id},
                headers=admin.headers,
            )
            assert r.status_code == 201, r.text

        async def b_lists_the_worker() -> bool:
            team = (await located_on_b()).json()["team"]
            return [m["account_id"] for m in team] == [worker.id]

        async def b_lets_the_dispatcher_in() -> bool:
            return (await http.get(b + coverage, headers=worker.headers)).status_code == 200

        await _until(b_lists_the_worker)
        await _until(b_lets_the_dispatcher_in)
    assert "Traceback" not in b_server.log(), b_server.log()
