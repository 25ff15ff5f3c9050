"""A township's board reads its part of a district's evacuation by path prefix
(`area_path LIKE 'township path%'`): on PostgreSQL a plain index serves LIKE only under the C
collation, so (evacuation, area_path) gets a pattern index, and the board reads a township's
tasks instead of filtering the whole district's."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-12-06T01:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "evacuation tasks: a path-prefix index for the boards"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="evacuation", description=DESCRIPTION)

    async def create() -> None:
        db = engine()
        if db.engine_type == "postgres":
            await db.run_ddl(
                "CREATE INDEX IF NOT EXISTS evacuation_task_path_prefix"
                " ON evacuation_task (evacuation, area_path varchar_pattern_ops)"
            )

    async def drop() -> None:
        await engine().run_ddl("DROP INDEX IF EXISTS evacuation_task_path_prefix")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
