"""Webhook delivery benchmark: 5,000 case events for one subscriber delivered by the outbox's job to
a local sink on 127.0.0.1, against the same number of push notifications through the same job
and sink, on PostgreSQL. Prints JSON. Under a minute with the defaults.

    python benchmarks/webhooks.py
    python benchmarks/webhooks.py --count 20000  # a multiple of 1,000 (the push recipients)

Also measured: what an event costs the transaction that writes it (`emit`, one INSERT ...
SELECT) with no subscriber and with one. The sink runs in its own process, checks every
signature (push: the gateway secret; webhooks: the subscriber's) and counts each id."""

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
import asyncio, hashlib, hmac, json, sys
secret = sys.argv[1].encode()
stats = {"hits": 0, "bad_signatures": 0, "duplicates": 0}
ids = set()

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
            elif head.startswith(b"POST /reset"):
                ids.clear()
                stats.update(hits=0, bad_signatures=0, duplicates=0)
                text = b"{}"
            else:
                stats["hits"] += 1
                mac = hmac.new(secret, headers.get(b"x-grid-timestamp", b"") + b"." + body,
                               hashlib.sha256).hexdigest().encode()
                if not hmac.compare_digest(headers.get(b"x-grid-signature", b""), b"sha256=" + mac):
                    stats["bad_signatures"] += 1
                key = headers.get(b"x-grid-event-id") or headers.get(b"x-grid-notification-id")
                if key in ids:
                    stats["duplicates"] += 1
                ids.add(key)
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
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/grid_bench_webhooks"
    )
    p.add_argument("--count", type=int, default=5_000, help="events, and push notifications")
    p.add_argument("--concurrency", type=int, default=50, help="GRID_NOTIFY_CONCURRENCY")
    return p.parse_args()


ARGS = _parse()
WORK = Path(tempfile.mkdtemp(prefix="grid-bench-webhooks-"))
os.environ.update(
    {
        "GRID_DATABASE_URL": ARGS.database_url,
        "GRID_DATA_DIR": str(WORK),
        "GRID_SECRET_KEY": "bench-" + "x" * 40,
        "GRID_SCHEDULER": "false",
        "GRID_LOG_LEVEL": "WARNING",
        "GRID_PUSH_WEBHOOK_SECRET": SECRET,
        "GRID_NOTIFY_CONCURRENCY": str(ARGS.concurrency),
        "GRID_WEBHOOK_ALLOW_PRIVATE": "true",  # the sink is on 127.0.0.1
        "PICCOLO_CONF": "grid_backend.piccolo_conf",
    }
)


async def _sink(base: str, path: str, method: str = "GET") -> dict:
    import httpx

    async with httpx.AsyncClient() as client:
        return (await client.request(method, base + path)).json()


async def _emit_cost(n: int) -> float:
    """Milliseconds per `emit` in its own write transaction (as a change's transaction has)."""
    from grid_backend.core.db import write_transaction
    from grid_backend.notify.services import webhooks

    started = time.perf_counter()
    for i in range(n):
        async with write_transaction():
            await webhooks.emit(
                kind="case.created",
                key=f"bench:cost:{time.time_ns()}:{i}",
                data={"case": {"id": i, "status": "submitted"}},
            )
    return round((time.perf_counter() - started) / n * 1000, 3)


async def _deliver(base: str, channel: str) -> dict:
    from grid_backend.core import clock
    from grid_backend.notify import channels, jobs
    from grid_backend.notify.tables import Notification

    await _sink(base, "/reset", "POST")
    started, cpu_started = time.perf_counter(), time.process_time()
    totals = await jobs.deliver(clock.now())
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await channels.close_client()
    stats = await _sink(base, "/stats")
    sent = (
        await Notification.count()
        .where((Notification.channel == channel) & (Notification.status == "sent"))
        .run()
    )
    return {
        "seconds": round(elapsed, 2),
        "delivered": totals["sent"],
        "deliveries_per_s": round(totals["sent"] / elapsed),
        "failures": totals["retried"] + totals["dead"],
        "cpu_ms_per_delivery": round(cpu / max(totals["sent"], 1) * 1000, 3),
        "sent_rows": sent,
        "sink_unique": stats["unique"],
        "sink_duplicates": stats["duplicates"],
        "sink_bad_signatures": stats["bad_signatures"],
    }


async def _run(base: str) -> dict:
    from grid_backend.core.db import engine
    from grid_backend.migrate import migrate
    from grid_backend.notify import services
    from grid_backend.notify.tables import WebhookSubscriber
    from grid_backend.people.tables import Account

    result: dict = {
        "engine": "postgres",
        "count": ARGS.count,
        "concurrency": ARGS.concurrency,
        "load_average_before": os.getloadavg()[0],
    }
    with contextlib.redirect_stdout(sys.stderr):
        await migrate()
    db = engine()
    await db.start_connection_pool(min_size=2, max_size=10)
    try:
        await db.run_ddl(
            "TRUNCATE delivery_attempt, notification, notification_preference,"
            " webhook_subscriber, account RESTART IDENTITY CASCADE"
        )
        accounts = [
            Account(phone=f"199{i:08d}", name=f"bench {i}", password_hash="!") for i in range(1000)
        ]
        await Account.insert(*accounts).run()
        ids = [r["id"] for r in await Account.select(Account.id).run()]
        result["emit_ms_no_subscriber"] = await _emit_cost(300)

        await WebhookSubscriber.insert(
            WebhookSubscriber(
                name="bench",
                url=f"{base}/hook",
                secret=SECRET,
                kinds=",case.created,",
                created_by=ids[0],
            )
        ).run()
        result["emit_ms_one_subscriber"] = await _emit_cost(300)
        await db.run_ddl("DELETE FROM notification")

        # the events to deliver: rows as emit writes them, made in one statement (emit's own
        # cost per event is measured above)
        await db.run_ddl(
            "INSERT INTO notification (recipient, kind, channel, payload, urgent, dedupe_key,"
            " status, due_at, created_at, attempts, last_error, webhook)"
            " SELECT s.created_by, 'case.created', 'webhook', jsonb_build_object('id',"
            " gen_random_uuid()::text, 'kind', 'case.created', 'occurred_at', now()::text,"
            " 'data', jsonb_build_object('case', jsonb_build_object('id', g, 'status',"
            " 'submitted', 'category', 'gas'))), false, 'webhook:' || s.id || ':bench:' || g,"
            f" 'pending', now(), now(), 0, '', s.id FROM webhook_subscriber s,"
            f" generate_series(1, {int(ARGS.count)}) g"
        )
        result["webhook"] = await _deliver(base, "webhook")

        for event in range(ARGS.count // len(ids)):
            await services.enqueue_many(
                recipient_ids=ids,
                kind="callout",
                payload={"text_zh": f"第{event}次叫应测试", "text_en": f"Test callout {event}."},
                dedupe_key=f"bench:callout:{event}",
                channels=["push"],
            )
        result["push"] = await _deliver(base, "push")
        result["webhook_to_push"] = round(
            result["webhook"]["deliveries_per_s"] / max(result["push"]["deliveries_per_s"], 1), 2
        )
        result["load_average_after"] = os.getloadavg()[0]
    finally:
        await db.close_connection_pool()
    return result


def main() -> None:
    if not ARGS.database_url.startswith("postgresql"):
        sys.exit("this benchmark runs on PostgreSQL")
    ensure_database(ARGS.database_url)
    sink = subprocess.Popen([sys.executable, "-c", SINK, SECRET], stdout=subprocess.PIPE, text=True)
    port = int(sink.stdout.readline())
    base = f"http://127.0.0.1:{port}"
    os.environ["GRID_PUSH_WEBHOOK_URL"] = f"{base}/push"
    try:
        result = asyncio.run(_run(base))
    finally:
        sink.terminate()
        sink.wait()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
