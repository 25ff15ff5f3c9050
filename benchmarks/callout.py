"""Callout benchmark on the city seed, on PostgreSQL: a red warning over a whole district with
100,000 people to call out. Prints JSON.

    python benchmarks/callout.py
    python benchmarks/callout.py --recipients 20000 --deliver-seconds 10 --ack-seconds 5

Set-up (in the benchmark's own database, grid_bench_callout by default, created and migrated if
missing; the city seed is made once and reused): the district with the most grids gets
`--recipients` responders spread over its grids, written by set-based SQL with no password
hashing, a supervisor to issue the warning, and one daily patrol plan per grid asking for two
extra rounds under a red warning. Alert, notification and patrol rows are emptied on each run.

Figures, from a server started here (uvicorn, one worker, the scheduler off):
- `fan_out`: POST /api/v1/warnings for the district, timed until the answer, which comes after
  the transaction that wrote every recipient, notification (inbox and push), extra patrol task
  and audit row committed; then the rows are counted.
- `delivery`: the `notify.deliver` job's work (claim, signed POST, record) in this process,
  pushing the callout to a webhook sink on 127.0.0.1 for `--deliver-seconds`.
- `acks`: POST /api/v1/callouts/{id}/ack over HTTP, each request as a different recipient, for
  at most `--ack-count` requests or `--ack-seconds`, beside GET /healthz with the same client
  (the machine's ceiling in the same run); then the acknowledgements in the table are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _setup import ensure_database, free_port  # noqa: E402 - the benchmarks folder


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench_callout"
    )
    p.add_argument("--grids", type=int, default=62_000, help="grids in the city seed")
    p.add_argument("--recipients", type=int, default=100_000)
    p.add_argument("--deliver-seconds", type=float, default=20.0)
    p.add_argument("--ack-count", type=int, default=30_000, help="most acknowledgements sent")
    p.add_argument("--ack-seconds", type=float, default=15.0)
    p.add_argument("--http-seconds", type=float, default=5.0, help="bare /healthz load")
    p.add_argument("--connections", type=int, default=32)
    return p.parse_args()


ARGS = _parse()
SECRET = "bench-secret-0123456789abcdef"
os.environ.update(
    {
        "GRID_DATABASE_URL": ARGS.database_url,
        "GRID_DATA_DIR": str(Path(tempfile.gettempdir()) / "grid-bench-callout"),
        "GRID_SECRET_KEY": "bench-callout-" + "x" * 40,
        "GRID_PASSWORD_HASH_COST": "fast",
        "GRID_SCHEDULER": "false",
        "GRID_LOG_LEVEL": "WARNING",
        "GRID_ACCESS_TOKEN_SECONDS": "7200",
        "GRID_PUSH_WEBHOOK_SECRET": SECRET,
        "PICCOLO_CONF": "grid_backend.piccolo_conf",
    }
)

APPS = ("core", "areas", "people", "media", "notify", "patrols", "alerts")
EMPTIED = (
    "early_warning_round, callout_recipient, callout_area, callout, early_warning_area,"
    " early_warning, delivery_attempt, notification, patrol_log, patrol_check_in_photo,"
    " patrol_check_in, patrol_task, patrol_checkpoint, patrol_plan, audit_entry"
)
PHONE_PREFIX = "16"  # the generated responders: 16 + 9 digits
WORKER_PREFIX = "18"  # a grid worker per grid: 18 + the grid's id
SUPERVISOR_PHONE = "15900000001"

# the sink of benchmarks/notify.py: checks each signature, counts each notification id
SINK = (ROOT / "benchmarks" / "notify.py").read_text().split('SINK = r"""', 1)[1].split('"""', 1)[0]


async def _migrate() -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON figures
        for app in APPS:
            result = await run_forwards(app_name=app, migration_id="all")
            if not result.success:
                raise RuntimeError(result.message)


async def _people(district: dict, grids: int) -> dict:
    """The district's responders and grid workers (made once, set-based) and its
    supervisor."""
    from grid_backend.core.audit import bump_revision
    from grid_backend.core.db import engine, fetch
    from grid_backend.core.security import hash_password

    db = engine()
    have = await fetch(
        "SELECT COUNT(*) AS n FROM assignment s JOIN account a ON a.id = s.account"
        " WHERE a.phone LIKE {} AND s.area_path LIKE {}",
        PHONE_PREFIX + "%",
        district["path"] + "%",
    )
    workers = await fetch(
        "SELECT COUNT(*) AS n FROM account WHERE phone LIKE {}", WORKER_PREFIX + "%"
    )
    started = time.perf_counter()
    password_hash = await hash_password("Bench12345x")
    made = False
    if int(have[0]["n"]) != ARGS.recipients:
        made = True
        async with db.transaction():
            if int(have[0]["n"]):  # another --recipients than last time (deleting is slow)
                await db.run_ddl(
                    "DELETE FROM assignment WHERE account IN"
                    f" (SELECT id FROM account WHERE phone LIKE '{PHONE_PREFIX}%')"
                )
                await db.run_ddl(f"DELETE FROM account WHERE phone LIKE '{PHONE_PREFIX}%'")
            await fetch(
                "INSERT INTO account (phone, name, password_hash, is_active, created_at,"
                " updated_at) SELECT {} || lpad(i::text, 9, '0'), '群防员' || i, {}, true, now(),"
                " now() FROM generate_series(0, {} - 1) i",
                PHONE_PREFIX,
                password_hash,
                ARGS.recipients,
            )
            await fetch(
                "WITH g AS (SELECT id, path, row_number() OVER (ORDER BY id) - 1 AS rn FROM area"
                " WHERE level = 'grid' AND path LIKE {})"
                " INSERT INTO assignment (account, area, area_path, duty, valid_from, created_at)"
                " SELECT a.id, g.id, g.path, 'responder', DATE '2020-01-01', now()"
                " FROM account a JOIN g ON g.rn = substr(a.phone, 3)::int % {}"
                " WHERE a.phone LIKE {}",
                district["path"] + "%",
                grids,
                PHONE_PREFIX + "%",
            )
            await bump_revision("assignments")
    if int(workers[0]["n"]) != grids:
        # one full-time grid worker per grid: the patrol plans' duty, called out too (one more
        # recipient per grid beside the --recipients responders)
        async with db.transaction():
            await fetch(
                "INSERT INTO account (phone, name, password_hash, is_active, created_at,"
                " updated_at) SELECT {} || lpad(g.id::text, 9, '0'), '网格员' || g.id, {}, true,"
                " now(), now() FROM area g WHERE g.level = 'grid' AND g.path LIKE {}"
                " ON CONFLICT (phone) DO NOTHING",
                WORKER_PREFIX,
                password_hash,
                district["path"] + "%",
            )
            await fetch(
                "INSERT INTO assignment (account, area, area_path, duty, employment, valid_from,"
                " created_at) SELECT a.id, g.id, g.path, 'grid_worker', 'full_time',"
                " DATE '2020-01-01', now() FROM area g"
                " JOIN account a ON a.phone = {} || lpad(g.id::text, 9, '0')"
                " WHERE g.level = 'grid' AND g.path LIKE {} AND NOT EXISTS"
                " (SELECT 1 FROM assignment s WHERE s.account = a.id)",
                WORKER_PREFIX,
                district["path"] + "%",
            )
            await bump_revision("assignments")
    supervisor = await fetch("SELECT id FROM account WHERE phone = {}", SUPERVISOR_PHONE)
    if not supervisor:
        supervisor = await fetch(
            "INSERT INTO account (phone, name, password_hash, is_active, created_at, updated_at)"
            " VALUES ({}, '区督导', '!', true, now(), now()) RETURNING id",
            SUPERVISOR_PHONE,
        )
    await db.run_ddl(f"DELETE FROM assignment WHERE account = {supervisor[0]['id']}")
    await fetch(
        "INSERT INTO assignment (account, area, area_path, duty, valid_from, created_at)"
        " VALUES ({}, {}, {}, 'supervisor', DATE '2020-01-01', now())",
        supervisor[0]["id"],
        district["id"],
        district["path"],
    )
    await bump_revision("assignments")
    return {
        "supervisor": supervisor[0]["id"],
        "made": made,
        "seconds": round(time.perf_counter() - started, 2),
    }


async def _plans(district: dict) -> int:
    """One daily plan per grid of the district, two extra rounds under a red warning."""
    from grid_backend.core.db import fetch

    rows = await fetch(
        "INSERT INTO patrol_plan (name, grid, area_path, duty, ordered, recurrence,"
        " window_minutes, valid_from, extra_rounds, status, revision, created_at, updated_at)"
        " SELECT '日常巡查 ' || a.code, a.id, a.path, 'grid_worker', false, {}::jsonb, 120,"
        " DATE '2020-01-01', {}::jsonb, 'active', 1, now(), now() FROM area a"
        " WHERE a.level = 'grid' AND a.path LIKE {} RETURNING id",
        json.dumps({"kind": "daily", "time": "09:00", "days": []}),
        json.dumps({"red": 2}),
        district["path"] + "%",
    )
    return len(rows)


async def _prepare(result: dict) -> dict:
    from grid_backend.areas.tables import Area
    from grid_backend.core.db import engine, fetch
    from grid_backend.seeding import seed_city

    db = engine()
    await db.start_connection_pool(min_size=1, max_size=4)
    try:
        await _migrate()
        grids = await Area.count().where(Area.level == "grid").run()
        if grids < ARGS.grids:
            started = time.perf_counter()
            with contextlib.redirect_stdout(sys.stderr):
                await seed_city(grids=ARGS.grids)
            result["seed_seconds"] = round(time.perf_counter() - started, 1)
        await db.run_ddl(f"TRUNCATE {EMPTIED} RESTART IDENTITY CASCADE")
        biggest = await fetch(
            "SELECT d.id, d.code, d.name, d.path, COUNT(g.id) AS grids FROM area d"
            " JOIN area g ON g.level = 'grid' AND g.path LIKE d.path || '%'"
            " WHERE d.level = 'district' GROUP BY d.id ORDER BY COUNT(g.id) DESC, d.id LIMIT 1"
        )
        district = biggest[0]
        result["district"] = {
            "code": district["code"],
            "name": district["name"],
            "grids": int(district["grids"]),
        }
        people = await _people(district, int(district["grids"]))
        result["setup"] = {
            "responders_created": ARGS.recipients if people["made"] else 0,
            "seconds": people["seconds"],
            "patrol_plans": await _plans(district),
        }
        await db.run_ddl("ANALYZE")
        return {"district": district, "supervisor": people["supervisor"]}
    finally:
        await db.close_connection_pool()


def _wait_ready(port: int) -> None:
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the server did not start")


def _fan_out(port: int, district: dict, supervisor: int) -> dict:
    import httpx

    from grid_backend.core.security import issue_access_token

    token = issue_access_token(supervisor)[0]
    body = {
        "level": "red",
        "type": "heavy_rain",
        "area_ids": [district["id"]],
        "expires_at": (datetime.now(UTC) + timedelta(hours=24)).isoformat(),
        "message": "未来24小时有特大暴雨，请立即上岗值守",
    }
    # the rows appear together when the transaction commits: watch for them from outside
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:
        async def run() -> None:
            import asyncpg

            conn = await asyncpg.connect(ARGS.database_url)
            try:
                while not stop.is_set():
                    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM notification)"):
                        seen["at"] = time.perf_counter()
                        return
                    await asyncio.sleep(0.02)
            finally:
                await conn.close()

        asyncio.run(run())

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/warnings",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        )
        answered = time.perf_counter() - started
        watcher.join(timeout=10)
    finally:
        stop.set()
        watcher.join()
    if r.status_code != 201:
        raise RuntimeError(f"issuing the warning failed: {r.status_code} {r.text[:500]}")
    return {
        "rows_exist_seconds": round(seen["at"] - started, 2) if "at" in seen else None,
        "answer_seconds": round(answered, 2),
        "warning": r.json(),
    }


async def _counts(callout_id: int) -> dict:
    from grid_backend.core.db import engine, fetch

    db = engine()
    await db.start_connection_pool(min_size=1, max_size=2)
    try:
        rows = await fetch(
            "SELECT channel, status, COUNT(*) AS n FROM notification WHERE kind = 'callout'"
            " GROUP BY channel, status ORDER BY channel, status"
        )
        recipients = await fetch(
            "SELECT COUNT(*) AS n FROM callout_recipient WHERE callout = {}", callout_id
        )
        tasks = await fetch("SELECT COUNT(*) AS n FROM patrol_task")
        return {
            "recipients": int(recipients[0]["n"]),
            "notification_rows": {f"{r['channel']}:{r['status']}": int(r["n"]) for r in rows},
            "extra_patrol_tasks": int(tasks[0]["n"]),
        }
    finally:
        await db.close_connection_pool()


async def _deliver(sink_url: str) -> dict:
    """The delivery job's loop (two runners, as notify.jobs runs it) for a bounded time."""
    import httpx

    from grid_backend.core import clock
    from grid_backend.core.db import engine
    from grid_backend.notify import channels, services

    db = engine()
    await db.start_connection_pool(min_size=2, max_size=6)
    totals = {"claimed": 0, "sent": 0, "retried": 0, "dead": 0}
    deadline = time.perf_counter() + ARGS.deliver_seconds
    started, cpu_started = time.perf_counter(), time.process_time()

    async def runner() -> None:
        while time.perf_counter() < deadline:
            result = await services.deliver_due(clock.now(), limit=500)
            for key, value in result.items():
                totals[key] += value
            if not result["claimed"]:
                return

    try:
        await asyncio.gather(runner(), runner())
    finally:
        await channels.close_client()
        await db.close_connection_pool()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    async with httpx.AsyncClient() as client:
        stats = (await client.get(sink_url.rsplit("/", 1)[0] + "/stats")).json()
    return {
        "seconds": round(elapsed, 2),
        "delivered": totals["sent"],
        "deliveries_per_s": round(totals["sent"] / elapsed),
        "failures": totals["retried"] + totals["dead"],
        "cpu_ms_per_delivery": round(cpu / max(totals["sent"], 1) * 1000, 3),
        "sink_unique_ids": stats["unique"],
        "sink_duplicates": stats["duplicates"],
        "sink_bad_signatures": stats["bad_signatures"],
    }


async def _acks(port: int, callout_id: int) -> dict:
    from _http import load

    from grid_backend.core.db import engine, fetch
    from grid_backend.core.security import issue_access_token

    db = engine()
    await db.start_connection_pool(min_size=1, max_size=2)
    try:
        rows = await fetch(
            "SELECT account FROM callout_recipient WHERE callout = {} ORDER BY id LIMIT {}",
            callout_id,
            ARGS.ack_count,
        )
        tokens = [issue_access_token(r["account"])[0] for r in rows]
        bare = await load(
            "127.0.0.1",
            port,
            lambda n: "/healthz",
            seconds=ARGS.http_seconds,
            connections=ARGS.connections,
        )
        path = f"/api/v1/callouts/{callout_id}/ack"
        first = await load(
            "127.0.0.1",
            port,
            lambda n: path,
            method="POST",
            token_for=lambda n: tokens[n],
            seconds=ARGS.ack_seconds,
            connections=ARGS.connections,
            max_requests=len(tokens),
        )
        acked = await fetch(
            "SELECT COUNT(*) AS n FROM callout_recipient WHERE callout = {}"
            " AND acked_at IS NOT NULL",
            callout_id,
        )
        # a second tap of the same people: the idempotent path (no write)
        repeat = await load(
            "127.0.0.1",
            port,
            lambda n: path,
            method="POST",
            token_for=lambda n: tokens[n],
            seconds=min(ARGS.ack_seconds, 5.0),
            connections=ARGS.connections,
            max_requests=first["requests"],
        )
        return {
            "bare_healthz": bare,
            "first_taps": {
                **{k: v for k, v in first.items() if k != "requests_per_s"},
                "acks_per_s": first["requests_per_s"],
                "acked_rows": int(acked[0]["n"]),
            },
            "repeated_taps": {
                "requests": repeat["requests"],
                "acks_per_s": repeat["requests_per_s"],
                "errors": repeat["errors"],
            },
            "connections": ARGS.connections,
            "target_per_s": 500,
            "meets_target": first["requests_per_s"] >= 500 and not first["errors"],
        }
    finally:
        await db.close_connection_pool()


def main() -> None:
    if not ARGS.database_url.startswith("postgresql"):
        sys.exit("this benchmark runs on PostgreSQL")
    ensure_database(ARGS.database_url)
    result: dict = {"database": "postgres", "load_average_before": os.getloadavg()[0]}
    ready = asyncio.run(_prepare(result))
    sink = subprocess.Popen([sys.executable, "-c", SINK, SECRET], stdout=subprocess.PIPE, text=True)
    sink_url = f"http://127.0.0.1:{int(sink.stdout.readline())}/push"
    os.environ["GRID_PUSH_WEBHOOK_URL"] = sink_url
    from grid_backend.settings import get_settings

    get_settings.cache_clear()  # this process delivers to the sink too
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "grid_backend.cli", "serve", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_ready(port)
        fan_out = _fan_out(port, ready["district"], ready["supervisor"])
        warning = fan_out.pop("warning")
        callout_id = warning["callout_ids"][0]
        counts = asyncio.run(_counts(callout_id))
        rows = sum(counts["notification_rows"].values())
        result["fan_out"] = {
            **fan_out,
            **counts,
            "notification_rows_per_s": round(rows / max(fan_out["rows_exist_seconds"] or 0, 1e-6)),
            "target_seconds": 10,
            "meets_target": (fan_out["rows_exist_seconds"] or 1e9) <= 10
            and counts["recipients"] >= ARGS.recipients,
            "extra_tasks_reported": warning["extra_tasks"],
        }
        result["delivery"] = asyncio.run(_deliver(sink_url))
        result["acks"] = asyncio.run(_acks(port, callout_id))
        result["server"] = "uvicorn, 1 worker; clients on the same machine (2 cores shared)"
        result["load_average_after"] = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait(timeout=30)
        sink.terminate()
        sink.wait()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
