"""Who may do what where: every duty (and a resident) × every protected endpoint × a grid
inside or outside the caller's area, over HTTP.

The expected outcome comes from the tables below, written from DESIGN.md §3 and §9, never
from grid_backend.core.policy (a test that asks the policy what the policy says cannot fail).

Speed: the per-test `client` fixture empties every table, which alone costs 0.1-0.3 s; for
some three hundred cases that would blow the time budget. So the matrix builds one world per
module (area tree, one caller per duty, a grid worker and a risk point in each target grid)
and talks to the same app the same way `client` does. Tests that write only add rows, set a
risk point's note, re-import a grid unchanged or end an assignment they created themselves,
so no case depends on another having run or not."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import factories
import httpx
import pytest
import shapely
from factories import (
    CITY,
    D1,
    G1,
    G2,
    G3,
    G4,
    POINT_IN,
    T1,
    TREE,
    Person,
    make_person,
    make_tree,
    who,
)
from shapely.geometry import box

from grid_backend.areas.risk_points import create_risk_point
from grid_backend.areas.schemas import RiskPointCreate
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import clock, policy
from grid_backend.evacuation.tables import Household
from grid_backend.people.schemas import AssignmentCreate
from grid_backend.people.services import create_assignment
from grid_backend.people.tables import Assignment

# Where each caller holds its one duty.
HOME: dict[str, str | None] = {
    "admin": CITY,
    "supervisor": D1,
    "commander": T1,
    "dispatcher": T1,
    "board_handler": T1,
    "grid_leader": G1,
    "grid_worker": G1,
    "grid_instructor": G1,
    "emergency_officer": G1,
    "responder": G1,
    "site_monitor": G1,
    "resident": None,  # an account with no assignment
}

# The grids each caller is tried against: its own, its nearest neighbour outside, and one in
# another district (for the admin and the supervisor, G4 and G3 are inside).
TOWNSHIP_TARGETS = (G1, G3, G4)
GRID_TARGETS = (G1, G2, G4)
TARGETS: dict[str, tuple[str, ...]] = {
    "admin": (G1, G4),
    "supervisor": (G1, G3, G4),
    "commander": TOWNSHIP_TARGETS,
    "dispatcher": TOWNSHIP_TARGETS,
    "board_handler": TOWNSHIP_TARGETS,
    "grid_leader": GRID_TARGETS,
    "grid_worker": GRID_TARGETS,
    "grid_instructor": GRID_TARGETS,
    "emergency_officer": GRID_TARGETS,
    "responder": GRID_TARGETS,
    "site_monitor": GRID_TARGETS,
    "resident": (G1, G4),
}
GRID_NAMES = {G1: "G1", G2: "G2", G3: "G3", G4: "G4"}

# What each duty may do inside its own area (DESIGN.md §3, §9). Outside it: nothing.
MANAGERS = {"admin", "supervisor", "commander", "dispatcher"}
GRID_TEAM = {"grid_leader", "grid_worker", "grid_instructor", "emergency_officer", "responder"}
STAFF = MANAGERS | {"board_handler"} | GRID_TEAM | {"site_monitor"}
MAY = {
    "see others' assignments": MANAGERS | {"grid_leader", "grid_instructor"},
    "manage assignments": MANAGERS,
    "see duty coverage": MANAGERS | {"grid_leader", "grid_instructor"},
    "read risk points": STAFF,
    "write risk points": MANAGERS | {"grid_leader", "emergency_officer"},
    "import areas": {"admin"},
    "see phone numbers": STAFF,
    "read households": STAFF,
    "manage households": MANAGERS | {"grid_leader"},
}


PARENT = {code: parent for code, _, _, parent, _ in TREE}


def inside(caller: str, code: str | None) -> bool:
    """Whether the area is the caller's home area or below it in the toy tree."""
    home = HOME[caller]
    while code is not None and home is not None:
        if code == home:
            return True
        code = PARENT[code]
    return False


def expect(what: str, caller: str, grid: str) -> bool:
    return caller in MAY[what] and inside(caller, grid)


CASES = [
    pytest.param(
        caller,
        grid,
        id=f"{caller}-{'inside' if inside(caller, grid) else 'outside'}-{GRID_NAMES[grid]}",
    )
    for caller, grids in TARGETS.items()
    for grid in grids
]
MASKED = re.compile(r"^\d{3}\*{4}\d{4}$")


@dataclass(kw_only=True)
class World(factories.World):
    client: httpx.AsyncClient
    callers: dict[str, Person]
    workers: dict[str, Person]  # grid code -> a grid worker on duty there
    worker_assignments: dict[str, int]  # grid code -> that worker's assignment id
    points: dict[str, int]  # grid code -> a risk point in it
    households: dict[str, int]  # grid code -> a threatened household in it (its worker helps)
    recruit: Person  # an account the managers give duties to

    @property
    def area_ids(self) -> dict[str, int]:
        return self.areas

    def headers(self, caller: str) -> dict[str, str]:
        return self.callers[caller].headers


async def _empty_tables() -> None:
    from piccolo.conf.apps import Finder
    from piccolo.table import sort_table_classes

    # configuration seeded by migrations (categories, deadlines) stays
    keep = {"hazard_category", "sla_rule"}
    for table in reversed(sort_table_classes(Finder().get_table_classes())):  # dependants first
        if table._meta.tablename not in keep:
            await table.delete(force=True).run()


async def _point(grid: str, name: str) -> int:
    lat, lng = POINT_IN[grid]
    point = await create_risk_point(
        data=RiskPointCreate(name=name, type="landslide", risk_level="medium", lat=lat, lng=lng),
        grants=None,
        actor_id=None,
    )
    return point.id


async def _household(grid: str, helper_id: int) -> int:
    area = await Area.select(Area.id, Area.path).where(Area.code == grid).first()
    rows = await Household.insert(
        Household(
            grid=area["id"],
            area_path=area["path"],
            address=f"{GRID_NAMES[grid]} 1号",
            head_name="户主",
            head_phone="13812345678",
            people=3,
            helper=helper_id,
        )
    ).returning(Household.id)
    return rows[0]["id"]


@pytest.fixture(scope="module")
async def world(database, app):
    from grid_backend.areas.locate import grid_index
    from grid_backend.core.revisions import reset_all

    await _empty_tables()
    grid_index.reset()
    reset_all()  # cached grants of the previous module's accounts
    clock.set_clock(None)
    area_ids = await make_tree()
    points = {grid: await _point(grid, f"滑坡点 {GRID_NAMES[grid]}") for grid in GRID_NAMES}
    callers: dict[str, Person] = {"resident": await make_person(name="resident")}
    for duty in policy.DUTIES:
        extra: dict[str, object] = {}
        if duty == "board_handler":
            extra["board"] = "safety_law"
        if duty == "site_monitor":
            extra["risk_point_id"] = points[G1]
        callers[duty] = await make_person((duty, HOME[duty]), name=duty, **extra)
    workers = {grid: await make_person(("grid_worker", grid), name="worker") for grid in GRID_NAMES}
    worker_assignments = {
        r["area.code"]: r["id"]
        for r in await Assignment.select(Assignment.id, Assignment.area.code)
        .where(Assignment.account.is_in([p.id for p in workers.values()]))
        .run()
    }
    households = {grid: await _household(grid, workers[grid].id) for grid in GRID_NAMES}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield await factories.make_world(
            World,
            client,
            areas=area_ids,
            callers=callers,
            workers=workers,
            worker_assignments=worker_assignments,
            points=points,
            households=households,
            recruit=who(name="recruit"),
        )
    grid_index.reset()
    reset_all()


def test_the_matrix_covers_every_duty():
    assert set(HOME) == set(policy.DUTIES) | {"resident"}
    assert set(TARGETS) == set(HOME)
    assert set(policy.DUTIES) == STAFF


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "forbidden"


@pytest.mark.parametrize("caller", list(HOME))
async def test_get_me(world, caller):
    r = await world.client.get("/api/v1/me", headers=world.headers(caller))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["account"]["id"] == world.callers[caller].id
    held = [(a["duty"], a["area_code"]) for a in body["assignments"]]
    assert held == ([] if caller == "resident" else [(caller, HOME[caller])])
    assert body["is_staff"] is (caller in STAFF)


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_get_assignments(world, caller, grid):
    r = await world.client.get(
        "/api/v1/assignments", params={"limit": 200}, headers=world.headers(caller)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    visible = {item["id"] for item in body["items"]}
    assert (world.worker_assignments[grid] in visible) is expect(
        "see others' assignments", caller, grid
    )
    me = world.callers[caller].id
    for item in body["items"]:  # nothing outside the caller's reach, bar its own
        if item["account_id"] != me:
            assert caller in MAY["see others' assignments"], item
            assert inside(caller, item["area_code"]), item


async def _count(account_id: int, area_id: int) -> int:
    return (
        await Assignment.count()
        .where((Assignment.account == account_id) & (Assignment.area == area_id))
        .run()
    )


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_post_assignments(world, caller, grid):
    before = await _count(world.recruit.id, world.area_ids[grid])
    r = await world.client.post(
        "/api/v1/assignments",
        headers=world.headers(caller),
        json={"duty": "grid_worker", "area_code": grid, "account_id": world.recruit.id},
    )
    if expect("manage assignments", caller, grid):
        assert r.status_code == 201, r.text
        assert r.json()["area_code"] == grid
        assert await _count(world.recruit.id, world.area_ids[grid]) == before + 1
    else:
        _refused(r)
        assert await _count(world.recruit.id, world.area_ids[grid]) == before


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_delete_assignment(world, caller, grid):
    victim = await create_assignment(
        data=AssignmentCreate(duty="grid_worker", area_code=grid, account_id=world.recruit.id),
        grants=None,
        actor_id=None,
    )
    r = await world.client.delete(f"/api/v1/assignments/{victim.id}", headers=world.headers(caller))
    row = (
        await Assignment.select(Assignment.valid_to).where(Assignment.id == victim.id).first().run()
    )
    if expect("manage assignments", caller, grid):
        assert r.status_code == 200, r.text
        yesterday = clock.today() - timedelta(days=1)
        assert r.json()["valid_to"] == yesterday.isoformat()
        assert row["valid_to"] == yesterday
    else:
        _refused(r)
        assert row["valid_to"] is None


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_get_coverage(world, caller, grid):
    r = await world.client.get(
        f"/api/v1/areas/{world.area_ids[grid]}/coverage", headers=world.headers(caller)
    )
    if expect("see duty coverage", caller, grid):
        assert r.status_code == 200, r.text
        assert r.json()["area"]["code"] == grid
        assert r.json()["grids"] == 1
    else:
        _refused(r)


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_get_risk_point(world, caller, grid):
    r = await world.client.get(
        f"/api/v1/risk-points/{world.points[grid]}", headers=world.headers(caller)
    )
    if expect("read risk points", caller, grid):
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["code"] == grid
    else:
        _refused(r)


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_post_risk_points(world, caller, grid):
    lat, lng = POINT_IN[grid]
    before = await RiskPoint.count().run()
    r = await world.client.post(
        "/api/v1/risk-points",
        headers=world.headers(caller),
        json={
            "name": f"积水点 ({caller})",
            "type": "flood_underpass",
            "risk_level": "low",
            "lat": lat,
            "lng": lng,
        },
    )
    if expect("write risk points", caller, grid):
        assert r.status_code == 201, r.text
        assert r.json()["grid"]["code"] == grid
        assert await RiskPoint.count().run() == before + 1
    else:
        _refused(r)
        assert await RiskPoint.count().run() == before


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_patch_risk_point(world, caller, grid):
    note = f"checked by {caller} in {GRID_NAMES[grid]}"
    r = await world.client.patch(
        f"/api/v1/risk-points/{world.points[grid]}",
        headers=world.headers(caller),
        json={"note": note},
    )
    stored = (
        await RiskPoint.select(RiskPoint.note)
        .where(RiskPoint.id == world.points[grid])
        .first()
        .run()
    )
    if expect("write risk points", caller, grid):
        assert r.status_code == 200, r.text
        assert r.json()["note"] == note
        assert stored["note"] == note
    else:
        _refused(r)
        assert stored["note"] != note


def _grid_feature(code: str) -> dict:
    """The grid exactly as the toy tree has it, so re-importing it changes nothing."""
    _, name, level, parent, bounds = next(row for row in TREE if row[0] == code)
    return {
        "type": "Feature",
        "geometry": json.loads(shapely.to_geojson(box(*bounds))),
        "properties": {
            "code": code,
            "name": name,
            "level": level,
            "parent_code": parent,
            "households": 400,
            "population": 1000,
        },
    }


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_post_areas_import(world, caller, grid):
    r = await world.client.post(
        "/api/v1/areas/import",
        headers=world.headers(caller),
        json={"type": "FeatureCollection", "features": [_grid_feature(grid)]},
    )
    if expect("import areas", caller, grid):
        assert r.status_code == 200, r.text
        assert r.json()["updated"] == 1
        assert r.json()["boundaries_changed"] == 0
    else:
        _refused(r)


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_get_locate(world, caller, grid):
    lat, lng = POINT_IN[grid]
    r = await world.client.get(
        "/api/v1/locate", params={"lat": lat, "lng": lng}, headers=world.headers(caller)
    )
    assert r.status_code == 200, r.text  # anyone may ask where they are
    body = r.json()
    assert body["grid"]["code"] == grid
    sees = expect("see phone numbers", caller, grid)
    assert body["phones_masked"] is (not sees)
    worker = world.workers[grid]
    phones = {m["account_id"]: m["phone"] for m in body["team"]}
    assert worker.id in phones
    if sees:
        assert phones[worker.id] == worker.phone
    else:
        assert all(MASKED.match(p) for p in phones.values()), phones
        assert phones[worker.id] == worker.phone[:3] + "****" + worker.phone[-4:]


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_get_households(world, caller, grid):
    r = await world.client.get(
        "/api/v1/households", params={"limit": 200}, headers=world.headers(caller)
    )
    if caller == "resident":
        _refused(r)
        return
    assert r.status_code == 200, r.text
    items = {h["id"]: h for h in r.json()["items"]}
    sees = expect("read households", caller, grid)
    assert (world.households[grid] in items) is sees
    for item in items.values():  # nothing outside the caller's reach, and every phone in full
        assert inside(caller, item["grid"]["code"]), item
        assert item["head_phone"] == "13812345678" and item["masked"] is False


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_get_household(world, caller, grid):
    r = await world.client.get(
        f"/api/v1/households/{world.households[grid]}", headers=world.headers(caller)
    )
    if expect("read households", caller, grid):
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["code"] == grid and r.json()["head_phone"] == "13812345678"
    else:  # a household one may not see does not exist for them
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "household_not_found"


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_post_households(world, caller, grid):
    before = await Household.count().run()
    r = await world.client.post(
        "/api/v1/households",
        headers=world.headers(caller),
        json={
            "grid_id": world.area_ids[grid],
            "address": f"{caller} 新户",
            "head_name": "户主",
            "head_phone": "13912345678",
            "people": 2,
            "helper_id": world.workers[grid].id,
        },
    )
    if expect("manage households", caller, grid):
        assert r.status_code == 201, r.text
        assert await Household.count().run() == before + 1
    else:
        _refused(r)
        assert await Household.count().run() == before


@pytest.mark.parametrize(("caller", "grid"), CASES)
async def test_patch_household(world, caller, grid):
    note = f"checked by {caller} in {GRID_NAMES[grid]}"
    r = await world.client.patch(
        f"/api/v1/households/{world.households[grid]}",
        headers=world.headers(caller),
        json={"note": note},
    )
    stored = (
        await Household.select(Household.note)
        .where(Household.id == world.households[grid])
        .first()
        .run()
    )
    if expect("manage households", caller, grid):
        assert r.status_code == 200, r.text
        assert stored["note"] == note
    elif expect("read households", caller, grid):
        _refused(r)
        assert stored["note"] != note
    else:
        assert r.status_code == 404, r.text
        assert stored["note"] != note
