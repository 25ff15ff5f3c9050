"""Patrol benchmark on the city seed: one daily plan per grid (62,000, made by set-based
inserts, three checkpoints each), the time to materialise one day of tasks, a re-run that finds
nothing to do, the next day in steady state, marking two days missed, and
GET /api/v1/me/tasks over HTTP for a grid worker beside a bare JSON endpoint. Prints JSON.

    python benchmarks/patrols.py [--database-url postgresql://postgres@127.0.0.1:5432/grid_bench]
    python benchmarks/patrols.py --database-url sqlite:////tmp/grid-bench/patrols.sqlite3 --grids 5000

The city seed is reused from the database (seed_city creates it when it has fewer grids), and so
are the three staff per grid of benchmarks/locate.py. Patrol tables are emptied at the start.
Only the migrations the benchmark needs are applied (core, areas, people, media, patrols)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _setup import CHECKPOINTS_SQL, ensure_database, free_port  # noqa: E402 - the benchmarks folder


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench")
    p.add_argument("--grids", type=int, default=62_000, help="grids in the city seed")
    p.add_argument("--http-seconds", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=32)
    return p.parse_args()


ARGS = _parse()
os.environ["GRID_DATABASE_URL"] = ARGS.database_url
os.environ.setdefault("GRID_DATA_DIR", str(Path(tempfile.gettempdir()) / "grid-bench"))
os.environ.setdefault("GRID_PASSWORD_HASH_COST", "fast")
os.environ["GRID_PATROL_HORIZON_HOURS"] = "24"  # one day of tasks per run
os.environ["PICCOLO_CONF"] = "grid_backend.piccolo_conf"

APPS = ("core", "areas", "people", "media", "patrols")
PATROL_TABLES = (
    "patrol_log",
    "patrol_check_in_photo",
    "patrol_check_in",
    "patrol_task",
    "patrol_checkpoint",
    "patrol_plan",
)


async def _migrate() -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from grid_backend.core.db import engine

    if engine().engine_type == "sqlite":
        await engine().run_ddl("PRAGMA journal_mode=WAL")
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON figures
        for app in APPS:
            result = await run_forwards(app_name=app, migration_id="all")
            if not result.success:
                raise RuntimeError(result.message)


async def _staff_every_grid() -> int:
    """A leader, a full-time worker and an emergency officer in every grid, as
    benchmarks/locate.py makes them (set-based SQL; skipped if assignments exist)."""
    from grid_backend.core.audit import bump_revision
    from grid_backend.core.db import engine, is_postgres
    from grid_backend.core.security import hash_password
    from grid_backend.people.tables import Assignment

    count = await Assignment.count().run()
    if count:
        return count
    password_hash = await hash_password("Bench12345x")
    db = engine()
    if is_postgres():
        k, phone = "generate_series(0, 2) k", "'15' || lpad((a.id * 3 + k)::text, 9, '0')"
        duty = "(ARRAY['grid_leader', 'grid_worker', 'emergency_officer'])[k + 1]"
        now, day = "now()", "DATE '2026-01-01'"
    else:
        k, phone = (
            "(SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2)",
            ("'15' || printf('%09d', a.id * 3 + k)"),
        )
        duty = "CASE k WHEN 0 THEN 'grid_leader' WHEN 1 THEN 'grid_worker' ELSE 'emergency_officer' END"
        now, day = "strftime('%Y-%m-%d %H:%M:%S+00:00', 'now')", "'2026-01-01'"
    async with db.transaction():
        await db.run_ddl(
            "INSERT INTO account (phone, name, password_hash, is_active, created_at, updated_at)"
            f" SELECT {phone}, '网格员' || a.id || '-' || k, '{password_hash}', true, {now}, {now}"
            f" FROM area a CROSS JOIN {k} WHERE a.level = 'grid'"
        )
        await db.run_ddl(
            "INSERT INTO assignment (account, area, area_path, duty, employment, valid_from,"
            " created_at)"
            f" SELECT c.id, a.id, a.path, {duty}, CASE WHEN k = 1 THEN 'full_time' END, {day},"
            f" {now} FROM area a CROSS JOIN {k}"
            f" JOIN account c ON c.phone = {phone}"
            " WHERE a.level = 'grid'"
        )
        await bump_revision("assignments")
    return await Assignment.count().run()


async def _make_plans(now) -> dict:
    """One daily 09:00 plan per grid for its full-time worker, three checkpoints around the
    grid's centre; set-based, so 62,000 plans take seconds."""
    from grid_backend.core.db import engine, is_postgres
    from grid_backend.patrols.tables import PatrolCheckpoint, PatrolPlan

    db = engine()
    if is_postgres():
        await db.run_ddl(f"TRUNCATE {', '.join(PATROL_TABLES)} RESTART IDENTITY CASCADE")
    else:
        for table in PATROL_TABLES:
            await db.run_ddl(f"DELETE FROM {table}")
    recurrence = '{"kind": "daily", "time": "09:00", "days": []}'
    started = time.perf_counter()
    async with db.transaction():
        await PatrolPlan.raw(
            "INSERT INTO patrol_plan (name, grid, area_path, duty, employment, ordered,"
            " recurrence, window_minutes, valid_from, extra_rounds, status, revision,"
            " created_at, updated_at)"
            " SELECT '日常巡查 ' || a.code, a.id, a.path, 'grid_worker', 'full_time', {},"
            " {}, 120, {}, {}, 'active', 1, {}, {} FROM area a WHERE a.level = 'grid'",
            False,
            recurrence,
            (now - timedelta(days=90)).date(),
            "{}",
            now,
            now,
        ).run()
        await PatrolCheckpoint.raw(CHECKPOINTS_SQL).run()
    return {
        "plans": await PatrolPlan.count().run(),
        "checkpoints": await PatrolCheckpoint.count().run(),
        "seconds": round(time.perf_counter() - started, 2),
    }


async def _timed(coro) -> dict:
    started = time.perf_counter()
    result = await coro
    seconds = time.perf_counter() - started
    return {**result, "seconds": round(seconds, 2)}


async def _in_process(result: dict) -> str:
    from grid_backend.areas.tables import Area
    from grid_backend.core import clock
    from grid_backend.core.db import engine, fetch
    from grid_backend.core.security import issue_access_token
    from grid_backend.patrols import jobs
    from grid_backend.seeding import seed_city

    db = engine()
    if db.engine_type == "postgres":
        await db.start_connection_pool(min_size=1, max_size=4)
    try:
        await _migrate()
        grids = await Area.count().where(Area.level == "grid").run()
        if grids < ARGS.grids:
            started = time.perf_counter()
            with contextlib.redirect_stdout(sys.stderr):
                await seed_city(grids=ARGS.grids)
            result["seed_seconds"] = round(time.perf_counter() - started, 1)
        result["grids"] = await Area.count().where(Area.level == "grid").run()
        result["assignments"] = await _staff_every_grid()

        now = clock.now()  # the real time: the server answers /me/tasks for today
        result["create_plans"] = await _make_plans(now)
        day = await _timed(jobs.materialise(now))
        day["tasks_per_s"] = round(day["created"] / max(day["seconds"], 1e-6))
        result["materialise_one_day"] = day
        result["materialise_rerun"] = await _timed(jobs.materialise(now))
        tomorrow = await _timed(jobs.materialise(now + timedelta(days=1)))
        tomorrow["tasks_per_s"] = round(tomorrow["created"] / max(tomorrow["seconds"], 1e-6))
        result["materialise_next_day"] = tomorrow
        rows = await fetch("SELECT COUNT(*) AS n FROM patrol_task")
        result["tasks_in_table"] = int(rows[0]["n"])

        worker = await fetch(
            "SELECT account FROM assignment WHERE duty = 'grid_worker' ORDER BY id LIMIT 1"
        )
        token = issue_access_token(worker[0]["account"])[0]
        return token
    finally:
        if db.engine_type == "postgres":
            await db.close_connection_pool()


async def _mark_missed(result: dict) -> None:
    from grid_backend.core import clock
    from grid_backend.core.db import engine
    from grid_backend.patrols import jobs

    db = engine()
    if db.engine_type == "postgres":
        await db.start_connection_pool(min_size=1, max_size=4)
    try:
        result["mark_missed_two_days"] = await _timed(
            jobs.mark_missed(clock.now() + timedelta(days=3))
        )
    finally:
        if db.engine_type == "postgres":
            await db.close_connection_pool()


def _http(result: dict, token: str) -> None:
    from _http import load

    port = free_port()
    env = {
        **os.environ,
        "GRID_ACCESS_TOKEN_SECONDS": "3600",
        "GRID_LOG_LEVEL": "WARNING",
        "GRID_SCHEDULER": "false",
    }
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
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/me/tasks",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            listed = json.loads(response.read())["items"]
        result["worker_tasks_listed"] = {
            "tasks": len(listed),
            "checkpoints": sum(len(t["checkpoints"]) for t in listed),
        }

        async def run() -> dict:
            bare = await load(
                "127.0.0.1",
                port,
                lambda n: "/healthz",
                seconds=ARGS.http_seconds,
                connections=ARGS.connections,
            )
            tasks = await load(
                "127.0.0.1",
                port,
                lambda n: "/api/v1/me/tasks",
                token=token,
                seconds=ARGS.http_seconds,
                connections=ARGS.connections,
            )
            # a few phones at once: the latency without the queue of 32 connections
            few = await load(
                "127.0.0.1",
                port,
                lambda n: "/api/v1/me/tasks",
                token=token,
                seconds=ARGS.http_seconds,
                connections=4,
            )
            return {"bare_healthz": bare, "me_tasks": tasks, "me_tasks_4_connections": few}

        figures = asyncio.run(run())
        result["http"] = {
            **figures,
            "me_tasks_share_of_bare": round(
                figures["me_tasks"]["requests_per_s"]
                / max(figures["bare_healthz"]["requests_per_s"], 1),
                3,
            ),
            "server": "uvicorn, 1 worker; load generator in the same machine (2 cores shared)",
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ensure_database(ARGS.database_url)
    result: dict = {"database": ARGS.database_url.split("://")[0]}
    token = asyncio.run(_in_process(result))
    _http(result, token)
    asyncio.run(_mark_missed(result))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
