"""Locate benchmark on the city seed (62,000 grids): index build, in-process lookups against a
linear scan, and GET /api/v1/locate over HTTP beside a bare JSON endpoint. Prints JSON.

    python benchmarks/locate.py [--database-url postgresql://postgres@127.0.0.1:5432/grid_bench]

The database is created and seeded on first use (a few minutes) and reused afterwards."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _setup import ensure_database, free_port  # noqa: E402 - the benchmarks folder


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench")
    p.add_argument("--grids", type=int, default=62_000)
    p.add_argument("--lookups", type=int, default=100_000)
    p.add_argument("--linear", type=int, default=100, help="points for the linear-scan baseline")
    p.add_argument("--http-seconds", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=32)
    return p.parse_args()


ARGS = _parse()
os.environ["GRID_DATABASE_URL"] = ARGS.database_url
os.environ.setdefault("GRID_DATA_DIR", str(Path(tempfile.gettempdir()) / "grid-bench"))
os.environ.setdefault("GRID_PASSWORD_HASH_COST", "fast")
os.environ["PICCOLO_CONF"] = "grid_backend.piccolo_conf"

import numpy as np  # noqa: E402
import shapely  # noqa: E402


def _sample_points(index, count: int, seed: int = 7) -> np.ndarray:
    """Points inside random grids (rejection sampling in each grid's bounding box)."""
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(index.geoms), size=count * 2)
    geoms = index.geoms[chosen]
    bounds = shapely.bounds(geoms)
    xs = rng.uniform(bounds[:, 0], bounds[:, 2])
    ys = rng.uniform(bounds[:, 1], bounds[:, 3])
    inside = shapely.contains_xy(geoms, xs, ys)
    pts = np.column_stack([xs[inside], ys[inside]])[:count]
    return pts


async def _in_process(result: dict) -> tuple[int, int]:
    from grid_backend.areas.locate import GridIndex, grid_index, load_index
    from grid_backend.areas.services import locate_point
    from grid_backend.areas.tables import Area
    from grid_backend.core.db import engine
    from grid_backend.migrate import migrate
    from grid_backend.seeding import seed_city

    db = engine()
    await db.start_connection_pool(min_size=1, max_size=4)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON figures
            await migrate()
        grids = await Area.count().where(Area.level == "grid").run()
        if grids < ARGS.grids:
            started = time.perf_counter()
            await seed_city(grids=ARGS.grids)
            result["seed_seconds"] = round(time.perf_counter() - started, 1)
        result["grids"] = await Area.count().where(Area.level == "grid").run()
        result["assignments"] = await _staff_every_grid()

        loads, builds = [], []
        for _ in range(3):
            started = time.perf_counter()
            index = await load_index()
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            GridIndex(index.nodes, list(index.grid_ids), list(index.geoms), index.micro, 0)
            builds.append(time.perf_counter() - started)
        result["index_build_s"] = round(min(builds), 3)
        result["index_load_and_build_from_db_s"] = round(min(loads), 3)

        points = _sample_points(index, ARGS.lookups)
        tolerance = 300.0
        clock = time.perf_counter_ns

        def summary(timings: np.ndarray) -> dict:
            return {
                "lookups": len(timings),
                "lookups_per_s": round(1e9 / timings.mean()),
                "p50_us": round(float(np.percentile(timings, 50)) / 1000, 1),
                "p99_us": round(float(np.percentile(timings, 99)) / 1000, 1),
            }

        # three rounds each, the best reported (the machine is shared; the others are listed)
        rounds = []
        for _ in range(3):
            timings = np.empty(len(points))
            for i, (lng, lat) in enumerate(points):
                t0 = clock()
                index.find(lng, lat, tolerance)
                timings[i] = clock() - t0
            rounds.append(summary(timings))
        result["index_find"] = max(rounds, key=lambda r: r["lookups_per_s"])
        result["index_find"]["rounds_per_s"] = [r["lookups_per_s"] for r in rounds]

        # the service function the API calls: datum check and conversion, index holder, lookup
        grid_index.index = index
        rounds = []
        for _ in range(3):
            service = np.empty(len(points))
            for i, (lng, lat) in enumerate(points):
                t0 = clock()
                await locate_point(lat=float(lat), lng=float(lng), datum="wgs84")
                service[i] = clock() - t0
            rounds.append(summary(service))
        result["locate_service"] = max(rounds, key=lambda r: r["lookups_per_s"])
        result["locate_service"]["rounds_per_s"] = [r["lookups_per_s"] for r in rounds]
        tree_mean_ns = 1e9 / result["index_find"]["lookups_per_s"]

        linear = []
        for lng, lat in points[: ARGS.linear]:
            t0 = clock()
            index.linear_scan(lng, lat)
            linear.append(clock() - t0)
        result["linear_scan"] = {
            "lookups": len(linear),
            "mean_us": round(statistics.fmean(linear) / 1000, 1),
            "tree_speedup": round(statistics.fmean(linear) / tree_mean_ns),
        }
        from grid_backend.core.geo import convert_array

        coords = points[:100_000]
        for src, dst in (("gcj02", "wgs84"), ("bd09", "wgs84")):
            started = time.perf_counter()
            convert_array(coords, src, dst)
            result[f"convert_array_{src}_to_{dst}_ms"] = {
                "points": len(coords),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
        token = await _bench_token()
        return token, points
    finally:
        await db.close_connection_pool()


async def _staff_every_grid() -> int:
    """A leader, a worker and an emergency officer in every grid, so each locate answers a real
    team (set-based SQL: 186,000 rows in seconds)."""
    from grid_backend.core.audit import bump_revision
    from grid_backend.core.db import engine
    from grid_backend.core.security import hash_password
    from grid_backend.people.tables import Assignment

    count = await Assignment.count().run()
    if count:
        return count
    password_hash = await hash_password("Bench12345x")
    db = engine()
    async with db.transaction():
        await db.run_ddl(
            "INSERT INTO account (phone, name, password_hash, is_active, created_at, updated_at)"
            " SELECT '15' || lpad((a.id * 3 + k)::text, 9, '0'), '网格员' || a.id || '-' || k,"
            f" '{password_hash}', true, now(), now()"
            " FROM area a CROSS JOIN generate_series(0, 2) k WHERE a.level = 'grid'"
        )
        await db.run_ddl(
            "INSERT INTO assignment (account, area, area_path, duty, employment, valid_from,"
            " created_at)"
            " SELECT c.id, a.id, a.path,"
            " (ARRAY['grid_leader', 'grid_worker', 'emergency_officer'])[k + 1],"
            " CASE WHEN k = 1 THEN 'full_time' END, DATE '2026-01-01', now()"
            " FROM area a CROSS JOIN generate_series(0, 2) k"
            " JOIN account c ON c.phone = '15' || lpad((a.id * 3 + k)::text, 9, '0')"
            " WHERE a.level = 'grid'"
        )
        await bump_revision("assignments")
    return await Assignment.count().run()


async def _bench_token() -> str:
    from grid_backend.core.security import issue_access_token
    from grid_backend.people.tables import Account

    phone = "13999999999"
    row = await Account.select(Account.id).where(Account.phone == phone).first().run()
    if row is None:
        from grid_backend.people.services import create_account

        account_id = (await create_account(phone=phone, password="Bench12345x", name="压测")).id
    else:
        account_id = row["id"]
    return issue_access_token(account_id)[0]


def _http(result: dict, token: str, points: np.ndarray) -> None:
    from _http import load

    port = free_port()
    env = {**os.environ, "GRID_ACCESS_TOKEN_SECONDS": "3600", "GRID_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "grid_backend.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        import urllib.request

        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        paths = [
            f"/api/v1/locate?lat={lat:.6f}&lng={lng:.6f}&datum=wgs84"
            for lng, lat in points[:50_000]
        ]

        async def run() -> dict:
            locate = lambda n: paths[n % len(paths)]  # noqa: E731
            bare = await load(
                "127.0.0.1",
                port,
                lambda n: "/healthz",
                seconds=ARGS.http_seconds,
                connections=ARGS.connections,
            )
            # a fresh process: the first request in each township reads its roster
            cold = await load(
                "127.0.0.1",
                port,
                locate,
                token=token,
                seconds=ARGS.http_seconds,
                connections=ARGS.connections,
            )
            # every township's roster cached, as in a server that has run for a while
            warm = await load(
                "127.0.0.1",
                port,
                locate,
                token=token,
                seconds=ARGS.http_seconds,
                connections=ARGS.connections,
            )
            return {"bare_healthz": bare, "locate_cold": cold, "locate_warm": warm}

        figures = asyncio.run(run())
        bare_rate = max(figures["bare_healthz"]["requests_per_s"], 1)
        result["http"] = {
            **figures,
            "locate_cold_share_of_bare": round(
                figures["locate_cold"]["requests_per_s"] / bare_rate, 3
            ),
            "locate_warm_share_of_bare": round(
                figures["locate_warm"]["requests_per_s"] / bare_rate, 3
            ),
            "server": "uvicorn, 1 worker; load generator in the same machine (2 cores shared)",
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ensure_database(ARGS.database_url)
    result: dict = {"database": ARGS.database_url.split("://")[0]}
    token, points = asyncio.run(_in_process(result))
    _http(result, token, points)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
