"""Threatened households and a shelter for the browser tests, written straight into the live
server's database (the ledger import is tested on its own): households of the grid of a demo
grid worker, who is their helper, and a shelter serving that grid's community."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_SEED = """
import asyncio, json, sys
from grid_backend.areas.tables import Area
from grid_backend.evacuation.tables import Household, Shelter, ShelterArea
from grid_backend.people.tables import Account, Assignment

async def main():
    spec = json.loads(sys.argv[1])
    helper = await Account.select(Account.id).where(Account.phone == spec["helper"]).first()
    duty = await Assignment.select(Assignment.area, Assignment.area_path).where(
        (Assignment.account == helper["id"]) & (Assignment.duty == "grid_worker")).first()
    grid = await Area.select(Area.id, Area.parent, Area.path).where(Area.id == duty["area"]).first()
    community = await Area.select(Area.id, Area.path).where(Area.id == grid["parent"]).first()
    out = {"grid_id": grid["id"], "community_id": community["id"], "households": [], "shelter_id": None}
    if spec.get("shelter"):
        s = spec["shelter"]
        row = await Shelter.insert(Shelter(name=s["name"], kind="school", lat=29.56, lng=106.55,
            sent_lat=29.56, sent_lng=106.55, capacity=s["capacity"], area_path=community["path"])
        ).returning(Shelter.id).run()
        out["shelter_id"] = row[0]["id"]
        await ShelterArea.insert(ShelterArea(shelter=out["shelter_id"], area=community["id"],
            area_path=community["path"])).run()
    for h in spec["households"]:
        row = await Household.insert(Household(grid=grid["id"], area_path=grid["path"],
            helper=helper["id"], shelter=out["shelter_id"], **h)).returning(Household.id).run()
        out["households"].append(row[0]["id"])
    print(json.dumps(out))

asyncio.run(main())
"""


def seed_households(
    live_server: Any,
    helper_phone: str,
    households: list[dict[str, Any]],
    shelter: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Households (address, head_name, head_phone, people, elderly_alone, note, ...) of the
    helper's grid, and optionally a shelter {name, capacity} serving its community: their ids,
    the grid's and the community's."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _SEED,
            json.dumps({"helper": helper_phone, "households": households, "shelter": shelter}),
        ],
        env={**live_server.env, "PICCOLO_CONF": "grid_backend.piccolo_conf"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        raise AssertionError(f"seeding households failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ledger_header(sheet: Any) -> tuple[int, dict[str, int]]:
    for row in range(1, 11):
        names = {
            str(cell.value).strip(): cell.column for cell in sheet[row] if cell.value is not None
        }
        if "网格编码" in names:
            return row, names
    raise AssertionError("no header row in the template")


def fill_ledger(path: Path, rows: list[dict[str, object]]) -> None:
    """The downloaded ledger template at `path`, its example row replaced by `rows` (each by
    its Chinese column names)."""
    from openpyxl import load_workbook

    book = load_workbook(path)
    sheet = book.worksheets[0]
    top, columns = _ledger_header(sheet)
    sheet.delete_rows(top + 1, sheet.max_row)  # the template's example row
    for i, values in enumerate(rows, start=top + 1):
        for name, value in values.items():
            sheet.cell(row=i, column=columns[name], value=value)
    book.save(path)
    book.close()


def demo_grid(live_server: Any, worker: str = "13900000007") -> dict[str, Any]:
    """The demo grid (its worker's households: id, code) and a shelter serving it (its name),
    through the API."""
    with live_server.api(live_server.login(worker)) as api:
        mine = api.get("/api/v1/households", params={"limit": 200}).json()["items"]
    grid = next(h["grid"] for h in mine if h["helper"]["name"] == "周网格员")
    shelter = next(h["shelter"] for h in mine if h["shelter"])
    return {"id": grid["id"], "code": grid["code"], "shelter": shelter["name"],
            "shelter_id": shelter["id"]}  # fmt: skip
