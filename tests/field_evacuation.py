"""Households of the demo grid worker in an evacuation, for the browser tests of the phone
(test_field_evacuation) and the sweeps that open every field page (accessibility, words)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISPATCHER, WORKER, RESIDENT = "13900000004", "13900000007", "13900000012"
SCRIPT = "<img src=x onerror=alert(1)>"

# households of the worker's grid, straight into the table (the ledger import is tested on
# its own); the phone stands at 29.5630, 106.5516
_SEED = """
import asyncio, json, sys
from grid_backend.areas.tables import Area
from grid_backend.evacuation.tables import Household, Shelter, ShelterArea
from grid_backend.people.tables import Account

async def main():
    spec = json.loads(sys.argv[1])
    grid = await Area.select(Area.id, Area.path).where(Area.id == spec["grid"]).first()
    worker = await Account.select(Account.id).where(Account.phone == spec["worker"]).first()
    resident = await Account.select(Account.id).where(Account.phone == spec["resident"]).first()
    shelter = (await Shelter.insert(Shelter(
        name=spec["shelter"], kind="school", lat=29.565, lng=106.553, sent_lat=29.565,
        sent_lng=106.553, capacity=200, contact_phone="023-63000000", area_path=grid["path"],
    )).returning(Shelter.id))[0]["id"]
    await ShelterArea.insert(ShelterArea(shelter=shelter, area=grid["id"], area_path=grid["path"]))
    if any(h.get("linked") for h in spec["households"]):  # a resident lives in one household
        await Household.update({Household.resident: None}).where(
            Household.resident == resident["id"])
    ids = {}
    for h in spec["households"]:
        row = await Household.insert(Household(
            grid=grid["id"], area_path=grid["path"], helper=worker["id"], shelter=shelter,
            resident=resident["id"] if h.pop("linked", False) else None, **h,
        )).returning(Household.id)
        ids[h["address"]] = row[0]["id"]
    print(json.dumps({"shelter": shelter, "households": ids}))

asyncio.run(main())
"""


def _seed(live_server, spec: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _SEED, json.dumps(spec, ensure_ascii=False)],
        env={**live_server.env, "PICCOLO_CONF": "grid_backend.piccolo_conf"},
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def evacuate(
    live_server,
    tag: int | str,
    *,
    households: list[dict] | None = None,
    resident: str = RESIDENT,
    shelter: str | None = None,
) -> tuple[int, dict]:
    """Households of the demo worker's grid (by default four, one linked to the demo resident,
    payloads in a name and a note; or those given, `linked: True` for the resident's) and
    their shelter; the dispatcher starts an evacuation over the grid. The evacuation's id and
    what was seeded."""
    with live_server.api(live_server.login(WORKER)) as api:
        me = api.get("/api/v1/me").json()
    grid_id = next(a["area_id"] for a in me["assignments"] if a["duty"] == "grid_worker")

    def house(name, lat, lng, **fields):
        return {
            "address": f"{name}{tag}",
            "head_name": f"户主{name}",
            "head_phone": "13912345678",
            "people": 3,
            "lat": lat,
            "lng": lng,
            **fields,
        }

    seeded = _seed(
        live_server,
        {
            "grid": grid_id,
            "worker": WORKER,
            "resident": resident,
            "shelter": shelter or f"七星岗小学{tag}",
            "households": households
            or [
                house("远处", 29.60, 106.60, linked=True, note=SCRIPT),
                house("独居", 29.58, 106.58, elderly_alone=1, disabled=1),
                house("近处", 29.5631, 106.5517, head_name=SCRIPT),
                house("幼儿", 29.59, 106.59, children=2),
            ],
        },
    )
    with live_server.api(live_server.login(DISPATCHER)) as api:
        # the browser tests share one server: evacuations other tests left running would put
        # their households (and the demo's) on the same phone pages
        active = api.get("/api/v1/evacuations", params={"status": "active", "limit": 200})
        for other in active.json()["items"]:
            if other["manageable"]:  # the others do not cover this grid
                ended = api.post(f"/api/v1/evacuations/{other['id']}/end", json={})
                assert ended.status_code == 200, ended.text
        started = api.post("/api/v1/evacuations", json={"area_ids": [grid_id]})
        assert started.status_code == 201, started.text
    return started.json()["id"], seeded
