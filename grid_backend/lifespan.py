"""Shared resources held for the life of the app: the DB pool, one httpx client, the index."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import httpx
from litestar import Litestar
from piccolo.engine.postgres import PostgresEngine

from grid_backend.areas.locate import grid_index
from grid_backend.core.db import engine
from grid_backend.settings import Settings

logger = logging.getLogger("grid_backend")


async def _no_session_reset(connection: object) -> None:
    """asyncpg resets a connection with an extra round trip (RESET ALL, UNLISTEN, advisory
    unlocks) on every release; the service sets no session state, so skip it. asyncpg still
    rolls back a transaction left open before calling this."""


def lifespan_for(settings: Settings, *, open_pool: bool = True):
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = engine()
        pooled = open_pool and db.engine_type == "postgres"
        if pooled:
            await cast(PostgresEngine, db).start_connection_pool(
                min_size=1, max_size=settings.db_pool_size, reset=_no_session_reset
            )
        async with httpx.AsyncClient(timeout=10.0) as client:
            app.state.http = client
            try:
                await grid_index.get()  # warm: the first locate should not pay for the build
            except Exception:  # the database may not be migrated yet; /readyz says so
                logger.warning("grid index not built at start", exc_info=True)
            scheduler = None
            if settings.scheduler and open_pool:
                from grid_backend.scheduler import build_scheduler

                scheduler = build_scheduler()
                scheduler.start()
            try:
                yield
            finally:
                if scheduler is not None:
                    await scheduler.stop()  # runs in flight put their work back first
                if pooled:
                    await db.close_connection_pool()

    return lifespan
