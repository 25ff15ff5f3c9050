"""The demo seed and the city seed, and the command line that runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import shapely
from factories import make_tree

from grid_backend.areas.locate import grid_index
from grid_backend.areas.tables import Area, AreaBoundary, RiskPoint
from grid_backend.core.tables import AuditEntry
from grid_backend.evacuation.tables import Household, Shelter
from grid_backend.patrols.tables import PatrolPlan, PatrolTask
from grid_backend.people.tables import Account, Assignment
from grid_backend.seeding import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_city, seed_demo

ROOT = Path(__file__).resolve().parents[1]


async def _counts() -> dict[str, int]:
    return {
        t._meta.tablename: await t.count().run()
        for t in (
            Area,
            AreaBoundary,
            RiskPoint,
            Account,
            Assignment,
            PatrolPlan,
            PatrolTask,
            Shelter,
            Household,
        )
    }


async def test_demo_seed_is_idempotent_and_complete(client):
    first = await seed_demo()
    assert first["areas_created"] > 200
    assert first["patrol_plans_created"] >= 3  # the township's grids with risk points
    assert first["households_created"] == 12
    after_first = await _counts()
    second = await seed_demo()
    assert second == {
        "households_created": 0,
        "cases_created": 0,
        "patrol_plans_created": 0,
        "areas_created": 0,
        "risk_points_created": 0,
        "assignments_created": 0,
        "demo_password": DEMO_PASSWORD,
    }
    assert await _counts() == after_first
    townships = await Area.select(Area.name).where(Area.level == "township").run()
    assert {"解放碑街道", "朝天门街道", "七星岗街道"} <= {t["name"] for t in townships}
    assert len(townships) == 11
    # every demo account can sign in and holds the duty the README promises
    for phone, _, duty, _ in DEMO_ACCOUNTS:
        r = await client.post(
            "/api/v1/auth/login", json={"phone": phone, "password": DEMO_PASSWORD}
        )
        assert r.status_code == 200, phone
        me = await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
        )
        duties = {a["duty"] for a in me.json()["assignments"]}
        assert duties == ({duty} if duty else set()), phone
        # a fresh login limiter per phone so 12 logins from one address stay under the limit
    assert await Assignment.count().where(Assignment.duty == "grid_leader").run() > 150
    # the demo grid worker is the helper of households in their grid, some with vulnerable
    # members; one household is the demo resident's; all three shelters are in use
    token = (
        await client.post(
            "/api/v1/auth/login", json={"phone": "13900000007", "password": DEMO_PASSWORD}
        )
    ).json()["access_token"]
    mine = (
        await client.get("/api/v1/households", headers={"Authorization": f"Bearer {token}"})
    ).json()["items"]
    assert len(mine) >= 4
    assert any(h["vulnerable"] for h in mine)
    assert {h["helper"]["name"] for h in mine} >= {"周网格员"}
    resident = await Account.select(Account.id).where(Account.phone == "13900000012").first().run()
    assert resident is not None
    assert await Household.count().where(Household.resident == resident["id"]).run() == 1
    used = {r["shelter"] for r in await Household.select(Household.shelter).run()}
    assert len(used) == 3 == await Shelter.count().run()
    # cases in every state of the workflow, each with a real photo and a complete timeline
    from grid_backend.hazards.tables import HazardEvent, HazardReport, ReportPhoto
    from grid_backend.hazards.workflow import STATUSES

    statuses = {r["status"] for r in await HazardReport.select(HazardReport.status).run()}
    assert statuses == set(STATUSES)
    assert first["cases_created"] >= 30
    without_photo = (
        await HazardReport.count()
        .where(HazardReport.id.not_in(ReportPhoto.select(ReportPhoto.report)))
        .run()
    )
    assert without_photo == 0
    closed = (
        await HazardReport.select(HazardReport.id)
        .where(HazardReport.status == "closed")
        .first()
        .run()
    )
    actions = [
        e["action"]
        for e in await HazardEvent.select(HazardEvent.action)
        .where(HazardEvent.report == closed["id"])
        .order_by(HazardEvent.id)
        .run()
    ]
    assert actions == [
        "submit",
        "register",
        "dispatch",
        "acknowledge",
        "report_fixed",
        "pass_check",
    ]


async def test_demo_grids_lie_inside_the_real_district(client):
    await seed_demo()
    district = (
        await AreaBoundary.select(AreaBoundary.wkb)
        .where(AreaBoundary.area.code == "500103")
        .first()
        .run()
    )
    outline = shapely.from_wkb(bytes(district["wkb"]))
    index = await grid_index.get()
    assert len(index) > 200
    union = shapely.union_all(index.geoms)
    assert union.area >= outline.area * 0.999
    assert outline.buffer(1e-6).contains(union)


async def test_city_seed_loads_every_district(client):
    result = await seed_city(grids=400)
    assert result["levels"]["district"] == 38
    assert result["levels"]["grid"] == 400
    assert await Area.count().where(Area.level == "grid").run() == 400
    assert await AuditEntry.count().where(AuditEntry.action == "areas.import").run() == 1


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grid_backend.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_cli_create_user_gives_an_admin_duty(client):
    await make_tree()
    done = _cli(
        "create-user",
        "--phone",
        "+86 139-1234-0000",
        "--password",
        "Admin2024ok",
        "--name",
        "管理员",
        "--duty",
        "admin",
        "--area-code",
        "500000",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["phone"] == "13912340000"
    r = await client.post(
        "/api/v1/auth/login", json={"phone": "13912340000", "password": "Admin2024ok"}
    )
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert [a["duty"] for a in me.json()["assignments"]] == ["admin"]


async def test_cli_create_user_with_a_bad_duty_creates_nothing(client):
    await make_tree()
    done = _cli(
        "create-user",
        "--phone",
        "13912340001",
        "--password",
        "Admin2024ok",
        "--name",
        "x",
        "--duty",
        "admin",
        "--area-code",
        "500103",
    )
    assert done.returncode == 1
    assert "duty_area_mismatch" in done.stderr
    assert await Account.count().run() == 0


async def test_cli_imports_the_real_district_file(client, tmp_path):
    src = ROOT / "seeds" / "chongqing_districts.geojson"
    done = _cli("import-areas", str(src), "--datum", "gcj02")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 39
    yuzhong = await Area.select(Area.path).where(Area.code == "500103").first().run()
    assert yuzhong["path"] == "500000/500103/"
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}')
    done = _cli("import-areas", str(bad), "--datum", "wgs84")
    assert done.returncode == 1
    assert "features[0]" in done.stderr
