"""/metrics: the service as Prometheus sees it, for a scraper holding GRID_METRICS_TOKEN.

Two sources: the meters each process keeps (core/metrics.py: requests, the photo pipeline),
added up over the workers of `serve --workers N`; and gauges read from the database at scrape
time (the outbox backlog and its lag, the job leases), two small queries per scrape, so they are
the same whichever worker or replica answers. Without a token there is no /metrics at all."""

from __future__ import annotations

import hmac
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.handlers import HTTPRouteHandler
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from grid_backend.core import clock
from grid_backend.core.db import fetch
from grid_backend.core.errors import DomainError
from grid_backend.core.metrics import http_meter
from grid_backend.notify.kinds import CHANNELS
from grid_backend.settings import Settings

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # set: the values of every worker, from its files
_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db")
_WORKER_FILE = re.compile(r"\w+?_(\d+)\.db")  # counter_<pid>.db, gauge_livesum_<pid>.db…
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# notifications due and not yet delivered (claimed ones included: they are in flight), read
# through the partial index the delivery scan uses (status = 'pending')
_BACKLOG_SQL = """
SELECT channel, urgent, COUNT(*) AS n, MIN(due_at) AS oldest FROM notification
WHERE status = 'pending' AND due_at <= {} GROUP BY channel, urgent"""
# one row per scheduled job (scheduler.JOBS)
_LEASES_SQL = "SELECT job_id, holder, expires_at, last_finished_at, last_error, runs FROM job_lease"


def install(app: Litestar, settings: Settings) -> None:
    """With GRID_METRICS_TOKEN: serve /metrics and count every request; without: nothing,
    not even the per-request meter."""
    if not settings.metrics_token:
        return
    app.register(_endpoint(settings.metrics_token))
    app.asgi_handler = http_meter(app.asgi_handler)  # outside the router: 404s count too
    app.on_shutdown.append(_worker_ended)


def _endpoint(token: str) -> HTTPRouteHandler:
    expected = token.encode()

    @get("/metrics", include_in_schema=False)
    async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken does not tell how much of a guess was right
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected
        ):
            raise DomainError("unauthenticated", status=401, headers={"WWW-Authenticate": "Bearer"})
        # Prometheus's classic text format; Litestar adds the charset
        return Response(await exposition(), media_type="text/plain; version=0.0.4")

    return metrics


async def exposition() -> bytes:
    """Everything /metrics shows, in Prometheus's text format."""
    now = clock.now().astimezone(UTC)
    backlog = await fetch(_BACKLOG_SQL, now)
    leases = await fetch(_LEASES_SQL)
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot([*_outbox(backlog, now), *_jobs(leases, now)]))
    return _process_meters() + generate_latest(snapshot)


def _process_meters() -> bytes:
    path = os.environ.get(MULTIPROC_DIR)
    if not path:
        return generate_latest(REGISTRY)  # this process's, with its CPU and memory
    _forget_ended_workers(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path)
    registry.register(_Snapshot(_workers(path)))
    return generate_latest(registry)


def _workers(path: str) -> list[Metric]:
    """CPU and memory of the workers alive (those with files here), added up: what
    prometheus-client's process metrics say of one process (Linux /proc; none elsewhere)."""
    pids = {int(m[1]) for e in Path(path).iterdir() if (m := _WORKER_FILE.fullmatch(e.name))}
    cpu = rss = 0.0
    alive = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended, or no /proc
        cpu += (int(stat[11]) + int(stat[12])) / _TICKS  # utime, stime
        rss += int(stat[21]) * _PAGE  # resident pages
        alive += 1
    if not alive:
        return []
    return [
        CounterMetricFamily(
            "process_cpu_seconds", "User and system CPU time of the worker processes", cpu
        ),
        GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory of the worker processes", rss
        ),
        GaugeMetricFamily("grid_worker_processes", "Server worker processes alive", alive),
    ]


def _forget_ended_workers(path: str) -> None:
    """A worker that was killed could not say it ended: drop its live gauges (the photo
    pipeline) once its process is gone. Counters and histograms keep its share of the totals."""
    for entry in Path(path).iterdir():
        match = _LIVE_FILE.fullmatch(entry.name)
        if match and not _alive(int(match[1])):
            multiprocess.mark_process_dead(int(match[1]), path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours, leave its files alone
    return True


async def _worker_ended() -> None:
    path = os.environ.get(MULTIPROC_DIR)
    if path:
        multiprocess.mark_process_dead(os.getpid(), path)


class _Snapshot:
    """A collector of metric families read before the scrape (prometheus-client collects
    synchronously; the database is read asynchronously, just before)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _moment(value: Any) -> datetime | None:
    """A timestamp column as an aware datetime (SQLite's raw rows may hold its text)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _outbox(rows: list[dict[str, Any]], now: datetime) -> list[Metric]:
    backlog = GaugeMetricFamily(
        "grid_outbox_backlog",
        "Notifications due and not yet delivered (pending, claimed or not)",
        labels=["channel", "priority"],
    )
    counts = {(c, p): 0 for c in CHANNELS for p in ("urgent", "normal")}
    oldest: datetime | None = None
    for row in rows:
        key = (row["channel"], "urgent" if row["urgent"] else "normal")
        counts[key] = counts.get(key, 0) + int(row["n"])
        due = _moment(row["oldest"])
        if due is not None and (oldest is None or due < oldest):
            oldest = due
    for (channel, priority), count in sorted(counts.items()):
        backlog.add_metric([channel, priority], count)
    lag = GaugeMetricFamily(
        "grid_outbox_delivery_lag_seconds",
        "How long the oldest notification due and not yet delivered has been due (0: none)",
        value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
    )
    return [backlog, lag]


def _jobs(rows: list[dict[str, Any]], now: datetime) -> list[Metric]:
    holder = GaugeMetricFamily(
        "grid_job_lease_holder",
        "1 for the process (host:pid:id) that holds each job's lease, or held it last",
        labels=["job", "holder"],
    )
    running = GaugeMetricFamily(
        "grid_job_running", "1 while a run of the job holds its lease", labels=["job"]
    )
    last_run = GaugeMetricFamily(
        "grid_job_last_run_timestamp_seconds",
        "When the job's last run ended (Unix time)",
        labels=["job"],
    )
    failed = GaugeMetricFamily(
        "grid_job_last_run_failed", "1 if the job's last run ended in an error", labels=["job"]
    )
    runs = CounterMetricFamily(
        "grid_job_runs", "Runs of the job, by every process together", labels=["job"]
    )
    for row in sorted(rows, key=lambda r: r["job_id"]):
        job = row["job_id"]
        if row["holder"]:
            holder.add_metric([job, row["holder"]], 1)
        expires = _moment(row["expires_at"])
        running.add_metric([job], 1 if expires is not None and expires > now else 0)
        finished = _moment(row["last_finished_at"])
        if finished is not None:
            last_run.add_metric([job], finished.timestamp())
        # "stopped": the last run was ended by a clean shutdown, not a failure
        failed.add_metric([job], 1 if row["last_error"] not in ("", "stopped") else 0)
        runs.add_metric([job], int(row["runs"] or 0))
    return [holder, running, last_run, failed, runs]
