"""grid-backend: serve, migrate, seed, create-user, import-areas, media migrate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from grid_backend.infra import reuseport
from grid_backend.settings import SettingsError, get_settings

if TYPE_CHECKING:  # the commands import the app's modules lazily, to start fast
    from grid_backend.core.types import Datum

T = TypeVar("T")


def _settings_or_exit():
    try:
        return get_settings()
    except SettingsError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


async def _pooled(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command on a small PostgreSQL pool: without one every query opens a connection
    of its own (the demo seed opened 2,500, and spent 15 of its 22 s connecting)."""
    from piccolo.engine.postgres import PostgresEngine

    from grid_backend.core.db import engine

    db = engine()
    if not isinstance(db, PostgresEngine) or db.pool is not None:
        return await coro
    await db.start_connection_pool(min_size=1, max_size=4)
    try:
        return await coro
    finally:
        await db.close_connection_pool()


def _run(coro: Coroutine[Any, Any, T], *, pooled: bool = True) -> T:
    """Run a command's coroutine (on a pool, unless it makes its own), DomainErrors printed."""
    _settings_or_exit()
    try:
        return asyncio.run(_pooled(coro) if pooled else coro)
    except Exception as exc:
        from grid_backend.core.errors import DomainError

        if isinstance(exc, DomainError):
            click.echo(f"error [{exc.code}]: {exc.detail or exc.code}", err=True)
            for item in exc.errors or []:
                click.echo(f"  {item['field']}: {item['message']}", err=True)
            sys.exit(1)
        raise


@click.group(help=__doc__)
def main() -> None:
    pass


def uvicorn_options(settings, *, host: str | None = None, port: int | None = None) -> dict:
    """How `serve` runs uvicorn. X-Forwarded-For and X-Forwarded-Proto are believed only
    from GRID_FORWARDED_ALLOW_IPS; with none set, uvicorn reads no proxy headers at all
    (its own default, FORWARDED_ALLOW_IPS or 127.0.0.1, would let any local process pick
    the client address that login limits count by)."""
    proxies = settings.forwarded_allow_ips.strip()
    return {
        "factory": True,
        "host": host or settings.host,
        "port": port or settings.port,
        "workers": settings.workers,  # each runs the scheduler; job leases make a tick run once
        "log_level": settings.log_level.lower(),
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or "",
    }


@main.command()
@click.option("--host", default=None, help="default GRID_HOST (127.0.0.1)")
@click.option("--port", type=int, default=None, help="default GRID_PORT (8000)")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="server processes, default GRID_WORKERS (1); more need PostgreSQL and Redis",
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the API and console."""

    if workers is not None:  # the worker processes read it too; checked like the setting
        os.environ["GRID_WORKERS"] = str(workers)
        get_settings.cache_clear()
    settings = _settings_or_exit()
    options = uvicorn_options(settings, host=host, port=port)
    if (
        settings.workers > 1
        and settings.metrics_token
        and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    ):
        # /metrics adds up every worker's counts, kept in files here (docs/deployment.md,
        # "Metrics"); set before any worker imports prometheus-client, removed at exit
        with tempfile.TemporaryDirectory(prefix="grid-metrics-") as shared:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
            _run_uvicorn(settings, options)
        return
    _run_uvicorn(settings, options)


def _run_uvicorn(settings: Any, options: dict) -> None:
    import uvicorn

    if settings.workers > 1 and settings.reuse_port and reuseport.supported():
        _serve_workers_on_own_sockets(options)
    else:
        uvicorn.run("grid_backend.app:create_app", **options)


def _serve_workers_on_own_sockets(options: dict) -> None:
    """uvicorn.run's several-workers path, with a socket per worker on the shared port
    (grid_backend/infra/reuseport.py) instead of one socket handed to them all."""
    from uvicorn import Config
    from uvicorn.supervisors import Multiprocess

    config = Config("grid_backend.app:create_app", **options)
    try:  # taken here, never listened on: a port in use fails now, and port 0 gets a number
        held = reuseport.bind(config.host, config.port)
    except OSError as exc:
        click.echo(f"cannot listen on {config.host}:{config.port}: {exc}", err=True)
        sys.exit(1)
    with held:
        port = held.getsockname()[1]
        click.echo(
            f"serving on http://{config.host}:{port} with {config.workers} workers", err=True
        )
        recipe = reuseport.Recipe(config.host, port)
        Multiprocess(config, sockets=[recipe]).run()  # type: ignore[list-item]  # a socket once unpickled in the worker


@main.command()
def migrate() -> None:
    """Apply all migrations."""
    from grid_backend.migrate import migrate as run_migrations

    _run(run_migrations(), pooled=False)
    click.echo("database is up to date")


@main.group()
def seed() -> None:
    """Load seed data."""


@seed.command("demo")
@click.option("--if-empty", is_flag=True, help="only when the database has no areas yet")
def seed_demo(if_empty: bool) -> None:
    """渝中区 with its sub-districts, generated communities and grids, demo accounts."""
    from grid_backend import seeding

    summary = _run(seeding.seed_demo(if_empty=if_empty))
    click.echo(json.dumps(summary, ensure_ascii=False))


@seed.command("city")
@click.option("--grids", type=click.IntRange(1, 200_000), default=62_000, show_default=True)
@click.option("--seed", "seed_value", type=int, default=141, show_default=True)
def seed_city(grids: int, seed_value: int) -> None:
    """All 38 districts with generated townships, communities and grids (benchmarks)."""
    from grid_backend import seeding

    summary = _run(seeding.seed_city(grids=grids, seed=seed_value))
    click.echo(json.dumps(summary, ensure_ascii=False))


@main.command()
def scheduler() -> None:
    """Run the timed jobs alone (servers can then run with GRID_SCHEDULER=false)."""
    from grid_backend.scheduler import build_scheduler

    async def run_forever() -> None:
        from piccolo.engine.postgres import PostgresEngine

        from grid_backend.core.db import engine

        db = engine()
        if isinstance(db, PostgresEngine):  # engine_type "postgres"
            await db.start_connection_pool(min_size=1, max_size=4)
        sched = build_scheduler()
        sched.start()
        # SIGTERM (docker stop, systemd, a supervisor) stops it as gracefully as Ctrl-C: killed
        # instead, a run in flight would keep its lease, and no other scheduler could deliver
        # notifications, until the lease expired (5 minutes for notify.deliver)
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stopping.set)
        click.echo(
            f"scheduler running {len(sched.get_jobs())} jobs; Ctrl-C or SIGTERM stops it",
            err=True,
        )
        try:
            await stopping.wait()
        finally:
            await sched.stop()  # runs in flight put their work back first
            if db.engine_type == "postgres":
                await db.close_connection_pool()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        _run(run_forever(), pooled=False)


@main.group()
def jobs() -> None:
    """The timed jobs: list them or run one by hand."""


@jobs.command("list")
def jobs_list() -> None:
    """Every job with its trigger and last run."""
    from grid_backend.core.tables import JobLease
    from grid_backend.scheduler import JOBS

    async def rows() -> dict[str, dict]:
        return {r["job_id"]: r for r in await JobLease.select().output(load_json=True).run()}

    last = _run(rows())
    for job in JOBS:
        seen = last.get(job.id, {})
        finished = seen.get("last_finished_at")
        click.echo(
            f"{job.id:36} {job.trigger()!s:48} last: {finished or '-'} {seen.get('last_error') or ''}"
        )


@jobs.command("run")
@click.argument("job_id")
def jobs_run(job_id: str) -> None:
    """Run one job now (it still takes the lease, so it never overlaps a scheduled run)."""
    from grid_backend.scheduler import find, run_job

    try:
        job = find(job_id)
    except KeyError:
        raise click.ClickException(f"no job {job_id!r}; see `grid-backend jobs list`") from None
    outcome = _run(run_job(job))
    click.echo(
        json.dumps(
            {
                "job": job_id,
                "ran": outcome.ran,
                "result": outcome.result,
                "error": outcome.error,
            },
            ensure_ascii=False,
            default=str,
        )
    )
    if outcome.error:
        sys.exit(1)


@jobs.command("check")
@click.option("--job", "job_id", default="notify.deliver", show_default=True)
@click.option("--within", type=click.IntRange(1), default=120, show_default=True, help="seconds")
def jobs_check(job_id: str, within: int) -> None:
    """Exit 1 unless JOB finished a run in the last WITHIN seconds: the health check of a
    separate `grid-backend scheduler` (notify.deliver runs every few seconds)."""
    from datetime import timedelta

    from grid_backend.core import clock
    from grid_backend.core.tables import JobLease
    from grid_backend.scheduler import find

    try:
        find(job_id)
    except KeyError:
        raise click.ClickException(f"no job {job_id!r}; see `grid-backend jobs list`") from None

    async def last_finished() -> Any:
        row = await (
            JobLease.select(JobLease.last_finished_at)
            .where(JobLease.job_id == job_id)
            .first()
            .run()
        )
        return row["last_finished_at"] if row else None

    finished = _run(last_finished())
    now = clock.now()
    if finished is None or now - finished > timedelta(seconds=within):
        click.echo(f"{job_id}: last finished {finished or 'never'}, over {within} s ago", err=True)
        sys.exit(1)
    click.echo(f"{job_id}: finished {(now - finished).total_seconds():.0f} s ago")


@main.group()
def media() -> None:
    """Photo storage."""


@media.command("migrate")
@click.option("--to", "to", type=click.Choice(["s3"]), required=True, help="the target store")
def media_migrate(to: str) -> None:
    """Copy the photos under GRID_MEDIA_ROOT to the object store GRID_S3_* names, verifying
    each SHA-256; a second run skips what is there. Local files stay (docs/deployment.md)."""
    from grid_backend.media.objectstore import S3Store
    from grid_backend.media.storage import StoreUnavailable
    from grid_backend.media.transfer import migrate_to_s3

    settings = _settings_or_exit()
    if not settings.s3_bucket:
        raise click.ClickException("set GRID_S3_BUCKET (and GRID_S3_ENDPOINT_URL) first")
    target = S3Store.from_settings(settings)
    try:
        summary = _run(migrate_to_s3(target=target, echo=click.echo))
    except StoreUnavailable as exc:
        click.echo(f"error: the object store failed ({exc}); run again to resume", err=True)
        sys.exit(1)
    if summary.mismatched:
        click.echo(f"SHA-256 mismatches: {', '.join(summary.mismatched)}", err=True)
        sys.exit(1)


@main.command("create-user")
@click.option("--phone", required=True)
@click.option("--password", required=True)
@click.option("--name", required=True)
@click.option("--duty", default=None, help="e.g. admin, dispatcher, grid_worker")
@click.option("--area-code", default=None, help="e.g. 500000 for the city")
def create_user(
    phone: str, password: str, name: str, duty: str | None, area_code: str | None
) -> None:
    """Create an account, optionally with a duty in an area (an admin: --duty admin --area-code 500000)."""
    from grid_backend import seeding

    if (duty is None) != (area_code is None):
        raise click.UsageError("--duty and --area-code go together")
    account = _run(
        seeding.create_user(
            phone=phone, password=password, name=name, duty=duty, area_code=area_code
        )
    )
    click.echo(json.dumps(account, ensure_ascii=False))


@main.command("import-areas")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--datum", type=click.Choice(["wgs84", "gcj02", "bd09"]), required=True)
def import_areas(file: Path, datum: Datum) -> None:  # a click.Choice of the datums
    """Import areas from a GeoJSON FeatureCollection (all or nothing)."""
    from grid_backend.areas.services import import_geojson

    try:
        collection = json.loads(file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file} is not JSON: {exc}") from None
    result = _run(import_geojson(collection=collection, datum=datum, actor_id=None))
    click.echo(
        json.dumps(
            {
                "created": result.created,
                "updated": result.updated,
                "boundaries_changed": result.boundaries_changed,
            }
        )
    )


if __name__ == "__main__":
    main()
