"""Risk-map benchmark: the printable PDF of the densest community of the demo seed (the one with
the most risk points, then grids), with shelters, routes and its grid teams, on every paper
and orientation. Prints JSON; the target is a render in at most 3 s.

    python benchmarks/riskmap.py [--database-url postgresql://postgres@127.0.0.1:5432/grid_bench_riskmap]
        [--rounds 5] [--out DIR]

The database is created and seeded (the 渝中区 demo) on first use and reused afterwards; the
benchmark's shelters and routes are added once. `--out` keeps the PDFs, to look at."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _setup import ensure_database  # noqa: E402 - the benchmarks folder

TARGET_S = 3.0


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench_riskmap"
    )
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--extra-points",
        type=int,
        default=60,
        help="risk points added to the community, for a crowded map and lists over two pages",
    )
    p.add_argument("--out", default="", help="a folder to keep the PDFs in")
    return p.parse_args()


ARGS = _parse()
os.environ["GRID_DATABASE_URL"] = ARGS.database_url
os.environ.setdefault("GRID_DATA_DIR", str(Path(tempfile.gettempdir()) / "grid-bench-riskmap"))
os.environ.setdefault("GRID_PASSWORD_HASH_COST", "fast")
os.environ["PICCOLO_CONF"] = "grid_backend.piccolo_conf"

ADMIN_PHONE = "13900000001"  # the demo's administrator


async def _densest() -> dict:
    """The community with the most active risk points (then grids)."""
    from grid_backend.areas.tables import Area, RiskPoint

    communities = await Area.select(Area.id, Area.code, Area.name, Area.path).where(
        Area.level == "community"
    )
    points = await RiskPoint.select(RiskPoint.area_path).where(RiskPoint.is_active.eq(True))
    grids = await Area.select(Area.path).where(Area.level == "grid")

    def weight(c: dict) -> tuple[int, int]:
        p = c["path"]
        return (
            sum(r["area_path"].startswith(p) for r in points),
            sum(g["path"].startswith(p) for g in grids),
        )

    best = max(communities, key=weight)
    best["risk_points"], best["grids"] = weight(best)
    return best


async def _crowd(community: dict, count: int) -> int:
    """`count` more risk points of every type and level inside the community's grids (once)."""
    import random

    import shapely

    from grid_backend.areas.generate import RISK_LEVELS, RISK_TYPES
    from grid_backend.areas.tables import Area, AreaBoundary, RiskPoint

    if await RiskPoint.count().where(RiskPoint.code.like("BENCH-%")):
        return await RiskPoint.count().where(RiskPoint.code.like("BENCH-%"))
    grids = await Area.select(Area.id, Area.path).where(Area.parent == community["id"])
    shapes = {
        r["area"]: shapely.from_wkb(bytes(r["wkb"]))
        for r in await AreaBoundary.select(AreaBoundary.area, AreaBoundary.wkb).where(
            AreaBoundary.area.is_in([g["id"] for g in grids]) & AreaBoundary.valid_to.is_null()
        )
    }
    rng = random.Random(141)
    rows = []
    for n in range(count):
        grid = grids[n % len(grids)]
        shape = shapes[grid["id"]]
        min_x, min_y, max_x, max_y = shape.bounds
        while True:
            x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
            if shape.contains(shapely.Point(x, y)):
                break
        kind = RISK_TYPES[n % len(RISK_TYPES)]
        rows.append(
            RiskPoint(
                code=f"BENCH-{n:03d}",
                name=f"基准{n + 1}号{'边坡' if kind == 'landslide' else '点位'}",
                type=kind,
                risk_level=RISK_LEVELS[n % len(RISK_LEVELS)],
                lng=x,
                lat=y,
                grid=grid["id"],
                area_path=grid["path"],
                threatened_households=rng.randint(0, 120),
            )
        )
    await RiskPoint.insert(*rows)
    return count


async def _furnish(community: dict, grants, account_id: int) -> dict:
    """Three shelters serving the community and a route from each of its first ten risk
    points to the nearest, added once (by name)."""
    import shapely

    from grid_backend.areas.tables import AreaBoundary, RiskPoint
    from grid_backend.evacuation import routes, services
    from grid_backend.evacuation.schemas import PlaceIn, RouteCreate, ShelterCreate
    from grid_backend.evacuation.tables import EvacuationRoute, Shelter

    shelters = await Shelter.select().where(Shelter.name.like("基准避险点%"))
    if not shelters:
        row = (
            await AreaBoundary.select(AreaBoundary.wkb)
            .where((AreaBoundary.area == community["id"]) & AreaBoundary.valid_to.is_null())
            .first()
        )
        outline = shapely.from_wkb(bytes(row["wkb"]))
        min_x, min_y, max_x, max_y = outline.bounds
        spots = [(0.25, 0.3), (0.7, 0.45), (0.5, 0.8)]
        kinds = ["school", "community_centre", "open_ground"]
        for n, ((fx, fy), kind) in enumerate(zip(spots, kinds, strict=True), start=1):
            spot = shapely.Point(min_x + (max_x - min_x) * fx, min_y + (max_y - min_y) * fy)
            if not outline.contains(spot):
                spot = outline.representative_point()
            await services.create_shelter(
                data=ShelterCreate(
                    name=f"基准避险点{n}号",
                    kind=kind,
                    location=PlaceIn(lat=spot.y, lng=spot.x),
                    capacity=300 * n,
                    area_ids=[community["id"]],
                    contact_name="值班室",
                    contact_phone=f"1380000000{n}",
                ),
                account_id=account_id,
                grants=grants,
            )
        shelters = await Shelter.select().where(Shelter.name.like("基准避险点%"))
    if not await EvacuationRoute.count().where(EvacuationRoute.name.like("基准路线%")):
        points = (
            await RiskPoint.select()
            .where(RiskPoint.area_path.like(community["path"] + "%") & RiskPoint.is_active.eq(True))
            .order_by(RiskPoint.id)
            .limit(10)
        )
        for n, p in enumerate(points, start=1):
            to = min(
                shelters, key=lambda s, p=p: (s["lat"] - p["lat"]) ** 2 + (s["lng"] - p["lng"]) ** 2
            )
            middle = PlaceIn(
                lat=(p["lat"] + to["lat"]) / 2 + 0.0006, lng=(p["lng"] + to["lng"]) / 2
            )
            await routes.create_route(
                data=RouteCreate(
                    name=f"基准路线{n}",
                    area_id=community["id"],
                    points=[
                        PlaceIn(lat=p["lat"], lng=p["lng"]),
                        middle,
                        PlaceIn(lat=to["lat"], lng=to["lng"]),
                    ],
                    shelter_id=to["id"],
                    from_risk_point_id=p["id"],
                ),
                account_id=account_id,
                grants=grants,
            )
    return {
        "shelters": len(shelters),
        "routes": await EvacuationRoute.count().where(EvacuationRoute.retired_at.is_null()),
    }


async def main() -> dict:
    from grid_backend.core.db import engine
    from grid_backend.evacuation import riskmap
    from grid_backend.migrate import migrate
    from grid_backend.people.duty import grants_of
    from grid_backend.people.tables import Account
    from grid_backend.seeding import seed_demo

    result: dict = {"database": ARGS.database_url.split("://")[0], "target_s": TARGET_S}
    db = engine()
    postgres = ARGS.database_url.startswith("postgresql")
    if postgres:
        await db.start_connection_pool(min_size=1, max_size=4)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON figures
            await migrate()
            started = time.perf_counter()
            seeded = await seed_demo(if_empty=True)
            if "skipped" not in seeded:
                result["seed_s"] = round(time.perf_counter() - started, 1)
        admin = await Account.select(Account.id).where(Account.phone == ADMIN_PHONE).first()
        grants = await grants_of(admin["id"])
        community = await _densest()
        added = await _crowd(community, ARGS.extra_points) if ARGS.extra_points else 0
        community = await _densest()
        result["community"] = {k: community[k] for k in ("code", "name", "risk_points", "grids")}
        result["community"]["generated_risk_points"] = added
        result["community"].update(await _furnish(community, grants, admin["id"]))
        out = Path(ARGS.out) if ARGS.out else None
        if out:
            out.mkdir(parents=True, exist_ok=True)
        renders = {}
        for size in riskmap.SIZES:
            for orientation in riskmap.ORIENTATIONS:
                times = []
                for _ in range(ARGS.rounds):
                    started = time.perf_counter()
                    pdf, name = await riskmap.print_risk_map(
                        community_id=community["id"],
                        size=size,
                        orientation=orientation,
                        phones=True,
                        account_id=admin["id"],
                        grants=grants,
                        base_url="https://grid.example.cn/",
                    )
                    times.append(time.perf_counter() - started)
                if out:
                    (out / name).write_bytes(pdf)
                renders[f"{size}_{orientation}"] = {
                    "median_s": round(statistics.median(times), 3),
                    "max_s": round(max(times), 3),
                    "bytes": len(pdf),
                }
        result["renders"] = renders
        worst = max(r["max_s"] for r in renders.values())
        result["worst_s"] = worst
        result["within_target"] = worst <= TARGET_S
        return result
    finally:
        if postgres:
            await db.close_connection_pool()


if __name__ == "__main__":
    ensure_database(ARGS.database_url)
    print(json.dumps(asyncio.run(main()), ensure_ascii=False, indent=2))
