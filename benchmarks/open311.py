"""Open311 benchmark: GET requests.json answering 1,000 cases, and POST requests.json with
text-only reports, through the app in this process (httpx over ASGI, one event loop: one
server process's worth). Prints JSON.

    python benchmarks/open311.py [--database-url postgresql://postgres@127.0.0.1:5432/grid_bench_open311]

The database is dropped and created afresh, migrated, and given a small area tree (one
township, 16 grids) and 1,000 cases spread over 80 days. Targets (issue 15): GET of 1,000
cases ≤ 200 ms (median) on PostgreSQL; POST ≥ 10 reports/s per process."""

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
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _setup import ensure_database  # noqa: E402 - the benchmarks folder

TARGETS = {"get_1000_ms": 200.0, "post_per_s": 10.0}
CASES = 1000


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench_open311"
    )
    p.add_argument("--gets", type=int, default=20)
    p.add_argument("--posts", type=int, default=100)
    return p.parse_args()


async def _world() -> str:
    """The area tree, 1,000 cases, an Open311 client; its API key."""
    from shapely.geometry import box

    from grid_backend.areas.services import AreaInput, apply_areas
    from grid_backend.core import clock
    from grid_backend.hazards.tables import HazardReport
    from grid_backend.open311 import clients
    from grid_backend.open311.schemas import ClientCreate

    items = [
        AreaInput("500000", "重庆市", "city", None, box(106.0, 29.0, 107.0, 30.0), 0, 0),
        AreaInput("500103", "渝中区", "district", "500000", box(106.5, 29.5, 106.6, 29.6), 0, 0),
        AreaInput(
            "500103001", "解放碑街道", "township", "500103", box(106.5, 29.5, 106.6, 29.6), 0, 0
        ),
        AreaInput(
            "500103001001",
            "较场口社区",
            "community",
            "500103001",
            box(106.5, 29.5, 106.6, 29.6),
            0,
            0,
        ),
    ]
    for i in range(16):
        x, y = 106.5 + (i % 4) * 0.025, 29.5 + (i // 4) * 0.025
        code = f"500103001001{i + 1:03d}"
        items.append(
            AreaInput(
                code,
                f"第{i + 1}网格",
                "grid",
                "500103001001",
                box(x, y, x + 0.025, y + 0.025),
                0,
                0,
            )
        )
    await apply_areas(items, source_datum="wgs84", actor_id=None)
    from grid_backend.areas.tables import Area

    grids = await Area.select(Area.id, Area.path).where(Area.level == "grid").run()
    township = await Area.select(Area.id).where(Area.level == "township").first().run()
    now = clock.now()
    rows = []
    for n in range(CASES):
        g = grids[n % len(grids)]
        at = now - timedelta(minutes=n * 115)  # about 80 days
        rows.append(
            HazardReport(
                category="gas",
                description=f"燃气管道漏气 第{n}号",
                lat=29.51 + (n % 80) * 0.001,
                lng=106.51 + (n % 70) * 0.001,
                sent_lat=29.51,
                sent_lng=106.51,
                grid=g["id"],
                township=township["id"],
                area_path=g["path"],
                status="submitted" if n % 3 else "closed",
                due_at=at + timedelta(hours=1),
                created_at=at,
                updated_at=at,
            )
        )
    for start in range(0, len(rows), 200):  # PostgreSQL takes at most 32,767 arguments
        await HazardReport.insert(*rows[start : start + 200]).run()
    issued = await clients.create_client(
        data=ClientCreate(name="Bench", requests_per_minute=10_000), by=None
    )
    return issued.api_key


async def _run(args: argparse.Namespace) -> dict:
    import httpx

    from grid_backend.app import create_app
    from grid_backend.core.db import engine
    from grid_backend.migrate import migrate

    db = engine()
    with contextlib.redirect_stdout(sys.stderr):  # the migrations' log: stdout is the JSON
        await migrate()
    if db.engine_type == "postgres":
        await db.start_connection_pool(min_size=2, max_size=10)
    try:
        key = await _world()
        app = create_app(open_pool=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            first = await http.get("/open311/v2/requests.json")
            assert first.status_code == 200, first.text
            listed = len(first.json())
            gets = []
            for _ in range(args.gets):
                t0 = time.perf_counter()
                r = await http.get("/open311/v2/requests.json")
                gets.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            xml_t0 = time.perf_counter()
            assert (await http.get("/open311/v2/requests.xml")).status_code == 200
            xml_ms = (time.perf_counter() - xml_t0) * 1000
            form = {
                "api_key": key,
                "service_code": "fire",
                "description": "楼道堆放杂物",
                "attribute[reporter_safe]": "true",
            }
            t0 = time.perf_counter()
            for n in range(args.posts):
                lat, lng = 29.505 + (n % 90) * 0.001, 106.505 + (n % 95) * 0.001
                r = await http.post(
                    "/open311/v2/requests.json", data={**form, "lat": str(lat), "long": str(lng)}
                )
                assert r.status_code == 201, r.text
            post_s = time.perf_counter() - t0
    finally:
        if db.engine_type == "postgres":
            await db.close_connection_pool()
    get_median = statistics.median(gets)
    post_rate = args.posts / post_s
    return {
        "engine": db.engine_type,
        "cases_listed": listed,
        "get_1000_ms_median": round(get_median, 1),
        "get_1000_ms_p95": round(sorted(gets)[int(len(gets) * 0.95) - 1], 1),
        "get_1000_xml_ms": round(xml_ms, 1),
        "posts": args.posts,
        "post_per_s": round(post_rate, 1),
        "targets": TARGETS,
        "met": get_median <= TARGETS["get_1000_ms"] and post_rate >= TARGETS["post_per_s"],
    }


def main() -> None:
    args = _parse()
    data_dir = tempfile.mkdtemp(prefix="grid-bench-open311-")
    url = args.database_url
    if not url.startswith("postgresql"):
        url = f"sqlite:///{data_dir}/bench.sqlite3"
    ensure_database(url, fresh=True)
    os.environ.update(
        GRID_DATABASE_URL=url,
        GRID_DATA_DIR=data_dir,
        GRID_SECRET_KEY="bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        GRID_SCHEDULER="false",
        GRID_LOG_LEVEL="WARNING",
        GRID_OPEN311_READS_PER_MINUTE="100000",  # the server's speed, not the public limit
        PICCOLO_CONF="grid_backend.piccolo_conf",
    )
    print(json.dumps(asyncio.run(_run(args)), indent=2))


if __name__ == "__main__":
    main()
