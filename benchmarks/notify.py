"""Notification delivery benchmark: 20,000 due push notifications delivered through
`deliver_due` and the real push channel (signed webhook POSTs through httpcore, the engine
under httpx) to a local sink on 127.0.0.1, on PostgreSQL. Prints JSON.

    python benchmarks/notify.py
    python benchmarks/notify.py --count 50000 --processes 3

The sink runs in its own process, checks every signature and counts each notification id.
The database (grid_bench_notify by default) is created and migrated if missing; its notify
tables and accounts are emptied on each run. Accounts are inserted directly (no password
hashing); the notifications are written by `enqueue_many`, as a callout to many people is.

Phases: the sink alone through the channel's sender (the ceiling of the push channel here);
the `notify.deliver` job's work in this process (what one server does per tick); then the same
rows made due again and delivered by `--processes` worker processes side by side (replicas
sharing the outbox through SKIP LOCKED), with the sink checking that no id arrives twice."""

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _setup import ensure_database  # noqa: E402 - the benchmarks folder

SECRET = "bench-secret-0123456789abcdef"

SINK = r"""
import asyncio, hashlib, hmac, json, sys, time
secret = sys.argv[1].encode()
ids, stats = set(), {"hits": 0, "bad_signatures": 0, "duplicates": 0}
first_seen = {}  # id -> wall-clock time of its first arrival (benchmarks/storm.py's lag)

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            if head.startswith(b"GET /stats"):
                text = json.dumps({**stats, "unique": len(ids)}).encode()
            elif head.startswith(b"GET /ids"):
                text = json.dumps(first_seen).encode()
            elif head.startswith(b"POST /reset"):
                ids.clear()
                first_seen.clear()
                stats.update(hits=0, bad_signatures=0, duplicates=0)
                text = b"{}"
            else:
                stats["hits"] += 1
                mac = hmac.new(secret, headers.get(b"x-grid-timestamp", b"") + b"." + body,
                               hashlib.sha256).hexdigest().encode()
                if not hmac.compare_digest(headers.get(b"x-grid-signature", b""), b"sha256=" + mac):
                    stats["bad_signatures"] += 1
                nid = headers.get(b"x-grid-notification-id")
                if nid in ids:
                    stats["duplicates"] += 1
                else:
                    first_seen[(nid or b"").decode()] = time.time()
                ids.add(nid)
                text = b"{}"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench_notify"
    )
    p.add_argument("--count", type=int, default=20_000, help="push notifications to deliver")
    p.add_argument("--accounts", type=int, default=2_000, help="recipients (count/accounts each)")
    p.add_argument("--concurrency", type=int, default=50, help="GRID_NOTIFY_CONCURRENCY")
    p.add_argument("--batch", type=int, default=500, help="deliver_due limit per run")
    p.add_argument(
        "--runners", type=int, default=2, help="concurrent deliver_due loops (the job runs 2)"
    )
    p.add_argument("--profile", default=None, help="write a cProfile of the delivery here")
    p.add_argument("--processes", type=int, default=2, help="worker processes, second phase")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sink-only", type=int, default=5_000, help="requests for the ceiling")
    return p.parse_args()


ARGS = _parse()
WORK = Path(tempfile.mkdtemp(prefix="grid-bench-notify-"))
os.environ.update(
    {
        "GRID_DATABASE_URL": ARGS.database_url,
        "GRID_DATA_DIR": str(WORK),
        "GRID_SECRET_KEY": "bench-" + "x" * 40,
        "GRID_SCHEDULER": "false",
        "GRID_LOG_LEVEL": "WARNING",
        "GRID_PUSH_WEBHOOK_SECRET": SECRET,
        "GRID_NOTIFY_CONCURRENCY": str(ARGS.concurrency),
        "PICCOLO_CONF": "grid_backend.piccolo_conf",
    }
)


def _start_sink() -> tuple[subprocess.Popen, int]:
    sink = subprocess.Popen([sys.executable, "-c", SINK, SECRET], stdout=subprocess.PIPE, text=True)
    port = int(sink.stdout.readline())
    return sink, port


async def _sink_only(url: str, requests: int) -> dict:
    """The channel's sender posting signed bodies, no database: the ceiling of the push
    channel on this machine."""
    from grid_backend.notify import channels

    sender = channels.get_sender()

    async def one(i: int) -> bool:
        body = json.dumps({"id": -i}).encode()
        async with sender.gate:
            status, _ = await sender.post(url, body, channels.signed_headers(body, -i, SECRET))
        return status == 200

    started, cpu_started = time.perf_counter(), time.process_time()
    ok = await asyncio.gather(*(one(i) for i in range(1, requests + 1)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "requests": requests,
        "per_s": round(requests / elapsed),
        "failures": ok.count(False),
        "cpu_ms_per_request": round(cpu / requests * 1000, 3),  # this process, not the sink
    }


async def _deliver_here() -> dict:
    """The notify.deliver job's work in this process, timed by step and CPU."""
    from grid_backend.core import clock
    from grid_backend.notify import channels, jobs
    from grid_backend.notify.services import delivery

    spent = {"claim": 0.0, "send": 0.0, "record": 0.0}

    def timed(step: str, fn):
        async def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                spent[step] += time.perf_counter() - began

        return wrapper

    # deliver_due calls its three steps through its module, so wrapping them there times them
    delivery.claim_due = timed("claim", delivery.claim_due)
    delivery.send_all = timed("send", delivery.send_all)
    delivery.record = timed("record", delivery.record)
    jobs.BATCH, jobs.RUNNERS = ARGS.batch, ARGS.runners
    profiler = None
    if ARGS.profile and not ARGS.worker:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    totals = await jobs.deliver(clock.now())
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(ARGS.profile)
    await channels.close_client()
    return {
        "seconds": round(elapsed, 2),
        "delivered": totals["sent"],
        "deliveries_per_s": round(totals["sent"] / elapsed),
        "failures": totals["retried"] + totals["dead"],
        "batches": totals["batches"],
        "cpu_ms_per_delivery": round(cpu / max(totals["sent"], 1) * 1000, 3),
        "cpu_share": round(cpu / elapsed, 2),  # 1.0: the process's one thread was always busy
        # summed over the job's runners, which overlap
        "busy_seconds": {step: round(value, 2) for step, value in spent.items()},
    }


async def _worker() -> None:
    """One delivery process of the second phase: ready, wait for the word, deliver, report."""
    from grid_backend.core.db import engine

    db = engine()
    await db.start_connection_pool(min_size=2, max_size=4)
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        print(json.dumps(await _deliver_here()), flush=True)
    finally:
        await db.close_connection_pool()


async def _sink(sink_url: str, path: str, method: str = "GET") -> dict:
    import httpx

    async with httpx.AsyncClient() as client:
        return (await client.request(method, sink_url.rsplit("/", 1)[0] + path)).json()


async def _outcome(sink_url: str, delivered: int) -> dict:
    from grid_backend.notify.tables import DeliveryAttempt, Notification

    stats = await _sink(sink_url, "/stats")
    return {
        "sent_rows": await Notification.count()
        .where((Notification.channel == "push") & (Notification.status == "sent"))
        .run(),
        "attempts": await DeliveryAttempt.count().run(),
        "sink_unique_ids": stats["unique"],
        "sink_duplicates": stats["duplicates"],
        "sink_bad_signatures": stats["bad_signatures"],
        "all_delivered_once": stats["unique"] == delivered == ARGS.count
        and stats["duplicates"] == 0,
    }


async def _processes(sink_url: str) -> dict:
    """Deliver the same rows again with several processes side by side."""
    from grid_backend.core.db import engine

    await engine().run_ddl(
        "UPDATE notification SET status = 'pending', sent_at = NULL, attempts = 0,"
        " claimed_until = NULL, claim_token = NULL WHERE channel = 'push'"
    )
    await engine().run_ddl("TRUNCATE delivery_attempt")
    await _sink(sink_url, "/reset", "POST")
    argv = [sys.executable, __file__, "--worker", *sys.argv[1:]]
    workers = [
        await asyncio.create_subprocess_exec(*argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in range(ARGS.processes)
    ]
    for w in workers:
        assert (await w.stdout.readline()).strip() == b"ready"
    started = time.perf_counter()
    for w in workers:
        w.stdin.write(b"go\n")
        await w.stdin.drain()
    reports = [json.loads(await w.stdout.readline()) for w in workers]
    elapsed = time.perf_counter() - started
    for w in workers:
        await w.wait()
    delivered = sum(r["delivered"] for r in reports)
    return {
        "processes": ARGS.processes,
        "seconds": round(elapsed, 2),
        "delivered": delivered,
        "deliveries_per_s": round(delivered / elapsed),
        "failures": sum(r["failures"] for r in reports),
        "per_process": [r["delivered"] for r in reports],
        "cpu_ms_per_delivery": [r["cpu_ms_per_delivery"] for r in reports],
        **await _outcome(sink_url, delivered),
    }


async def _run(sink_url: str) -> dict:
    from grid_backend.core.db import engine
    from grid_backend.migrate import migrate
    from grid_backend.notify import services
    from grid_backend.notify.tables import Notification
    from grid_backend.people.tables import Account

    result: dict = {
        "engine": "postgres",
        "notifications": ARGS.count,
        "accounts": ARGS.accounts,
        "concurrency": ARGS.concurrency,
        "batch": ARGS.batch,
        "runners_per_process": ARGS.runners,
        "load_average_before": os.getloadavg()[0],
    }
    with contextlib.redirect_stdout(sys.stderr):
        await migrate()
    db = engine()
    await db.start_connection_pool(min_size=2, max_size=10)
    try:
        await db.run_ddl(
            "TRUNCATE delivery_attempt, notification, notification_preference, account"
            " RESTART IDENTITY CASCADE"
        )
        accounts = [
            Account(phone=f"199{i:08d}", name=f"bench {i}", password_hash="!")
            for i in range(ARGS.accounts)
        ]
        for start in range(0, len(accounts), 1000):
            await Account.insert(*accounts[start : start + 1000]).run()
        ids = [r["id"] for r in await Account.select(Account.id).run()]

        started = time.perf_counter()
        for event in range(ARGS.count // ARGS.accounts):
            await services.enqueue_many(
                recipient_ids=ids,
                kind="callout",
                payload={"text_zh": f"第{event}次叫应测试", "text_en": f"Test callout {event}."},
                dedupe_key=f"bench:callout:{event}",
                channels=["push"],
            )
        created = time.perf_counter() - started
        push = await Notification.count().where(Notification.channel == "push").run()
        result["creation"] = {
            "seconds": round(created, 2),
            "push_rows": push,
            "rows_per_s": round(2 * push / created),  # an inbox row and a push row each
        }
        sample = 300  # one enqueue per call: what a single event pays in its transaction
        started = time.perf_counter()
        for i in range(sample):
            await services.enqueue(
                recipient_id=ids[i % len(ids)],
                kind="case.assigned",
                payload={"case_id": i},
                dedupe_key=f"bench:single:{i}",
                channels=["inbox"],
            )
        result["single_enqueue_ms"] = round((time.perf_counter() - started) / sample * 1000, 2)

        result["sink_only"] = await _sink_only(sink_url, ARGS.sink_only)
        await _sink(sink_url, "/reset", "POST")
        result["one_process"] = await _deliver_here()
        result["one_process"].update(await _outcome(sink_url, result["one_process"]["delivered"]))
        if ARGS.processes > 1:
            result["several_processes"] = await _processes(sink_url)
        best = max(
            result["one_process"]["deliveries_per_s"],
            result.get("several_processes", {}).get("deliveries_per_s", 0),
        )
        result["target_per_s"] = 1000
        result["meets_target"] = best >= 1000
        result["load_average_after"] = os.getloadavg()[0]
    finally:
        await db.close_connection_pool()
    return result


def main() -> None:
    if ARGS.worker:
        asyncio.run(_worker())
        return
    if not ARGS.database_url.startswith("postgresql"):
        sys.exit("this benchmark runs on PostgreSQL")
    ensure_database(ARGS.database_url)
    sink, port = _start_sink()
    sink_url = f"http://127.0.0.1:{port}/push"
    os.environ["GRID_PUSH_WEBHOOK_URL"] = sink_url
    try:
        result = asyncio.run(_run(sink_url))
    finally:
        sink.terminate()
        sink.wait()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
