"""Seed data: the 渝中区 demo (idempotent) and the city-scale tree for benchmarks."""

from __future__ import annotations

import random
from typing import Any

from tqdm import tqdm

from grid_backend.areas.services import AreaInput, apply_areas
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import clock
from grid_backend.core.db import write_transaction
from grid_backend.people.schemas import AssignmentCreate
from grid_backend.people.services import create_account, create_assignment
from grid_backend.people.tables import Account, Assignment

DEMO_PASSWORD = "Grid141demo"

# (phone, name, duty, where): where is "city", "district", "township" or "grid" of the demo.
DEMO_ACCOUNTS: list[tuple[str, str, str | None, str | None]] = [
    ("13900000001", "陈管理", "admin", "city"),
    ("13900000002", "刘督导", "supervisor", "district"),
    ("13900000003", "王指挥", "commander", "township"),
    ("13900000004", "李值班", "dispatcher", "township"),
    ("13900000005", "赵板块", "board_handler", "township"),
    ("13900000006", "张网格长", "grid_leader", "grid"),
    ("13900000007", "周网格员", "grid_worker", "grid"),
    ("13900000008", "吴指导员", "grid_instructor", "grid"),
    ("13900000009", "郑应急", "emergency_officer", "grid"),
    ("13900000010", "孙群防", "responder", "grid"),
    ("13900000011", "钱监测", "site_monitor", "grid"),
    ("13900000012", "居民小杨", None, None),
]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅兰"


def _to_input(a: Any) -> AreaInput:
    return AreaInput(a.code, a.name, a.level, a.parent_code, a.geometry, a.households,
                     a.population, a.kind)


async def _ensure_account(phone: str, name: str, password: str) -> int:
    row = await Account.select(Account.id).where(Account.phone == phone).first().run()
    if row:
        return row["id"]
    return (await create_account(phone=phone, password=password, name=name)).id


async def _ensure_assignment(account_id: int, area_code: str, duty: str, **extra: Any) -> bool:
    area = await Area.select(Area.id).where(Area.code == area_code).first().run()
    exists = await Assignment.exists().where(
        (Assignment.account == account_id) & (Assignment.area == area["id"]) & (Assignment.duty == duty)
    ).run()
    if exists:
        return False
    await create_assignment(
        data=AssignmentCreate(duty=duty, area_code=area_code, account_id=account_id,
                              valid_from=clock.today().replace(month=1, day=1), **extra),
        grants=None, actor_id=None,
    )
    return True


async def seed_demo(*, if_empty: bool = False) -> dict[str, Any]:
    """Load the 渝中区 demo; running it again adds nothing."""
    from grid_backend.areas.generate import generate_demo

    if if_empty and await Area.count().run():
        return {"skipped": "the database already has areas"}
    areas, points = generate_demo()
    known = {r["code"] for r in await Area.select(Area.code).run()}
    fresh = [_to_input(a) for a in areas if a.code not in known]
    if fresh:
        await apply_areas(fresh, source_datum="gcj02", actor_id=None)
    known_points = {r["code"] for r in await RiskPoint.select(RiskPoint.code).run()}
    grid_ids = {r["code"]: (r["id"], r["path"]) for r in await Area.select(
        Area.id, Area.code, Area.path).where(Area.level == "grid").run()}
    new_points = [
        RiskPoint(code=p.code, name=p.name, type=p.type, risk_level=p.risk_level, lng=p.lng,
                  lat=p.lat, grid=grid_ids[p.grid_code][0], area_path=grid_ids[p.grid_code][1],
                  contacts=p.contacts, threatened_households=p.threatened_households)
        for p in points if p.code not in known_points
    ]
    if new_points:
        await RiskPoint.insert(*new_points).run()

    township = next(a for a in areas if a.level == "township")
    grid = next(a for a in areas if a.level == "grid" and a.parent_code.startswith(township.code))
    where = {"city": "500000", "district": "500103", "township": township.code, "grid": grid.code}
    monitored = next((p for p in points if p.grid_code == grid.code), None)
    assignments = 0
    for phone, name, duty, level in DEMO_ACCOUNTS:
        account_id = await _ensure_account(phone, name, DEMO_PASSWORD)
        if duty is None or level is None:
            continue
        extra: dict[str, Any] = {}
        if duty == "board_handler":
            extra["board"] = "safety_law"
        if duty == "grid_worker":
            extra["employment"] = "full_time"
        if duty == "site_monitor":
            if monitored is None:
                continue
            rp = await RiskPoint.select(RiskPoint.id).where(RiskPoint.code == monitored.code).first().run()
            extra["risk_point_id"] = rp["id"]
        assignments += await _ensure_assignment(account_id, where[level], duty, **extra)
    assignments += await _staff_grids(areas, skip=grid.code)
    return {
        "areas_created": len(fresh), "risk_points_created": len(new_points),
        "assignments_created": assignments, "demo_password": DEMO_PASSWORD,
    }


async def _staff_grids(areas: list[Any], skip: str) -> int:
    """Give most demo grids a leader, a worker and an emergency officer; leave gaps to find."""
    rng = random.Random(141)
    created = 0
    grids = [a for a in areas if a.level == "grid" and a.code != skip]
    for i, g in enumerate(grids):
        for j, duty in enumerate(("grid_leader", "grid_worker", "emergency_officer")):
            if rng.random() < 0.12:  # about one grid in eight lacks someone
                continue
            phone = f"137{(i * 3 + j):08d}"
            name = rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(_GIVEN)
            account_id = await _ensure_account(phone, name, DEMO_PASSWORD)
            extra = {"employment": "full_time"} if duty == "grid_worker" else {}
            created += await _ensure_assignment(account_id, g.code, duty, **extra)
    return created


async def seed_city(*, grids: int = 62_000, seed: int = 141) -> dict[str, Any]:
    """Generate and load the whole city (about 1,031 townships, 11,000 communities)."""
    from grid_backend.areas.generate import generate_city

    with tqdm(total=38, desc="generating districts", unit="district") as bar:
        areas = generate_city(grids=grids, seed=seed, progress=lambda done, total: bar.update(
            done - bar.n))
    with tqdm(total=len(areas), desc="writing areas", unit="area") as bar:
        result = await apply_areas([_to_input(a) for a in areas], source_datum="gcj02",
                                   actor_id=None, progress=bar.update)
    counts: dict[str, int] = {}
    for a in areas:
        counts[a.level] = counts.get(a.level, 0) + 1
    return {"created": result.created, "updated": result.updated, "levels": counts}


async def create_user(
    *, phone: str, password: str, name: str, duty: str | None, area_code: str | None
) -> dict[str, Any]:
    """Create an account from the command line, optionally with one duty (both or neither)."""
    async with write_transaction():
        account = await create_account(phone=phone, password=password, name=name)
        if duty is not None and area_code is not None:
            await create_assignment(
                data=AssignmentCreate(duty=duty, area_code=area_code, account_id=account.id),
                grants=None, actor_id=None,
            )
    return {"id": account.id, "phone": account.phone, "name": account.name, "duty": duty,
            "area_code": area_code}
