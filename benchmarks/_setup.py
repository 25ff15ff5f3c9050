"""What every benchmark needs before it measures: its database, a free local port."""

from __future__ import annotations

import asyncio
import socket


def ensure_database(url: str, *, fresh: bool = False) -> None:
    """Create the PostgreSQL database of `url` if missing (dropped first when `fresh`)."""
    if not url.startswith("postgresql"):
        return
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        try:
            if fresh:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# three checkpoints for every patrol plan, near the middle of its grid (SQLite and PostgreSQL)
CHECKPOINTS_SQL = (
    "INSERT INTO patrol_checkpoint (plan, seq, name, lat, lng, sent_lat, sent_lng,"
    " sent_datum, radius_m, revision_from)"
    " SELECT p.id, v.k, '巡查点' || v.k,"
    " (b.min_lat + b.max_lat) / 2 + (v.k - 2) * 0.0003, (b.min_lng + b.max_lng) / 2,"
    " (b.min_lat + b.max_lat) / 2 + (v.k - 2) * 0.0003, (b.min_lng + b.max_lng) / 2,"
    " 'wgs84', 50, 1"
    " FROM patrol_plan p JOIN area_boundary b ON b.area = p.grid AND b.valid_to IS NULL"
    " CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) v"
)
