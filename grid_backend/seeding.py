"""Seed data: the 渝中区 demo (idempotent) and the city-scale tree for benchmarks."""

from __future__ import annotations

import random
from typing import Any

from tqdm import tqdm

from grid_backend.areas.services import AreaInput, apply_areas
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import audit, clock
from grid_backend.core.db import write_transaction
from grid_backend.core.security import hash_password
from grid_backend.people.schemas import AssignmentCreate
from grid_backend.people.services import create_account, create_assignment, validate_assignment
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
    return AreaInput(
        a.code, a.name, a.level, a.parent_code, a.geometry, a.households, a.population, a.kind
    )


async def _demo_password_hash() -> str:
    # every demo account has the same published password: hash it once, not 600 times
    return await hash_password(DEMO_PASSWORD)


async def _ensure_accounts(people: list[tuple[str, str]]) -> dict[str, int]:
    """Create the (phone, name) accounts that do not exist yet; ids by phone."""
    phones = [p for p, _ in people]
    known = {
        r["phone"]: r["id"]
        for r in await Account.select(Account.id, Account.phone)
        .where(Account.phone.is_in(phones))
        .run()
    }
    fresh = [(p, n) for p, n in people if p not in known]
    if fresh:
        password_hash = await _demo_password_hash()
        rows = (
            await Account.insert(
                *[Account(phone=p, name=n, password_hash=password_hash) for p, n in fresh]
            )
            .returning(Account.id, Account.phone)
            .run()
        )
        known.update({r["phone"]: r["id"] for r in rows})
    return known


async def _ensure_assignments(wanted: list[AssignmentCreate]) -> int:
    """Create the assignments not held yet (same account, area and duty); validated as usual."""
    held = {
        (r["account"], r["area"], r["duty"])
        for r in await Assignment.select(Assignment.account, Assignment.area, Assignment.duty).run()
    }
    rows = []
    for data in wanted:
        account_id, area = await validate_assignment(data)
        if (account_id, area["id"], data.duty) in held:
            continue
        held.add((account_id, area["id"], data.duty))
        rows.append(
            Assignment(
                account=account_id,
                area=area["id"],
                area_path=area["path"],
                duty=data.duty,
                employment=data.employment,
                board=data.board,
                risk_point=data.risk_point_id,
                valid_from=data.valid_from,
                valid_to=None,
            )
        )
    if rows:
        async with write_transaction():
            for start in range(0, len(rows), 500):
                await Assignment.insert(*rows[start : start + 500]).run()
            await audit.record(
                actor_id=None,
                action="assignment.seed",
                object_type="assignment",
                detail={"created": len(rows)},
            )
            await audit.bump_revision("assignments")
    return len(rows)


async def seed_demo(*, if_empty: bool = False) -> dict[str, Any]:
    """Load the 渝中区 demo; running it again adds nothing."""
    from grid_backend.areas.generate import generate_demo

    if if_empty and await Area.count().run():
        return {"skipped": "the database already has areas"}
    areas, points = generate_demo()
    known = {r["code"] for r in await Area.select(Area.code).run()}
    fresh = [_to_input(a) for a in areas if a.code not in known]
    if fresh:
        await apply_areas(fresh, source_datum="wgs84", actor_id=None)
    known_points = {r["code"] for r in await RiskPoint.select(RiskPoint.code).run()}
    grid_ids = {
        r["code"]: (r["id"], r["path"])
        for r in await Area.select(Area.id, Area.code, Area.path).where(Area.level == "grid").run()
    }
    new_points = [
        RiskPoint(
            code=p.code,
            name=p.name,
            type=p.type,
            risk_level=p.risk_level,
            lng=p.lng,
            lat=p.lat,
            grid=grid_ids[p.grid_code][0],
            area_path=grid_ids[p.grid_code][1],
            contacts=p.contacts,
            threatened_households=p.threatened_households,
        )
        for p in points
        if p.code not in known_points
    ]
    if new_points:
        await RiskPoint.insert(*new_points).run()

    township = next(a for a in areas if a.level == "township")
    # the demo team's grid: the first grid of the first township with a risk point to monitor
    watched = {p.grid_code for p in points}
    in_township = [a for a in areas if a.level == "grid" and a.code.startswith(township.code)]
    grid = next((a for a in in_township if a.code in watched), in_township[0])
    where = {"city": "500000", "district": "500103", "township": township.code, "grid": grid.code}
    monitored = next((p for p in points if p.grid_code == grid.code), None)
    staff = _grid_staff(areas, skip=grid.code)
    ids = await _ensure_accounts(
        [(p, n) for p, n, _, _ in DEMO_ACCOUNTS] + [(p, n) for p, n, _, _ in staff]
    )
    since = clock.today().replace(month=1, day=1)
    wanted = []
    for phone, _, duty, level in DEMO_ACCOUNTS + staff:
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
            rp = (
                await RiskPoint.select(RiskPoint.id)
                .where(RiskPoint.code == monitored.code)
                .first()
                .run()
            )
            extra["risk_point_id"] = rp["id"]
        wanted.append(
            AssignmentCreate(
                duty=duty,
                area_code=where.get(level, level),
                account_id=ids[phone],
                valid_from=since,
                **extra,
            )
        )
    created = await _ensure_assignments(wanted)
    return {
        "areas_created": len(fresh),
        "risk_points_created": len(new_points),
        "assignments_created": created,
        "demo_password": DEMO_PASSWORD,
    }


def _grid_staff(areas: list[Any], skip: str) -> list[tuple[str, str, str, str]]:
    """A leader, a worker and an emergency officer for most demo grids; some gaps to find."""
    rng = random.Random(141)
    staff = []
    grids = [a for a in areas if a.level == "grid" and a.code != skip]
    for i, g in enumerate(grids):
        for j, duty in enumerate(("grid_leader", "grid_worker", "emergency_officer")):
            if rng.random() < 0.12:  # about one grid in eight lacks someone
                continue
            name = rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(_GIVEN)
            staff.append((f"137{(i * 3 + j):08d}", name, duty, g.code))
    return staff


async def seed_city(*, grids: int = 62_000, seed: int = 141) -> dict[str, Any]:
    """Generate and load the whole city (about 1,031 townships, 11,000 communities)."""
    from grid_backend.areas.generate import generate_city

    with tqdm(total=38, desc="generating districts", unit="district") as bar:
        areas = generate_city(
            grids=grids, seed=seed, progress=lambda done, total: bar.update(done - bar.n)
        )
    with tqdm(total=len(areas), desc="writing areas", unit="area") as bar:
        result = await apply_areas(
            [_to_input(a) for a in areas], source_datum="wgs84", actor_id=None, progress=bar.update
        )
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
                grants=None,
                actor_id=None,
            )
    return {
        "id": account.id,
        "phone": account.phone,
        "name": account.name,
        "duty": duty,
        "area_code": area_code,
    }
