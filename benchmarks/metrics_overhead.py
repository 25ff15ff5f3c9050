"""What /metrics costs every request: the app with GRID_METRICS_TOKEN unset (no meter) and set
(every request counted and timed), called in one process through ASGI, alternating every
batch, for a bare endpoint (/healthz) and an authenticated read (GET /api/v1/me/tasks). Prints
JSON: CPU microseconds per request and what the meter adds.

    python benchmarks/metrics_overhead.py [--database-url postgresql://postgres@127.0.0.1:5432/grid_bench]

Alternating small batches of the two apps in one process cancels what other programs on the
cores do to the figures (a whole server run off, then one on, differed by ±10 % here from noise
alone). Without the server's HTTP parsing the per-request time is smaller than a real one, so
the percentage is an upper bound. Needs a database with accounts (run benchmarks/patrols.py on it
first: its grid worker's tasks are read)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench")
    p.add_argument("--batches", type=int, default=100, help="per endpoint and app")
    p.add_argument("--batch", type=int, default=50, help="requests in a batch")
    return p.parse_args()


ARGS = _parse()
os.environ["GRID_DATABASE_URL"] = ARGS.database_url
os.environ.setdefault("GRID_DATA_DIR", str(Path(tempfile.gettempdir()) / "grid-bench"))
os.environ["GRID_LOG_LEVEL"] = "WARNING"
os.environ["GRID_SCHEDULER"] = "false"
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # this process's own meters


async def _caller() -> str:
    """An access token of the first grid worker (any account if none)."""
    from grid_backend.core.db import fetch
    from grid_backend.core.security import issue_access_token

    rows = await fetch(
        "SELECT account FROM assignment WHERE duty = 'grid_worker' ORDER BY id LIMIT 1"
    ) or await fetch("SELECT id AS account FROM account ORDER BY id LIMIT 1")
    if not rows:
        raise SystemExit("no accounts: run benchmarks/patrols.py on this database first")
    return issue_access_token(rows[0]["account"])[0]


async def _call(app, path: str, token: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _measure() -> dict:
    from grid_backend.app import create_app
    from grid_backend.core.db import engine
    from grid_backend.settings import get_settings

    db = engine()
    if db.engine_type == "postgres":
        await db.start_connection_pool(min_size=1, max_size=4)
    try:
        token = await _caller()
        settings = get_settings()
        apps = {
            "off": create_app(dataclasses.replace(settings, metrics_token=""), open_pool=False),
            "on": create_app(
                dataclasses.replace(settings, metrics_token="metrics-overhead-benchmark"),
                open_pool=False,
            ),
        }
        result: dict = {}
        for name, path in (("healthz", "/healthz"), ("me_tasks", "/api/v1/me/tasks")):
            times: dict[str, list[float]] = {"off": [], "on": []}
            for app in apps.values():  # warm-up: caches, the pool, label children
                for _ in range(200):
                    assert await _call(app, path, token) == 200
            for n in range(ARGS.batches):
                for mode in ("off", "on") if n % 2 == 0 else ("on", "off"):
                    started = time.process_time()
                    for _ in range(ARGS.batch):
                        await _call(apps[mode], path, token)
                    times[mode].append((time.process_time() - started) / ARGS.batch * 1e6)
            off, on = statistics.median(times["off"]), statistics.median(times["on"])
            result[name] = {
                "cpu_us_per_request_off": round(off, 1),
                "cpu_us_per_request_on": round(on, 1),
                "meter_cpu_us": round(on - off, 1),
                "added_percent_upper_bound": round((on - off) / off * 100, 1),
            }
        return result
    finally:
        if db.engine_type == "postgres":
            await db.close_connection_pool()


def main() -> None:
    result = {"database": ARGS.database_url.split("://")[0], **asyncio.run(_measure())}
    result["method"] = "one process, ASGI calls, off and on alternating in batches; medians"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
