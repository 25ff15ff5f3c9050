"""/metrics: off without GRID_METRICS_TOKEN, the token's alone with it, and figures an operator
can act on (requests by route template, the outbox backlog, job leases, the photo queue), added
up over `serve --workers N` on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from factories import REDIS_URL, make_person, upload_photo
from prometheus_client.parser import text_string_to_metric_families

from grid_backend.app import create_app
from grid_backend.core import clock
from grid_backend.media import services as media
from grid_backend.notify import services as notify
from grid_backend.scheduler import claim, find, run_job
from grid_backend.settings import get_settings

TOKEN = "scrape-token-0123456789abcdef"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[1]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def metered_app():
    return create_app(dataclasses.replace(get_settings(), metrics_token=TOKEN), open_pool=False)


@pytest.fixture
async def metered(db, metered_app):
    transport = httpx.ASGITransport(app=metered_app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels (the parser rejects a malformed one)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics", headers=SCRAPER)
    assert r.status_code == 200, r.text
    return parse(r.text)


async def test_without_a_token_there_is_no_metrics_endpoint(client):
    r = await client.get("/metrics", headers=SCRAPER)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789abc", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
)
async def test_only_the_scrapers_token_opens_metrics(metered, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    r = await metered.get("/metrics", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    assert "grid_http" not in r.text


async def test_metrics_are_prometheus_text_and_not_in_the_api_schema(metered):
    r = await metered.get("/metrics", headers=SCRAPER)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f.type for f in text_string_to_metric_families(r.text)}
    assert families["grid_http_requests"] == "counter"
    assert families["grid_http_request_duration_seconds"] == "histogram"
    for gauge in (
        "grid_outbox_backlog",
        "grid_outbox_delivery_lag_seconds",
        "grid_photo_pipeline_queue",
        "grid_photo_pipeline_busy",
    ):
        assert families[gauge] == "gauge", gauge
    assert "process_resident_memory_bytes" in r.text  # one process: it reports itself
    schema = (await metered.get("/schema/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


async def test_requests_count_under_their_route_template_never_the_raw_path(metered):
    before = await scrape(metered)
    for _ in range(3):
        assert (await metered.get("/api/v1/config")).status_code == 200
    for case_id in (918273, 564738):
        assert (await metered.get(f"/api/v1/reports/{case_id}")).status_code == 401
    assert (await metered.get("/no/such/page/7777")).status_code == 404
    assert (await metered.request("BREW", "/api/v1/config")).status_code in (400, 405)
    after = await scrape(metered)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("grid_http_requests_total", method="GET", route="/api/v1/config", status="200") == 3
    case = "/api/v1/reports/{report_id}"
    assert grew("grid_http_requests_total", method="GET", route=case, status="401") == 2
    assert grew("grid_http_request_duration_seconds_count", method="GET", route=case) == 2
    assert (
        grew("grid_http_request_duration_seconds_bucket", method="GET", route=case, le="+Inf") == 2
    )
    assert grew("grid_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert (
        sum(
            grew("grid_http_requests_total", method="OTHER", route=route, status=status)
            for route in ("/api/v1/config", "<unmatched>")
            for status in ("400", "405")
        )
        == 1
    )  # a made-up method is one label value, not a new series per method
    text = (await metered.get("/metrics", headers=SCRAPER)).text
    assert "918273" not in text and "7777" not in text and "BREW" not in text


async def test_outbox_backlog_and_lag_follow_queued_notifications(metered):
    start = clock.now()
    clock.set_clock(lambda: start)
    try:
        person = await make_person()
        for n, urgent in enumerate((True, False, False)):
            await notify.enqueue(
                recipient_id=person.id,
                kind="case.assigned",
                payload={"case_id": n},
                dedupe_key=f"metrics:{n}",
                urgent=urgent,
                channels=["push"],
            )
        await notify.enqueue(  # a reminder for later is not due yet
            recipient_id=person.id,
            kind="case.assigned",
            payload={"case_id": 9},
            dedupe_key="metrics:later",
            due_at=start + timedelta(minutes=30),
            channels=["push"],
        )
        clock.set_clock(lambda: start + timedelta(seconds=90))
        samples = await scrape(metered)
        assert value(samples, "grid_outbox_backlog", channel="push", priority="urgent") == 1
        assert value(samples, "grid_outbox_backlog", channel="push", priority="normal") == 2
        assert value(samples, "grid_outbox_backlog", channel="inbox", priority="normal") == 0
        assert value(samples, "grid_outbox_delivery_lag_seconds") == pytest.approx(90, abs=1)
    finally:
        clock.set_clock(None)


async def test_job_lease_holders_appear_once_jobs_run(metered):
    samples = await scrape(metered)
    assert not [k for k in samples if k[0] == "grid_job_lease_holder"]
    job = find("people.prune_refresh_tokens")
    outcome = await run_job(job, holder="host-a:101:aaaa")
    assert outcome.ran and not outcome.error
    samples = await scrape(metered)
    held = dict(job=job.id, holder="host-a:101:aaaa")
    assert value(samples, "grid_job_lease_holder", **held) == 1
    assert value(samples, "grid_job_running", job=job.id) == 0
    assert value(samples, "grid_job_runs_total", job=job.id) == 1
    assert value(samples, "grid_job_last_run_failed", job=job.id) == 0
    finished = value(samples, "grid_job_last_run_timestamp_seconds", job=job.id)
    assert abs(finished - time.time()) < 60

    other = find("alerts.escalate")  # another process is running this one now
    assert await claim(other, now=clock.now(), holder="host-b:202:bbbb")
    samples = await scrape(metered)
    assert value(samples, "grid_job_lease_holder", job=other.id, holder="host-b:202:bbbb") == 1
    assert value(samples, "grid_job_running", job=other.id) == 1
    assert value(samples, "grid_job_lease_holder", **held) == 1  # one series per job


async def test_photo_pipeline_queue_counts_uploads_waiting_for_a_decoder(metered):
    person = await make_person()
    limiter = media._pipeline_limiter()
    holders = [object() for _ in range(int(limiter.total_tokens))]
    for holder in holders:  # every decoder slot taken, as by a burst of large photos
        await limiter.acquire_on_behalf_of(holder)
    try:
        upload = asyncio.create_task(upload_photo(metered, person))
        for _ in range(200):
            samples = await scrape(metered)
            if value(samples, "grid_photo_pipeline_queue") == 1:
                break
            await asyncio.sleep(0.02)
        assert value(samples, "grid_photo_pipeline_queue") == 1
        assert value(samples, "grid_photo_pipeline_busy") == 0  # waiting, not decoding
    finally:
        for holder in holders:
            limiter.release_on_behalf_of(holder)
    assert await upload
    samples = await scrape(metered)
    assert value(samples, "grid_photo_pipeline_queue") == 0
    assert value(samples, "grid_photo_pipeline_busy") == 0


# --- a real server: `grid-backend serve`, one process per worker ------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _requests_for(samples: Samples, route: str) -> float:
    return value(samples, "grid_http_requests_total", method="GET", route=route, status="200")


def _scrape_server(port: int) -> Samples:
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=SCRAPER, timeout=5)
    assert r.status_code == 200, r.text
    return parse(r.text)


def test_serve_reports_the_totals_of_all_its_workers(db, tmp_path):
    """PostgreSQL, two workers: whichever worker answers a scrape, it reports what both served.
    SQLite serves one process: that process reports itself."""
    postgres = get_settings().engine == "postgres"
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "grid_backend.cli", "serve", "--workers", "2" if postgres else "1"],
        env={
            **os.environ,
            "GRID_SCHEDULER": "false",
            "GRID_METRICS_TOKEN": TOKEN,
            "GRID_REDIS_URL": REDIS_URL,
            "GRID_PORT": str(port),
            "TMPDIR": str(tmp_path),  # where serve keeps the workers' shared figures
        },
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
            time.sleep(0.3)
        shared = list(tmp_path.glob("grid-metrics-*"))
        sent = 0
        if postgres:
            assert len(shared) == 1
            # new connections until both workers have answered some (the kernel picks)
            while len({p.name for p in shared[0].glob("counter_*.db")}) < 2:
                assert time.monotonic() < deadline, "one worker answered every request"
                for _ in range(10):
                    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/config", timeout=5)
                    assert r.status_code == 200
                    sent += 1
        else:
            assert shared == []  # one process: the figures stay in its memory
            for _ in range(10):
                assert httpx.get(f"http://127.0.0.1:{port}/api/v1/config").status_code == 200
                sent += 1
        # a worker counts a request just after answering it: wait for the last ones
        while _requests_for(_scrape_server(port), "/api/v1/config") < sent:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        for _ in range(8):  # every scrape, whichever worker takes it, has the whole total
            samples = _scrape_server(port)
            assert _requests_for(samples, "/api/v1/config") == sent
            assert value(samples, "grid_photo_pipeline_queue") == 0
        # CPU and memory: of the one process, or added up over the workers
        assert value(samples, "process_cpu_seconds_total") > 0
        assert value(samples, "process_resident_memory_bytes") > 20e6
        if postgres:
            assert value(samples, "grid_worker_processes") == 2
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    # the process manager of several workers exits 0; one uvicorn process re-raises SIGTERM
    assert server.returncode == (0 if postgres else -signal.SIGTERM), err
    assert list(tmp_path.glob("grid-metrics-*")) == []  # removed with the server


def test_a_killed_workers_photo_gauges_are_dropped_its_counts_kept(tmp_path):
    """A worker killed with SIGKILL cannot say it ended: the next scrape drops its live gauges
    (an upload it held is not waiting any more) and keeps its requests in the totals."""
    from grid_backend import prometheus

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    for name in (f"gauge_livesum_{ended.pid}.db", f"counter_{ended.pid}.db"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    prometheus._forget_ended_workers(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{ended.pid}.db", f"gauge_livesum_{os.getpid()}.db"]
    )
