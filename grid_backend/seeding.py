"""Seed data: the 渝中区 demo (idempotent) and the city-scale tree for benchmarks."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from tqdm import tqdm

from grid_backend.areas.locate import grid_index
from grid_backend.areas.services import AreaInput, apply_areas
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import audit, clock
from grid_backend.core.db import write_transaction
from grid_backend.core.security import hash_password
from grid_backend.evacuation.demo import seed_evacuation_demo
from grid_backend.people.duty import grants_of
from grid_backend.people.schemas import AssignmentCreate
from grid_backend.people.services import create_account, create_assignment, validate_assignment
from grid_backend.people.tables import Account, Assignment
from grid_backend.response.demo import seed_response_demo

if TYPE_CHECKING:  # the case modules are imported when the cases are seeded
    from grid_backend.hazards.schemas import ActionIn

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
    from grid_backend.flows.reports import submit as submit_report

    if if_empty and await Area.count().run():
        return {"skipped": "the database already has areas"}
    areas, points = generate_demo()
    fresh, new_points = await _seed_demo_places(areas, points)
    township = next(a for a in areas if a.level == "township")
    # the demo team's grid: the first grid of the first township with a risk point to monitor
    watched = {p.grid_code for p in points}
    in_township = [a for a in areas if a.level == "grid" and a.code.startswith(township.code)]
    grid = next((a for a in in_township if a.code in watched), in_township[0])
    staff = _grid_staff(areas, skip=grid.code)
    ids = await _ensure_accounts(
        [(p, n) for p, n, _, _ in DEMO_ACCOUNTS] + [(p, n) for p, n, _, _ in staff]
    )
    wanted = await _demo_assignments(township.code, grid.code, points, staff, ids)
    created = await _ensure_assignments(wanted)
    cases = await _seed_cases(township.code, ids, points)
    await seed_response_demo(
        township_code=township.code,
        grid_code=grid.code,
        ids=ids,
        photo_for=_photo_for,
        file_report=submit_report,
    )
    plans = await _seed_patrol_plans(township.code, grid.code, dispatcher=ids[DEMO_DISPATCHER])
    households = await seed_evacuation_demo(
        township_code=township.code, grid_code=grid.code, ids=ids
    )
    return {
        "households_created": households,
        "cases_created": cases,
        "patrol_plans_created": plans,
        "areas_created": fresh,
        "risk_points_created": new_points,
        "assignments_created": created,
        "demo_password": DEMO_PASSWORD,
    }


async def _seed_demo_places(areas: list[Any], points: list[Any]) -> tuple[int, int]:
    """The demo's areas and risk points not stored yet: how many of each were added."""
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
    return len(fresh), len(new_points)


async def _demo_assignments(
    township_code: str, grid_code: str, points: list[Any], staff: list[Any], ids: dict[str, int]
) -> list[AssignmentCreate]:
    """The demo accounts' and the grid staff's duties, on duty since well before the cases."""
    where = {"city": "500000", "district": "500103", "township": township_code, "grid": grid_code}
    monitored = next((p for p in points if p.grid_code == grid_code), None)
    since = clock.today() - timedelta(days=365)  # on duty since well before the demo cases
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
            assert rp is not None  # the demo's risk points are stored before its duties
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
    return wanted


DEMO_DISPATCHER = "13900000004"


async def _seed_patrol_plans(township_code: str, grid_code: str, *, dispatcher: int) -> int:
    """A daily patrol of its risk points for every grid of the demo township that has some,
    by the grid's full-time worker (the demo grid's at 09:00, the others at 14:30); under an
    orange or red warning they patrol once or twice more. Plans that exist are kept."""
    from grid_backend.patrols.schemas import CheckpointIn, PlanCreate, Recurrence
    from grid_backend.patrols.services import create_plan
    from grid_backend.patrols.tables import PatrolPlan

    rows = (
        await RiskPoint.select(RiskPoint.id, RiskPoint.grid.id, RiskPoint.grid.code)
        .where(RiskPoint.grid.code.like(township_code + "%"))
        .order_by(RiskPoint.id)
        .run()
    )
    by_grid: dict[tuple[int, str], list[int]] = {}
    for r in rows:
        by_grid.setdefault((r["grid.id"], r["grid.code"]), []).append(r["id"])
    existing = {r["grid"] for r in await PatrolPlan.select(PatrolPlan.grid).run()}
    grants = await grants_of(dispatcher)
    made = 0
    for (grid_id, code), point_ids in sorted(by_grid.items(), key=lambda item: item[0][1]):
        if grid_id in existing:
            continue
        await create_plan(
            data=PlanCreate(
                name="网格日常巡查" if code == grid_code else "风险点位巡查",
                grid_id=grid_id,
                duty="grid_worker",
                employment="full_time",
                recurrence=Recurrence(kind="daily", time="09:00" if code == grid_code else "14:30"),
                checkpoints=[CheckpointIn(risk_point_id=i) for i in point_ids[:5]],
                window_minutes=120,
                extra_rounds={"orange": 1, "red": 2},
            ),
            account_id=dispatcher,
            grants=grants,
        )
        made += 1
    return made


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


SEED_PHOTOS = Path(__file__).resolve().parents[1] / "seeds" / "photos"
# (final state, the actions that lead there from "submitted"), a few cases of each
_CASE_PATHS: list[tuple[str, list[str]]] = [
    ("submitted", []),
    ("registered", ["register"]),
    ("dispatched", ["register", "dispatch"]),
    ("in_progress", ["register", "dispatch", "acknowledge"]),
    ("suspended", ["register", "dispatch", "acknowledge", "suspend"]),
    ("pending_check", ["register", "dispatch", "acknowledge", "report_fixed"]),
    ("closed", ["register", "dispatch", "acknowledge", "report_fixed", "pass_check"]),
    ("rejected", ["reject"]),
    ("merged", ["merge"]),
]
_DESCRIPTIONS = {
    "gas": "小区燃气管道接口处有明显气味，疑似漏气",
    "old_building": "老旧居民楼外墙开裂，有掉落风险",
    "flooding": "下穿道路积水较深，车辆无法通行",
    "landslide": "坡坎出现裂缝，雨后有泥土滑落",
    "fire": "楼道堆放大量杂物，堵塞消防通道",
    "construction": "工地围挡倒塌，占用人行道",
    "urban_lifeline": "井盖缺失，夜间行人易跌落",
    "crowded_place": "商场安全出口被锁闭",
}


def _frozen(moment: datetime) -> Callable[[], datetime]:
    """A clock that stays at this moment (the demo's cases are back-dated)."""
    return lambda: moment


async def _photo_for(account_id: int, name: str) -> int:
    """A seed photo through the real pipeline, as uploaded by this account."""
    from grid_backend.media import storage
    from grid_backend.media.services import ingest

    spool = storage.spool_dir()
    spool.mkdir(parents=True, exist_ok=True)
    copy = spool / f"seed-{account_id}-{name}"
    shutil.copyfile(SEED_PHOTOS / name, copy)
    return (await ingest(upload=copy, account_id=account_id)).id


async def _demo_action(
    action: str, worker: int, photo_name: str, first_open: int | None
) -> ActionIn | None:
    """One step of a demo case's path as the workflow action; None for a merge while there is
    no open case to merge into yet."""
    from grid_backend.hazards.schemas import ActionIn

    fields: dict[str, Any] = {"action": action}
    if action == "dispatch":
        fields["assignee_id"] = worker
    if action in ("suspend", "reject"):
        fields["reason"] = "需协调产权单位" if action == "suspend" else "现场核实不属于安全隐患"
    if action == "report_fixed":
        fields["photo_ids"] = [await _photo_for(worker, photo_name)]
    if action == "merge":
        if first_open is None:
            return None
        fields["into"] = first_open
    return ActionIn(**fields)


async def _seed_cases(township_code: str, ids: dict[str, int], points: list[Any]) -> int:
    """A few dozen cases in every state in the demo township, with real photos and timelines
    written by the workflow itself, spread over the last weeks. Skipped if cases exist."""
    from grid_backend.core.types import LocationIn
    from grid_backend.flows import cases as case_flow
    from grid_backend.flows import reports as report_flow
    from grid_backend.hazards import live
    from grid_backend.hazards import services as cases
    from grid_backend.hazards.schemas import ReportCreate
    from grid_backend.hazards.tables import HazardReport

    if await HazardReport.count().run():
        return 0
    rng = random.Random(1410)
    grids = (
        await Area.select(Area.id, Area.code)
        .where((Area.level == "grid") & Area.code.like(township_code + "%"))
        .order_by(Area.code)
        .run()
    )
    index = await grid_index.get()
    geoms = {int(i): g for i, g in zip(index.grid_ids, index.geoms, strict=True)}
    resident = ids["13900000012"]
    dispatcher, worker = ids["13900000004"], ids["13900000007"]

    async def actor(account_id: int) -> Any:
        return cases.Actor(account_id, await grants_of(account_id))

    photos = sorted(p.name for p in SEED_PHOTOS.glob("*.jpg"))
    categories = list(_DESCRIPTIONS)
    start = clock.now() - timedelta(days=28)
    created = 0
    first_open: int | None = None
    try:
        for n in range(36):
            state, path = _CASE_PATHS[n % len(_CASE_PATHS)]
            at = start + timedelta(hours=18 * n + rng.randint(0, 8))
            clock.set_clock(_frozen(at))
            grid = grids[rng.randrange(len(grids))]
            point = shapely.Point(geoms[grid["id"]].representative_point())
            category = categories[n % len(categories)]
            reporter = resident if n % 3 else ids.get(f"137{n:08d}", resident)
            photo = await _photo_for(reporter, photos[n % len(photos)])
            report, _ = await report_flow.submit(
                data=ReportCreate(
                    category=category,
                    description=_DESCRIPTIONS[category],
                    location=LocationIn(
                        lat=point.y, lng=point.x, accuracy_m=rng.choice([5, 12, 30])
                    ),
                    photo_ids=[photo],
                    reporter_safe=True,
                    urgent=category in ("gas", "flooding"),
                ),
                actor=await actor(reporter),
                idempotency_key=None,
            )
            for step, action in enumerate(path):
                clock.set_clock(_frozen(at + timedelta(minutes=25 * (step + 1))))
                who = worker if action in ("acknowledge", "report_fixed") else dispatcher
                photo_name = photos[(n + 1) % len(photos)]
                data = await _demo_action(action, worker, photo_name, first_open)
                if data is None:
                    break
                await case_flow.act(report_id=report.id, data=data, actor=await actor(who))
                if step == 0 and report.urgent:  # the duty officer saw its alarm and acted
                    await live.mark_seen(report_id=report.id, actor=await actor(dispatcher))
            if state == "submitted" and first_open is None:
                first_open = report.id
            created += 1
    finally:
        clock.set_clock(None)
    return created
