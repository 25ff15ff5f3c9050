"""grid-backend: serve, migrate, seed, create-user, import-areas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

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


def _run(coro: Coroutine[Any, Any, T]) -> T:
    _settings_or_exit()
    try:
        return asyncio.run(coro)
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
    import uvicorn

    if workers is not None:  # the worker processes read it too; checked like the setting
        os.environ["GRID_WORKERS"] = str(workers)
        get_settings.cache_clear()
    settings = _settings_or_exit()
    uvicorn.run("grid_backend.app:create_app", **uvicorn_options(settings, host=host, port=port))


@main.command()
def migrate() -> None:
    """Apply all migrations."""
    from grid_backend.migrate import migrate as run_migrations

    _run(run_migrations())
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
        click.echo(f"scheduler running {len(sched.get_jobs())} jobs; Ctrl-C stops it", err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await sched.stop()  # runs in flight put their work back first
            if db.engine_type == "postgres":
                await db.close_connection_pool()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        _run(run_forever())


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
