"""Storm day: a red warning over five districts of the city seed calls out everyone on duty
there, then phones and consoles use the platform at once for a few minutes; nothing may be
lost. PostgreSQL, Redis, two app processes, a separate scheduler, a local webhook sink.
Prints JSON.

    python benchmarks/storm.py                        # 5 minutes of traffic
    python benchmarks/storm.py --seconds 30           # a short run while developing
    GRID_MEDIA_STORE=s3 GRID_S3_BUCKET=… python benchmarks/storm.py   # photos in S3

Set-up, in the benchmark's own database (dropped and made again, then dropped at the end
unless --keep-database): the city seed (`seed_city`, 62,000 grids, about 25 s), three staff in
every grid of the five districts with the most grids (a grid leader, a full-time grid worker,
an emergency officer: the people a callout reaches), a commander for the city, dispatchers
for the consoles, residents, and a patrol plan per grid of those districts that adds one round
under a red warning. Today's patrol tasks are made before the servers start.

Processes: `grid-backend serve --workers 2` (GRID_SCHEDULER=false), `grid-backend scheduler`
(delivery, escalation, patrol jobs), and a sink that answers every push and SMS at once and
records the first arrival of each notification id. Redis db and key prefix of their own.

Traffic, all on 127.0.0.1 from one asyncio process (raw keep-alive HTTP/1.1, _http.py):
the streams (GET /api/v1/events, one per staff account) open before the warning and stay open;
the commander issues the warning; then for --minutes the virtual users below, each waiting a
random think time between requests:
- ack phones: each tap acknowledges the callout as the next recipient (each at most once);
- reporters: a resident's report as the field app sends it: the photo to /api/v1/media, then
  the report with its photo id, both with an Idempotency-Key; the photo shrunk on the phone
  (2048 px, JPEG quality 85, as photos.js) except every --full-size-every-th, sent whole
  (4000 x 3000, about 5 MB, EXIF GPS); every photo has different bytes;
- patrollers: a grid worker's extra round: start the task, check in at its three points;
- consoles: a district dispatcher lists the newest cases, opens one, and every third time
  looks at the callout board.
Then the outbox is drained (bounded) and everything reconciled against the database, the sink
and the photo store (read back through the API)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
from _http import Connection, percentile_ms  # noqa: E402 - the benchmarks folder
from _photos import Variants, shrink_like_phone  # noqa: E402
from _procs import ProcStats  # noqa: E402
from _setup import CHECKPOINTS_SQL, ensure_database, free_port  # noqa: E402
from bigphoto import big_photo  # noqa: E402 - the browser tests' 12 MP photo

HOST = "127.0.0.1"
SECRET = "bench-secret-0123456789abcdef"
COMMANDER_PHONE = "15900000001"
TARGETS_MS = {"read": 1000, "ack": 1000, "report": 3000}
LAG_TARGET_S = 60.0


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/storm_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    p.add_argument("--keep-database", action="store_true", help="reuse it and leave it")
    p.add_argument("--grids", type=int, default=62_000, help="grids in the city seed")
    p.add_argument("--seed-timeout", type=float, default=300.0, help="seconds for the seed")
    p.add_argument("--districts", type=int, default=5)
    duration = p.add_mutually_exclusive_group()
    duration.add_argument("--minutes", type=float, default=5.0, help="of mixed traffic")
    duration.add_argument("--seconds", type=float, default=None, help="instead of --minutes")
    p.add_argument("--streams", type=int, default=400, help="open SSE streams")
    p.add_argument("--ack-phones", type=int, default=40)
    p.add_argument("--ack-think", type=float, default=0.25, help="mean seconds between taps")
    p.add_argument("--reporters", type=int, default=6)
    p.add_argument("--report-think", type=float, default=2.0)
    p.add_argument("--full-size-every", type=int, default=10, help="1 in N photos unshrunk")
    p.add_argument("--patrollers", type=int, default=20)
    p.add_argument("--patrol-think", type=float, default=1.0)
    p.add_argument("--consoles", type=int, default=10)
    p.add_argument("--console-think", type=float, default=1.0)
    p.add_argument("--residents", type=int, default=500)
    p.add_argument("--max-reports", type=int, default=5_000, help="bound on report submissions")
    p.add_argument("--drain-seconds", type=float, default=180.0, help="most wait for the outbox")
    p.add_argument("--request-timeout", type=float, default=60.0)
    p.add_argument("--bare-seconds", type=float, default=5.0, help="GET /healthz ceiling first")
    args = p.parse_args()
    args.duration = args.seconds if args.seconds is not None else args.minutes * 60
    return args


ARGS = _parse()
WORK = Path(tempfile.mkdtemp(prefix="grid-bench-storm-"))
RUN = secrets.token_hex(4)  # in every idempotency key of this run
os.environ.update(
    {
        "GRID_DATABASE_URL": ARGS.database_url,
        "GRID_REDIS_URL": ARGS.redis_url,
        "GRID_REDIS_PREFIX": f"storm{RUN}",
        "GRID_SECRET_KEY": secrets.token_urlsafe(48),  # shared with the servers: tokens
        "GRID_PASSWORD_HASH_COST": "fast",
        "GRID_ACCESS_TOKEN_SECONDS": "7200",
        "GRID_LOG_LEVEL": "WARNING",
        "GRID_PUSH_WEBHOOK_SECRET": SECRET,
        "PICCOLO_CONF": "grid_backend.piccolo_conf",
    }
)


def media_env() -> dict[str, str]:
    """Where the photos go: the local store under the run's folder, or whatever the caller's
    environment selects (GRID_MEDIA_STORE=s3 with GRID_S3_* and the AWS_* credentials),
    passed through to the servers unchanged."""
    env = {"GRID_DATA_DIR": str(WORK / "data")}
    for name, value in os.environ.items():
        if name.startswith(("GRID_MEDIA_", "GRID_S3_", "AWS_")):
            env[name] = value
    return env


os.environ.update(media_env())


def log(*parts: object) -> None:
    print(f"[storm {time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- set-up in the database


async def _staff(paths: list[str]) -> dict[str, Any]:
    """Three staff in every grid under `paths`, the commander, the dispatchers, the residents:
    set-based SQL, no password hashing (the load uses tokens issued here)."""
    from grid_backend.core.audit import bump_revision
    from grid_backend.core.db import engine, fetch

    db = engine()
    grids = "SELECT id, path FROM area WHERE level = 'grid' AND ({})".format(
        " OR ".join(f"path LIKE '{p}%'" for p in paths)
    )
    duty = "(ARRAY['grid_leader', 'grid_worker', 'emergency_officer'])[k + 1]"
    phone = "'15' || lpad((g.id * 3 + k)::text, 9, '0')"
    async with db.transaction():
        await db.run_ddl(
            "INSERT INTO account (phone, name, password_hash, is_active, created_at, updated_at)"
            f" SELECT {phone}, '网格员' || g.id || '-' || k, '!', true, now(), now()"
            f" FROM ({grids}) g CROSS JOIN generate_series(0, 2) k"
        )
        await db.run_ddl(
            "INSERT INTO assignment (account, area, area_path, duty, employment, valid_from,"
            f" created_at) SELECT c.id, g.id, g.path, {duty},"
            " CASE WHEN k = 1 THEN 'full_time' END, DATE '2020-01-01', now()"
            f" FROM ({grids}) g CROSS JOIN generate_series(0, 2) k JOIN account c ON c.phone = {phone}"
        )
        await db.run_ddl(
            "INSERT INTO account (phone, name, password_hash, is_active, created_at, updated_at)"
            " SELECT '17' || lpad(i::text, 9, '0'), '居民' || i, '!', true, now(), now()"
            f" FROM generate_series(1, {ARGS.residents}) i"
        )
        commander = await fetch(
            "INSERT INTO account (phone, name, password_hash, is_active, created_at, updated_at)"
            " VALUES ({}, '市指挥长', '!', true, now(), now()) RETURNING id",
            COMMANDER_PHONE,
        )
        await fetch(
            "INSERT INTO assignment (account, area, area_path, duty, valid_from, created_at)"
            " SELECT {}, id, path, 'commander', DATE '2020-01-01', now() FROM area"
            " WHERE level = 'city'",
            commander[0]["id"],
        )
        for n, path in enumerate(paths):
            await db.run_ddl(
                "INSERT INTO account (phone, name, password_hash, is_active, created_at,"
                f" updated_at) VALUES ('1580000{n:04d}', '区调度员{n}', '!', true, now(), now())"
            )
            await db.run_ddl(
                "INSERT INTO assignment (account, area, area_path, duty, valid_from, created_at)"
                f" SELECT c.id, a.id, a.path, 'dispatcher', DATE '2020-01-01', now()"
                f" FROM account c, area a WHERE c.phone = '1580000{n:04d}' AND a.path = '{path}'"
            )
        await bump_revision("assignments")
    staff = await fetch("SELECT id FROM account WHERE phone LIKE '15%' ORDER BY id")
    residents = await fetch("SELECT id FROM account WHERE phone LIKE '17%' ORDER BY id")
    dispatchers = await fetch("SELECT id FROM account WHERE phone LIKE '1580000%' ORDER BY id")
    return {
        "commander": commander[0]["id"],
        "staff": [r["id"] for r in staff if r["id"] != commander[0]["id"]],
        "residents": [r["id"] for r in residents],
        "dispatchers": [r["id"] for r in dispatchers],
    }


async def _plans(paths: list[str]) -> int:
    """A daily plan per grid for its full-time worker, three checkpoints around the grid's
    centre, one extra round under a red warning; today's tasks made now."""
    from grid_backend.core import clock
    from grid_backend.core.db import engine, fetch
    from grid_backend.patrols import jobs

    db = engine()
    where = " OR ".join(f"a.path LIKE '{p}%'" for p in paths)
    async with db.transaction():
        await db.run_ddl(
            "INSERT INTO patrol_plan (name, grid, area_path, duty, employment, ordered,"
            " recurrence, window_minutes, valid_from, extra_rounds, status, revision,"
            " created_at, updated_at)"
            " SELECT '日常巡查 ' || a.code, a.id, a.path, 'grid_worker', 'full_time', false,"
            """ '{"kind": "daily", "time": "08:00", "days": []}', 120, DATE '2020-01-01',"""
            f""" '{{"red": 1}}', 'active', 1, now(), now() FROM area a"""
            f" WHERE a.level = 'grid' AND ({where})"
        )
        await db.run_ddl(CHECKPOINTS_SQL)
    await jobs.materialise(clock.now())
    rows = await fetch("SELECT COUNT(*) AS n FROM patrol_plan")
    return int(rows[0]["n"])


async def _prepare(result: dict) -> dict[str, Any]:
    import shapely.wkb

    from grid_backend.areas.tables import Area
    from grid_backend.core.db import engine, fetch
    from grid_backend.migrate import migrate
    from grid_backend.seeding import seed_city

    db = engine()
    await db.start_connection_pool(min_size=1, max_size=4)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON figures
            started = time.perf_counter()
            await migrate()
            if await Area.count().where(Area.level == "grid").run() < ARGS.grids:
                await asyncio.wait_for(seed_city(grids=ARGS.grids), ARGS.seed_timeout)
            seeded = time.perf_counter() - started
        if await fetch("SELECT 1 FROM account LIMIT 1"):  # --keep-database: the city stays
            await db.run_ddl(
                "TRUNCATE account, patrol_plan, photo, early_warning, callout, notification,"
                " hazard_report, audit_entry, job_lease RESTART IDENTITY CASCADE"
            )
        districts = await fetch(
            "SELECT d.id, d.code, d.name, d.path, COUNT(g.id) AS grids FROM area d"
            " JOIN area g ON g.level = 'grid' AND g.path LIKE d.path || '%'"
            " WHERE d.level = 'district' GROUP BY d.id ORDER BY COUNT(g.id) DESC, d.id LIMIT {}",
            ARGS.districts,
        )
        paths = [d["path"] for d in districts]
        started = time.perf_counter()
        people = await _staff(paths)
        plans = await _plans(paths)
        await db.run_ddl("ANALYZE")
        # a point inside each grid (the middle of its bounding box may lie outside the grid,
        # further than the locate tolerance from any grid: a 422 outside_all_grids)
        points = await fetch(
            "SELECT a.id, b.wkb FROM area a JOIN area_boundary b ON b.area = a.id"
            " AND b.valid_to IS NULL"
            " WHERE a.level = 'grid' AND ({}) ORDER BY a.id".format(
                " OR ".join(f"a.path LIKE '{p}%'" for p in paths)
            )
        )
        for point in points:
            inside = shapely.wkb.loads(bytes(point.pop("wkb"))).representative_point()
            point.update(lat=inside.y, lng=inside.x)
        result["setup"] = {
            "city_seed_and_migrate_seconds": round(seeded, 1),
            "grids_in_city": await Area.count().where(Area.level == "grid").run(),
            "districts": [
                {"code": d["code"], "name": d["name"], "grids": int(d["grids"])} for d in districts
            ],
            "staff_accounts": len(people["staff"]),
            "residents": len(people["residents"]),
            "dispatchers": len(people["dispatchers"]),
            "patrol_plans": plans,
            "people_and_plans_seconds": round(time.perf_counter() - started, 1),
        }
        return {**people, "districts": districts, "points": points}
    finally:
        await db.close_connection_pool()


# ---------------------------------------------------------------- processes


def _server_env(sink_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "GRID_PUSH_WEBHOOK_URL": sink_url + "/push",
        "GRID_SMS_GATEWAY_URL": sink_url + "/sms",
    }


def _wait_ready(port: int, processes: list[subprocess.Popen]) -> None:
    for _ in range(240):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=1)
            return
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a server process exited at start; see stderr")
        time.sleep(0.5)
    raise RuntimeError("the server did not start")


# ---------------------------------------------------------------- the load


@dataclass
class Stats:
    """Per operation: durations of the answered requests and the statuses of the failed ones."""

    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    first_error: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    slow: Counter = field(default_factory=Counter)  # answers over 1 s, by 10 s of the run

    def record(self, op: str, seconds: float, status: int, ok: bool, body: bytes = b"") -> None:
        self.durations[op].append(seconds)
        if seconds > 1.0:
            self.slow[int((time.perf_counter() - seconds - self.started) // 10) * 10] += 1
        if not ok:
            self.errors[op][str(status)] += 1
            self.first_error.setdefault(op, f"{status} {body[:300].decode(errors='replace')}")

    def failed(self, op: str, exc: BaseException) -> None:
        self.errors[op][type(exc).__name__] += 1
        self.first_error.setdefault(op, f"{type(exc).__name__}: {exc}"[:300])

    def figures(self, seconds: float) -> dict[str, dict]:
        out = {}
        for op in sorted(set(self.durations) | set(self.errors)):
            d = sorted(self.durations[op])
            out[op] = {
                "count": len(d) + sum(v for k, v in self.errors[op].items() if not k.isdigit()),
                "per_s": round(len(d) / seconds, 2),
                "p50_ms": percentile_ms(d, 0.50),
                "p95_ms": percentile_ms(d, 0.95),
                "p99_ms": percentile_ms(d, 0.99),
                "max_ms": percentile_ms(d, 1.0),
                "errors": sum(self.errors[op].values()),
                "errors_by_status": dict(self.errors[op]),
            }
            if op in self.first_error:
                out[op]["first_error"] = self.first_error[op]
        return out


class Storm:
    """The virtual users, sharing one deadline, the tokens and what was accepted."""

    def __init__(self, port: int, ready: dict[str, Any], callout_id: int, deadline: float):
        from grid_backend.core.security import issue_access_token

        self.port = port
        self.ready = ready
        self.callout_id = callout_id
        self.deadline = deadline
        self.stats = Stats()
        self._issue = issue_access_token
        self._tokens: dict[int, str] = {}
        self.accepted: dict[str, set] = defaultdict(set)  # what the server said it took
        self.report_count = itertools.count()
        self.random = random.Random(141)

    def auth(self, account_id: int, **extra: str) -> dict[str, str]:
        if account_id not in self._tokens:
            self._tokens[account_id] = self._issue(account_id)[0]
        return {"Authorization": f"Bearer {self._tokens[account_id]}", **extra}

    def live(self) -> bool:
        return time.perf_counter() < self.deadline

    async def think(self, mean: float) -> None:
        await asyncio.sleep(
            min(self.random.uniform(0, 2 * mean), max(0.0, self.deadline - time.perf_counter()))
        )

    async def call(
        self,
        conn: Connection,
        op: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, bytes] | None:
        started = time.perf_counter()
        try:
            status, data = await asyncio.wait_for(
                conn.request(method, path, headers, body), ARGS.request_timeout
            )
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            conn.close()
            self.stats.failed(op, exc)
            return None
        self.stats.record(op, time.perf_counter() - started, status, status in ok, data)
        return (status, data) if status in ok else None

    # ------------------------------------------------------------ phones

    async def ack_phone(self, recipients: list[int]) -> None:
        conn = Connection(HOST, self.port)
        path = f"/api/v1/callouts/{self.callout_id}/ack"
        while self.live() and recipients:
            account = recipients.pop()
            if await self.call(conn, "callout_ack", "POST", path, self.auth(account)):
                self.accepted["acks"].add(account)
            await self.think(ARGS.ack_think)
        conn.close()

    async def reporter(self, photos: dict[str, Variants]) -> None:
        conn = Connection(HOST, self.port)
        residents = self.ready["residents"]
        points = self.ready["points"]
        while self.live():
            n = next(self.report_count)
            if n >= ARGS.max_reports:
                return
            resident = residents[n % len(residents)]
            point = points[self.random.randrange(len(points))]
            full = ARGS.full_size_every > 0 and n % ARGS.full_size_every == 0
            started = time.perf_counter()
            photo_id = await self._upload(
                conn, photos["full" if full else "shrunk"], n, resident, point, full
            )
            if photo_id is not None:
                key = f"storm-{RUN}-report-{n:06d}"
                body = {
                    "category": "flooding",
                    "description": f"暴雨积水，道路无法通行 (storm benchmark {n})",
                    "location": {
                        "lat": point["lat"],
                        "lng": point["lng"],
                        "datum": "wgs84",
                        "accuracy_m": 12,
                        "source": "gps",
                    },
                    "photo_ids": [photo_id],
                    "reporter_safe": True,
                    "client_id": key,
                }
                answer = await self.call(
                    conn,
                    "report_submit",
                    "POST",
                    "/api/v1/reports",
                    self.auth(
                        resident, **{"Content-Type": "application/json", "Idempotency-Key": key}
                    ),
                    json.dumps(body, ensure_ascii=False).encode(),
                    ok=(200, 201),
                )
                if answer:
                    self.accepted["reports"].add(key)
                    self.accepted["attached_photos"].add(photo_id)
                    # the phone's whole report: its photo upload and the submission
                    self.stats.record("report_end_to_end", time.perf_counter() - started, 201, True)
            await self.think(ARGS.report_think)
        conn.close()

    async def _upload(
        self, conn: Connection, photo: Variants, n: int, resident: int, point: dict, full: bool
    ) -> int | None:
        boundary = f"storm{RUN}{n:06d}"
        fields = b""
        if not full:  # what the phone read from the EXIF before shrinking (photos.js)
            for name, value in (("phone_gps_lat", point["lat"]), ("phone_gps_lng", point["lng"])):
                fields += (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                    f"{value}\r\n"
                ).encode()
        body = b"".join(
            (
                fields,
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n".encode(),
                photo.photo(n),
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        headers = self.auth(
            resident,
            **{
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Idempotency-Key": f"storm-{RUN}-report-{n:06d}-photos-0",
            },
        )
        op = "photo_upload_full_size" if full else "photo_upload_shrunk"
        answer = await self.call(conn, op, "POST", "/api/v1/media", headers, body, ok=(200, 201))
        if not answer:
            return None
        photo_id = json.loads(answer[1])["id"]
        self.accepted["photos"].add((photo_id, resident))
        return photo_id

    async def patroller(self, tasks: list[dict], checkpoints: dict[int, list[dict]]) -> None:
        conn = Connection(HOST, self.port)
        while self.live() and tasks:
            task = tasks.pop()
            headers = self.auth(task["assignee"], **{"Content-Type": "application/json"})
            started = await self.call(
                conn,
                "patrol_start",
                "POST",
                f"/api/v1/tasks/{task['id']}/start",
                headers,
                json.dumps({"device_time": datetime.now(UTC).isoformat()}).encode(),
            )
            if not started:
                continue
            for point in checkpoints[task["plan"]]:
                await self.think(ARGS.patrol_think)
                key = f"storm-{RUN}-check-{task['id']}-{point['id']}"
                body = {
                    "checkpoint_id": point["id"],
                    "location": {"lat": point["lat"], "lng": point["lng"], "accuracy_m": 8},
                    "device_time": datetime.now(UTC).isoformat(),
                    "client_id": key,
                }
                if await self.call(
                    conn,
                    "patrol_check_in",
                    "POST",
                    f"/api/v1/tasks/{task['id']}/check-ins",
                    {**headers, "Idempotency-Key": key},
                    json.dumps(body).encode(),
                    ok=(200, 201),
                ):
                    self.accepted["check_ins"].add(key)
        conn.close()

    # ------------------------------------------------------------ consoles

    async def console(self, dispatcher: int) -> None:
        conn = Connection(HOST, self.port)
        headers = self.auth(dispatcher)
        for n in itertools.count():
            if not self.live():
                break
            listed = await self.call(
                conn, "console_case_list", "GET", "/api/v1/reports?limit=20&sort=newest", headers
            )
            items = json.loads(listed[1])["items"] if listed else []
            if items:
                case = items[self.random.randrange(len(items))]
                await self.call(
                    conn, "console_case_read", "GET", f"/api/v1/reports/{case['id']}", headers
                )
            if n % 3 == 0:
                await self.call(
                    conn,
                    "console_callout_board",
                    "GET",
                    f"/api/v1/callouts/{self.callout_id}/board?level=township",
                    headers,
                )
            await self.think(ARGS.console_think)
        conn.close()


class Streams:
    """Open event streams, one per account, held until `stop`; counts what arrives."""

    def __init__(self, port: int, storm_auth) -> None:
        self.port = port
        self.auth = storm_auth
        self.opened = 0
        self.failed: Counter = Counter()
        self.dropped = 0
        self.events: Counter = Counter()
        self.open_ms: list[float] = []
        self._tasks: list[asyncio.Task] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._settled = asyncio.Event()

    def _answered(self) -> None:
        if self.opened + sum(self.failed.values()) >= len(self._tasks):
            self._settled.set()

    async def _one(self, account: int) -> None:
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(HOST, self.port)
        except OSError as exc:
            self.failed[type(exc).__name__] += 1
            self._answered()
            return
        self._writers.append(writer)
        headers = "".join(f"{k}: {v}\r\n" for k, v in self.auth(account).items())
        writer.write(
            f"GET /api/v1/events HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n"
            f"{headers}\r\n".encode()
        )
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            if status != 200:
                self.failed[str(status)] += 1
                self._answered()
                return
            self.opened += 1
            self._answered()
            self.open_ms.append(time.perf_counter() - started)
            while line := await reader.readline():
                if line.startswith(b"event:"):
                    self.events[line[6:].strip().decode()] += 1
            self.dropped += 1  # the server closed it
        except (OSError, asyncio.IncompleteReadError):
            self.dropped += 1
            self._answered()

    async def open(self, accounts: list[int]) -> None:
        self._tasks = [asyncio.create_task(self._one(a)) for a in accounts]
        with contextlib.suppress(TimeoutError):  # every stream answered, or 30 s
            await asyncio.wait_for(self._settled.wait(), 30)

    async def stop(self) -> dict:
        still_open = sum(1 for t in self._tasks if not t.done())
        for w in self._writers:
            w.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return {
            "asked": len(self._tasks),
            "opened": self.opened,
            "open_p95_ms": percentile_ms(sorted(self.open_ms), 0.95),
            "failed_to_open": dict(self.failed),
            "closed_by_server_during_run": self.dropped - 0,
            "still_open_at_end": still_open,
            "events_received": dict(self.events),
        }


async def _loop_lag(samples: list[float], until: float) -> None:
    """How late this process's event loop wakes up: the load generator's own saturation."""
    while time.perf_counter() < until:
        before = time.perf_counter()
        await asyncio.sleep(0.1)
        samples.append(time.perf_counter() - before - 0.1)


# ---------------------------------------------------------------- phases


async def _warning(port: int, ready: dict[str, Any], storm_auth) -> dict:
    conn = Connection(HOST, port)
    body = {
        "level": "red",
        "type": "heavy_rain",
        "area_ids": [d["id"] for d in ready["districts"]],
        "expires_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
        "message": "暴雨红色预警：未来6小时有特大暴雨，请立即上岗值守",
    }
    started = time.perf_counter()
    status, data = await conn.request(
        "POST",
        "/api/v1/warnings",
        storm_auth(ready["commander"], **{"Content-Type": "application/json"}),
        json.dumps(body, ensure_ascii=False).encode(),
    )
    conn.close()
    if status != 201:
        raise RuntimeError(f"issuing the warning failed: {status} {data[:500]!r}")
    warning = json.loads(data)
    return {"answer_seconds": round(time.perf_counter() - started, 2), "warning": warning}


async def _work_lists(callout_id: int, warning_id: int) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(ARGS.database_url)
    try:
        recipients = [
            r["account"]
            for r in await conn.fetch(
                "SELECT account FROM callout_recipient WHERE callout = $1 ORDER BY id", callout_id
            )
        ]
        tasks = [
            dict(r)
            for r in await conn.fetch(
                "SELECT t.id, t.plan, t.assignee FROM early_warning_round w JOIN patrol_task t"
                " ON t.id = w.task WHERE w.warning = $1 AND t.assignee IS NOT NULL ORDER BY t.id",
                warning_id,
            )
        ]
        points: dict[int, list[dict]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT c.id, c.plan, c.lat, c.lng FROM patrol_checkpoint c JOIN early_warning_round w"
            " ON w.plan = c.plan WHERE w.warning = $1 ORDER BY c.plan, c.seq",
            warning_id,
        ):
            points[r["plan"]].append(dict(r))
        return {"recipients": recipients, "tasks": tasks, "checkpoints": points}
    finally:
        await conn.close()


async def _autovacuum_stand_in(result: dict) -> None:
    """With autovacuum off (as on the test machine), ANALYZE a minute after the warning, as
    autovacuum would once the fan-out's rows pass its threshold: otherwise the plans keep
    the statistics from before 48,000 recipients existed for the whole run."""
    import asyncpg

    conn = await asyncpg.connect(ARGS.database_url)
    try:
        if await conn.fetchval("SHOW autovacuum") == "on":
            return
        await asyncio.sleep(60)
        await conn.execute("ANALYZE")
        result["analyze_60s_after_warning"] = "autovacuum is off here: ran ANALYZE in its place"
    finally:
        await conn.close()


async def _drain(limit: float) -> dict:
    """Wait until the outbox has nothing left to send (or `limit` seconds)."""
    import asyncpg

    conn = await asyncpg.connect(ARGS.database_url)
    started = time.perf_counter()
    try:
        while True:
            left = await conn.fetchval(
                "SELECT COUNT(*) FROM notification WHERE channel IN ('push', 'sms')"
                " AND status = 'pending'"
            )
            if not left or time.perf_counter() - started > limit:
                return {"seconds": round(time.perf_counter() - started, 1), "pending_left": left}
            await asyncio.sleep(1.0)
    finally:
        await conn.close()


def _sink_json(sink_url: str, path: str) -> Any:
    with urllib.request.urlopen(sink_url + path, timeout=60) as r:
        return json.loads(r.read())


def _exactly_once(accepted: set[str], rows: list[Any], key: str) -> dict[str, int]:
    """Accepted client keys against the rows stored under them (key, count n)."""
    stored = {r[key]: r["n"] for r in rows}
    return {
        "accepted": len(accepted),
        "in_database": len(stored),
        "lost": len(accepted - stored.keys()),
        "duplicated": sum(1 for n in stored.values() if n > 1),
        "stored_but_not_acknowledged": len(stored.keys() - accepted),
    }


async def _reconcile(port: int, storm: Storm, sink_url: str, callout_id: int) -> dict:
    import asyncpg

    conn = await asyncpg.connect(ARGS.database_url)
    try:
        out: dict[str, Any] = {}
        # reports: every accepted key exactly once
        rows = await conn.fetch(
            "SELECT client_key, COUNT(*) AS n FROM hazard_report WHERE client_key LIKE $1"
            " GROUP BY client_key",
            f"storm-{RUN}-report-%",
        )
        out["reports"] = _exactly_once(storm.accepted["reports"], rows, "client_key")
        acked = {
            r["account"]
            for r in await conn.fetch(
                "SELECT account FROM callout_recipient WHERE callout = $1 AND acked_at IS NOT NULL",
                callout_id,
            )
        }
        out["acks"] = {
            "accepted": len(storm.accepted["acks"]),
            "in_database": len(acked),
            "lost": len(storm.accepted["acks"] - acked),
            "stored_but_not_acknowledged": len(acked - storm.accepted["acks"]),
        }
        rows = await conn.fetch(
            "SELECT client_id, COUNT(*) AS n FROM patrol_check_in WHERE client_id LIKE $1"
            " GROUP BY client_id",
            f"storm-{RUN}-check-%",
        )
        out["check_ins"] = _exactly_once(storm.accepted["check_ins"], rows, "client_id")
        notes = await conn.fetch(
            "SELECT id, kind, channel, status, extract(epoch FROM created_at) AS created"
            " FROM notification WHERE channel IN ('push', 'sms')"
        )
        out["photos"] = await _photos_readable(port, storm, conn)
    finally:
        await conn.close()
    seen = {int(k): v for k, v in _sink_json(sink_url, "/ids").items() if k}
    stats = _sink_json(sink_url, "/stats")
    sent = {r["id"] for r in notes if r["status"] == "sent"}
    lags = sorted(seen[r["id"]] - float(r["created"]) for r in notes if r["id"] in seen)
    callout_lags = sorted(
        seen[r["id"]] - float(r["created"])
        for r in notes
        if r["id"] in seen and r["kind"] == "callout"
    )
    out["notifications"] = {
        "outbox_push_and_sms": len(notes),
        "by_status": dict(Counter(f"{r['channel']}:{r['status']}" for r in notes)),
        "delivered_to_sink": len(seen),
        "lost": len(sent - seen.keys()),  # recorded as sent, never arrived
        "not_delivered": len({r["id"] for r in notes} - seen.keys()),
        "duplicates_at_sink": stats["duplicates"],
        "unknown_at_sink": len(seen.keys() - {r["id"] for r in notes}),
        "bad_signatures": stats["bad_signatures"],
    }
    arrivals = sorted(seen.values())
    out["delivery_lag_s"] = {
        "all": {
            "min": _s(lags, 0.0),
            "p50": _s(lags, 0.5),
            "p95": _s(lags, 0.95),
            "max": _s(lags, 1.0),
        },
        # the sink's arrivals from first to last: the delivery's own pace
        "arrivals_per_s": round(len(arrivals) / max(arrivals[-1] - arrivals[0], 1e-9))
        if len(arrivals) > 1
        else None,
        "callout": {
            "p50": _s(callout_lags, 0.5),
            "p95": _s(callout_lags, 0.95),
            "max": _s(callout_lags, 1.0),
            "count": len(callout_lags),
        },
    }
    return out


def _s(ordered: list[float], p: float) -> float | None:
    value = percentile_ms(ordered, p)
    return None if value is None else round(value / 1000, 2)


async def _photos_readable(port: int, storm: Storm, conn) -> dict:
    """Every photo row of the run, each variant read back through the API by its uploader."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (p.id) p.id, u.account FROM photo p JOIN photo_upload u ON u.photo = p.id"
        " ORDER BY p.id"
    )
    missing: Counter = Counter()
    attached = storm.accepted["attached_photos"]
    pool = [Connection(HOST, port) for _ in range(8)]

    async def check(c: Connection, batch: list) -> None:
        for r in batch:
            for variant in ("original", "display", "thumbnail"):
                if variant == "original" and r["id"] not in attached:
                    continue  # originals only to staff, through a case the photo is in
                # display copies to the uploader, originals to the city's commander
                reader = storm.ready["commander"] if variant == "original" else r["account"]
                try:
                    status, _ = await c.request(
                        "GET", f"/api/v1/media/{r['id']}/{variant}", storm.auth(reader)
                    )
                except (OSError, asyncio.IncompleteReadError) as exc:
                    c.close()
                    status = type(exc).__name__
                if status != 200:
                    missing[f"{variant}:{status}"] += 1

    await asyncio.gather(*(check(c, rows[i :: len(pool)]) for i, c in enumerate(pool)))
    for c in pool:
        c.close()
    accepted = {p for p, _ in storm.accepted["photos"]}
    return {
        "photo_rows": len(rows),
        "accepted_uploads": len(accepted),
        "accepted_without_row": len(accepted - {r["id"] for r in rows}),
        "variants_not_readable": dict(missing),
        "store": os.environ.get("GRID_MEDIA_STORE", "local"),
    }


async def _storm(
    port: int, ready: dict[str, Any], procs: ProcStats, sink: tuple[str, int], photos
) -> dict:
    from _http import load

    from grid_backend.core.security import issue_access_token

    result: dict[str, Any] = {}
    if ARGS.bare_seconds > 0:
        result["bare_healthz"] = await load(
            HOST, port, lambda n: "/healthz", seconds=ARGS.bare_seconds
        )
    procs.start()
    tokens: dict[int, str] = {}

    def auth(account: int, **extra: str) -> dict[str, str]:
        if account not in tokens:
            tokens[account] = issue_access_token(account)[0]
        return {"Authorization": f"Bearer {tokens[account]}", **extra}

    streams = Streams(port, auth)
    log(f"opening {ARGS.streams} event streams…")
    await streams.open(ready["staff"][: ARGS.streams])
    cpu0 = procs.cpu_seconds()
    log("issuing the red warning…")
    warning = await _warning(port, ready, auth)
    w = warning.pop("warning")
    callout_id = w["callout_ids"][0]
    lists = await _work_lists(callout_id, w["id"])
    result["warning"] = {
        **warning,
        "districts": len(w["areas"]),
        "recipients": len(lists["recipients"]),
        "extra_patrol_tasks": w["extra_tasks"],
    }
    cpu_warning = procs.cpu_seconds()
    recipients = lists["recipients"][:]
    random.Random(7).shuffle(recipients)
    started = time.perf_counter()
    storm = Storm(port, ready, callout_id, started + ARGS.duration)
    storm._tokens = tokens
    lag: list[float] = []
    me0 = time.process_time()
    machine0 = procs.machine_busy_seconds()
    sink_cpu = ProcStats([sink[1]])
    sink0 = sum(sink_cpu.cpu_seconds().values())
    log(f"{ARGS.duration:.0f} s of traffic…")
    analyze = asyncio.create_task(_autovacuum_stand_in(result))
    await asyncio.gather(
        _loop_lag(lag, storm.deadline),
        *(storm.ack_phone(recipients) for _ in range(ARGS.ack_phones)),
        *(storm.reporter(photos) for _ in range(ARGS.reporters)),
        *(storm.patroller(lists["tasks"], lists["checkpoints"]) for _ in range(ARGS.patrollers)),
        *(
            storm.console(ready["dispatchers"][i % len(ready["dispatchers"])])
            for i in range(ARGS.consoles)
        ),
    )
    elapsed = time.perf_counter() - started
    analyze.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await analyze
    client_cpu = time.process_time() - me0
    cpu_end = procs.cpu_seconds()
    machine = procs.machine_busy_seconds() - machine0
    server_cpu = sum(cpu_end.values()) - sum(cpu_warning.values())
    sink_seconds = sum(sink_cpu.cpu_seconds().values()) - sink0
    result["machine_cpu_during_traffic"] = {
        "available_core_seconds": round(elapsed * (os.cpu_count() or 1), 1),
        "busy_core_seconds": round(machine, 1),
        "server": round(server_cpu, 1),
        "load_generator": round(client_cpu, 1),
        "webhook_sink": round(sink_seconds, 1),
        # PostgreSQL, Redis and the other helpers' work on the shared machine
        "everything_else": round(machine - server_cpu - client_cpu - sink_seconds, 1),
    }
    result["traffic_seconds"] = round(elapsed, 1)
    result["operations"] = storm.stats.figures(elapsed)
    result["answers_over_1s_by_start_second"] = dict(sorted(storm.stats.slow.items()))
    result["sse"] = await streams.stop()
    log("draining the outbox…")
    result["drain"] = await _drain(ARGS.drain_seconds)
    procs.stop()
    rss = procs.rss()
    lag.sort()
    result["server"] = {
        "processes": rss["processes"],
        "cpu_seconds_warning": round(sum(cpu_warning.values()) - sum(cpu0.values()), 1),
        "cpu_seconds_traffic": round(sum(cpu_end.values()) - sum(cpu_warning.values()), 1),
        "cpu_cores_busy_during_traffic": round(
            (sum(cpu_end.values()) - sum(cpu_warning.values())) / elapsed, 2
        ),
        "cpu_seconds_per_process_traffic": sorted(
            round(cpu_end[p] - cpu_warning.get(p, 0.0), 1) for p in cpu_end
        ),
        "cpu_ms_per_request_traffic": round(
            server_cpu * 1000 / max(sum(len(d) for d in storm.stats.durations.values()), 1), 1
        ),
        "rss_mb_now": round(rss["sum_rss"] / 2**20, 1),
        "rss_mb_peak_sampled_sum": round(procs.peak_sum_rss / 2**20, 1),
        "rss_mb_sum_of_each_peak": round(rss["sum_peak_rss"] / 2**20, 1),
    }
    result["load_generator"] = {
        "cpu_seconds": round(client_cpu, 1),
        "cpu_share_of_one_core": round(client_cpu / elapsed, 2),
        "event_loop_lag_ms": {
            "p50": percentile_ms(lag, 0.5),
            "p99": percentile_ms(lag, 0.99),
            "max": percentile_ms(lag, 1.0),
        },
    }
    log("reconciling…")
    result["reconcile"] = await _reconcile(port, storm, sink[0], callout_id)
    return result


def _targets(result: dict) -> dict:
    ops = result["operations"]
    kinds = {
        "callout_ack": "ack",
        "console_case_list": "read",
        "console_case_read": "read",
        "console_callout_board": "read",
        "patrol_start": "ack",
        "patrol_check_in": "ack",
        "report_end_to_end": "report",
        "report_submit": "report",
        "photo_upload_shrunk": "report",
        "photo_upload_full_size": "report",
    }
    out: dict[str, Any] = {}
    for op, kind in kinds.items():
        if op in ops:
            p95 = ops[op]["p95_ms"]
            out[f"{op} p95 <= {TARGETS_MS[kind]} ms"] = {
                "value": p95,
                "met": p95 is not None and p95 <= TARGETS_MS[kind],
            }
    errors = sum(o["errors"] for o in ops.values()) + sum(result["sse"]["failed_to_open"].values())
    out["0 errors"] = {"value": errors, "met": errors == 0}
    rec = result["reconcile"]
    lost = (
        rec["reports"]["lost"]
        + rec["reports"]["duplicated"]
        + rec["acks"]["lost"]
        + rec["check_ins"]["lost"]
        + rec["check_ins"]["duplicated"]
        + rec["notifications"]["not_delivered"]
        + rec["notifications"]["duplicates_at_sink"]
        + rec["photos"]["accepted_without_row"]
        + sum(rec["photos"]["variants_not_readable"].values())
    )
    out["0 lost (or duplicated)"] = {"value": lost, "met": lost == 0}
    lag = rec["delivery_lag_s"]["all"]["p95"]
    out[f"delivery lag p95 <= {LAG_TARGET_S:.0f} s"] = {
        "value": lag,
        "met": lag is not None and lag <= LAG_TARGET_S,
    }
    out["all met"] = all(v["met"] for v in out.values())
    return out


def main() -> None:
    if not ARGS.database_url.startswith("postgresql"):
        sys.exit("this benchmark runs on PostgreSQL")
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_1m_at_start": os.getloadavg()[0]},
        "database": "postgres",
        "media_store": os.environ.get("GRID_MEDIA_STORE", "local"),
        "duration_asked_seconds": ARGS.duration,
        "virtual_users": {
            "sse_streams": ARGS.streams,
            "ack_phones": ARGS.ack_phones,
            "reporters": ARGS.reporters,
            "patrollers": ARGS.patrollers,
            "consoles": ARGS.consoles,
            "think_seconds_mean": {
                "ack": ARGS.ack_think,
                "report": ARGS.report_think,
                "patrol": ARGS.patrol_think,
                "console": ARGS.console_think,
            },
            "full_size_photo_every": ARGS.full_size_every,
        },
    }
    processes: list[subprocess.Popen] = []
    try:
        ensure_database(ARGS.database_url, fresh=not ARGS.keep_database)
        log("seeding…")
        ready = asyncio.run(_prepare(result))
        log("making the photos…")
        original = big_photo(
            WORK / "IMG_4000x3000.jpg", gps=(ready["points"][0]["lat"], ready["points"][0]["lng"])
        )
        shrunk = shrink_like_phone(original, WORK / "shrunk.jpg")
        photos = {
            "full": Variants(original, "image/jpeg", ARGS.max_reports, RUN),
            "shrunk": Variants(shrunk, "image/jpeg", ARGS.max_reports, RUN),
        }
        result["photos"] = {
            "full_size_bytes": original.stat().st_size,
            "shrunk_bytes": shrunk.stat().st_size,
            "shrunk_px": "2048x1536",
        }
        sink = subprocess.Popen(
            [sys.executable, "-c", _sink_code(), SECRET], stdout=subprocess.PIPE, text=True
        )
        processes.append(sink)
        sink_url = f"http://{HOST}:{int(sink.stdout.readline())}"
        port = free_port()
        env = _server_env(sink_url)
        cli = [sys.executable, "-m", "grid_backend.cli"]
        app = subprocess.Popen(
            [*cli, "serve", "--workers", "2", "--port", str(port)],
            env={**env, "GRID_SCHEDULER": "false"},
            stdout=subprocess.DEVNULL,
            stderr=sys.stderr,
        )
        processes.append(app)
        scheduler = subprocess.Popen(
            [*cli, "scheduler"], env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr
        )
        processes.append(scheduler)
        _wait_ready(port, processes)
        procs = ProcStats([app.pid, scheduler.pid])
        result.update(asyncio.run(_storm(port, ready, procs, (sink_url, sink.pid), photos)))
        result["targets"] = _targets(result)
        result["machine"]["loadavg_1m_at_end"] = os.getloadavg()[0]
    finally:
        for p in reversed(processes):
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(WORK, ignore_errors=True)
        if not ARGS.keep_database:
            with contextlib.suppress(Exception):
                _drop_database()
    print(json.dumps(result, indent=2, ensure_ascii=False))


def _sink_code() -> str:
    """The sink of benchmarks/notify.py: checks each signature, records each id's arrival."""
    text = (ROOT / "benchmarks" / "notify.py").read_text()
    return text.split('SINK = r"""', 1)[1].split('"""', 1)[0]


def _drop_database() -> None:
    import asyncpg

    async def drop() -> None:
        name = ARGS.database_url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(ARGS.database_url.rsplit("/", 1)[0] + "/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


if __name__ == "__main__":
    main()
