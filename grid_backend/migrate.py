"""Apply every domain's migrations, in dependency order, on SQLite or PostgreSQL."""

from __future__ import annotations

from piccolo.apps.migrations.commands.forwards import run_forwards

from grid_backend.core.db import engine


async def migrate() -> None:
    """Bring the database schema up to date; raises if a migration fails."""
    db = engine()
    if db.engine_type == "sqlite":
        # WAL lets readers go on while one writer commits; it persists in the file
        await db.run_ddl("PRAGMA journal_mode=WAL")
    result = await run_forwards(app_name="all", migration_id="all", fake=False)
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")
