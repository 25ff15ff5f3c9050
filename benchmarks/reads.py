"""Authenticated reads against a bare endpoint, SQLite against PostgreSQL, two server processes
against one: GET /api/v1/me/tasks for the demo's grid worker (today's and tomorrow's patrols
with their checkpoints), the loads of one round taking turns, several rounds, medians.
Prints JSON.

    python benchmarks/reads.py [--pg-url postgresql://postgres@127.0.0.1:5432/grid_bench_reads]
        [--sqlite-path /tmp/grid-bench-reads/reads.sqlite3] [--redis-url redis://127.0.0.1:6379/0]
        [--rounds 3] [--seconds 8] [--slice 1] [--connections 32]

Three servers run side by side, all on 127.0.0.1 with the scheduler off: `grid-backend serve`
on PostgreSQL, the same on SQLite, and `serve --workers 2` on PostgreSQL with Redis. Each round
loads in turns of a second, until each had its time: /healthz and me/tasks on the first,
me/tasks on the second and on the third. The targets of issue 13 are ratios within a round: me/tasks on PostgreSQL ≥ 25 % of
the bare endpoint, SQLite ≥ 50 % of PostgreSQL, two workers ≥ 1.5 × one. The load generator
(benchmarks/_http.py, one process) shares the machine's cores with the servers.

The databases get the demo seed once (reused afterwards) and the next two days' patrol tasks. The code
measured is the installed grid_backend of the interpreter running this script (so main's
.venv/bin/python measures main)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import ProcStats, postgres_pids
from _setup import ensure_database, free_port

SECRET = "reads-benchmark-secret-0123456789abcdef"  # both the token issuer and the servers


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench_reads")
    p.add_argument(
        "--sqlite-path", default=str(Path(tempfile.gettempdir()) / "grid-bench-reads/reads.sqlite3")
    )
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="for two workers")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0, help="per endpoint and round")
    p.add_argument("--slice", type=float, default=1.0, help="seconds of one load at a time")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)  # internal step
    return p.parse_args()


def _env(database_url: str, **extra: str) -> dict[str, str]:
    data_dir = Path(tempfile.gettempdir()) / "grid-bench-reads"
    return {
        **os.environ,
        "GRID_DATABASE_URL": database_url,
        "GRID_DATA_DIR": str(data_dir / ("pg" if database_url.startswith("postgres") else "sq")),
        "GRID_SECRET_KEY": SECRET,
        "GRID_PASSWORD_HASH_COST": "fast",
        "GRID_ACCESS_TOKEN_SECONDS": "3600",
        "GRID_LOG_LEVEL": "WARNING",
        "GRID_SCHEDULER": "false",
        "GRID_PATROL_HORIZON_HOURS": "48",  # today and tomorrow on both engines
        "PICCOLO_CONF": "grid_backend.piccolo_conf",
        **extra,
    }


async def _prepare() -> None:
    """(In a child process, engine chosen by the environment) migrate, seed the demo if the
    database is empty, make the next two days' patrol tasks, print a token of the busiest assignee."""
    from grid_backend.core import clock
    from grid_backend.core.db import engine, fetch
    from grid_backend.core.security import issue_access_token
    from grid_backend.migrate import migrate
    from grid_backend.patrols import jobs
    from grid_backend.seeding import seed_demo

    db = engine()
    if db.engine_type == "postgres":
        await db.start_connection_pool(min_size=1, max_size=4)
    try:
        await migrate()
        await seed_demo(if_empty=True)
        await jobs.materialise(clock.now())
        rows = await fetch(
            "SELECT assignee, COUNT(*) AS n FROM patrol_task WHERE assignee IS NOT NULL"
            " AND local_date >= {} GROUP BY assignee ORDER BY n DESC, assignee LIMIT 1",
            clock.today(),
        )
        print(issue_access_token(rows[0]["assignee"])[0])
    finally:
        if db.engine_type == "postgres":
            await db.close_connection_pool()


def _prepared(database_url: str) -> str:
    done = subprocess.run(
        [sys.executable, __file__, "--prepare"],
        env=_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
        timeout=600,
    )
    return done.stdout.strip().splitlines()[-1]


def _serve(database_url: str, workers: int, redis_url: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    extra = {"GRID_REDIS_URL": redis_url, "GRID_REDIS_PREFIX": "benchreads"} if workers > 1 else {}
    command = ["-m", "grid_backend.cli", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        [sys.executable, *command],
        env=_env(database_url, **extra),
        cwd=tempfile.gettempdir(),  # import grid_backend as installed, not from a checkout
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, port


def _wait_ready(port: int, token: str) -> int:
    """Wait for the server; the number of tasks it lists for the token."""
    deadline = time.monotonic() + 90
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/me/tasks",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                return len(json.loads(response.read())["items"])
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _listening(port: int) -> int:
    """Listening sockets on 127.0.0.1:port: one per worker when each has its own (SO_REUSEPORT),
    one in all when uvicorn's workers share a socket."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for line in lines if line.split()[1] == f"0100007F:{port:04X}" and line.split()[3] == "0A"
    )


def _wait_workers(port: int, workers: int) -> None:
    """Until every worker listens (or 30 s, for a server whose workers share one socket)."""
    deadline = time.monotonic() + 30
    while _listening(port) < workers and time.monotonic() < deadline:
        time.sleep(0.5)


def _round(
    ports: dict[str, int], tokens: dict[str, str], pids: dict[str, int], args: argparse.Namespace
) -> dict:
    """The four loads in turn, in slices of `--slice` seconds each, until each had `--seconds`:
    a neighbour's burst on the shared machine then falls on all four alike. Each load's CPU is
    counted too: its server's processes, PostgreSQL's, the load generator's (this process) and
    the rest of the machine's."""
    from _http import load

    tasks = "/api/v1/me/tasks"
    loads = {
        "bare": (ports["pg"], "/healthz", None, "pg"),
        "me_tasks_pg": (ports["pg"], tasks, tokens["pg"], "pg"),
        "me_tasks_sqlite": (ports["sqlite"], tasks, tokens["sqlite"], "sqlite"),
        "two_workers": (ports["pg2"], tasks, tokens["pg"], "pg2"),
    }
    done = {name: [0, 0.0] for name in loads}  # requests, seconds
    cpu = {
        name: dict.fromkeys(("server", "postgres", "generator", "machine"), 0.0) for name in loads
    }
    database = ProcStats(postgres_pids())

    def spent(server: ProcStats) -> dict[str, float]:
        return {
            "server": sum(server.cpu_seconds().values()),
            "postgres": sum(database.cpu_seconds().values()),
            "generator": time.process_time(),
            "machine": ProcStats.machine_busy_seconds(),
        }

    async def run() -> None:
        for _ in range(max(1, round(args.seconds / args.slice))):
            for name, (port, path, token, server) in loads.items():
                stats = ProcStats([pids[server]])
                before = spent(stats)
                figures = await load(
                    "127.0.0.1",
                    port,
                    lambda n, path=path: path,
                    token=token,
                    seconds=args.slice,
                    connections=args.connections,
                )
                after = spent(stats)
                if figures["errors"]:
                    raise RuntimeError(f"{name}: {figures}")
                done[name][0] += figures["requests"]
                done[name][1] += figures["seconds"]
                for part in cpu[name]:
                    cpu[name][part] += after[part] - before[part]

    uvloop.run(run())  # the servers' loop: the generator takes less of the shared cores
    r = {name: round(n / seconds) for name, (n, seconds) in done.items()}
    per_request = {}
    for name, parts in cpu.items():
        n = max(done[name][0], 1)
        us = {part: round(seconds / n * 1e6) for part, seconds in parts.items()}
        us["other"] = us.pop("machine") - us["server"] - us["postgres"] - us["generator"]
        per_request[name] = us
    return {
        **r,
        "share_of_bare": round(r["me_tasks_pg"] / r["bare"], 3),
        "sqlite_share_of_pg": round(r["me_tasks_sqlite"] / r["me_tasks_pg"], 3),
        "workers_ratio": round(r["two_workers"] / r["me_tasks_pg"], 3),
        "cpu_us_per_request": per_request,
    }


def main() -> None:
    args = _parse()
    if args.prepare:
        asyncio.run(_prepare())
        return
    ensure_database(args.pg_url)
    Path(args.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
    urls = {"pg": args.pg_url, "sqlite": f"sqlite:///{args.sqlite_path}"}
    tokens = {name: _prepared(url) for name, url in urls.items()}
    servers = {
        "pg": _serve(urls["pg"], 1, args.redis_url),
        "sqlite": _serve(urls["sqlite"], 1, args.redis_url),
        "pg2": _serve(urls["pg"], 2, args.redis_url),
    }
    try:
        ports = {name: port for name, (_, port) in servers.items()}
        token_of = {"pg": tokens["pg"], "sqlite": tokens["sqlite"], "pg2": tokens["pg"]}
        listed = {name: _wait_ready(port, token_of[name]) for name, port in ports.items()}
        _wait_workers(ports["pg2"], 2)
        load_before = os.getloadavg()[0]
        pids = {name: server.pid for name, (server, _) in servers.items()}
        rounds = [_round(ports, tokens, pids, args) for _ in range(args.rounds)]
        machine_load = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    finally:
        for server, _ in servers.values():
            server.terminate()
        for server, _ in servers.values():
            server.wait(timeout=30)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    print(
        json.dumps(
            {
                "bare_per_s": median("bare"),
                "me_tasks_pg_per_s": median("me_tasks_pg"),
                "me_tasks_sqlite_per_s": median("me_tasks_sqlite"),
                "share_of_bare": median("share_of_bare"),
                "sqlite_share_of_pg": median("sqlite_share_of_pg"),
                "one_worker_per_s": median("me_tasks_pg"),
                "two_workers_per_s": median("two_workers"),
                "workers_ratio": median("workers_ratio"),
                "targets": {"share_of_bare": 0.25, "sqlite_share_of_pg": 0.5, "workers_ratio": 1.5},
                "tasks_listed": listed,
                # 1-minute load average at the start and the end: others' work on the cores
                "machine_load": machine_load,
                "rounds": rounds,
                "setup": (
                    f"{args.rounds} rounds x 4 loads of {args.seconds} s in turns of"
                    f" {args.slice} s, {args.connections} keep-alive connections (opened anew each"
                    " turn); medians of per-round figures; uvicorn on 127.0.0.1,"
                    f" load generator in the same machine ({os.cpu_count()} cores shared)"
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
