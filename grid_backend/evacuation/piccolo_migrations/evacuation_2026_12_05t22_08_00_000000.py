"""The prefix index the scoping of households by their grid's path uses on PostgreSQL."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-12-05T22:08:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "household path prefix index"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="evacuation", description=DESCRIPTION)

    async def create() -> None:
        if engine().engine_type == "postgres":
            await engine().run_ddl(
                "CREATE INDEX IF NOT EXISTS evacuation_household_path_prefix"
                " ON evacuation_household (area_path varchar_pattern_ops)"
            )

    async def drop() -> None:
        await engine().run_ddl("DROP INDEX IF EXISTS evacuation_household_path_prefix")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
