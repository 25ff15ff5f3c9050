"""Constraints Piccolo columns cannot express: each served area once per shelter, and the
prefix index the scoping of shelters by area path uses on PostgreSQL."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-12-05T20:43:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "multi-column constraints and indexes"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="evacuation", description=DESCRIPTION)

    async def create() -> None:
        db = engine()
        await db.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS evacuation_shelter_area_once"
            " ON evacuation_shelter_area (shelter, area)"
        )
        if db.engine_type == "postgres":
            await db.run_ddl(
                "CREATE INDEX IF NOT EXISTS evacuation_shelter_area_path_prefix"
                " ON evacuation_shelter_area (area_path varchar_pattern_ops)"
            )

    async def drop() -> None:
        for name in ("evacuation_shelter_area_once", "evacuation_shelter_area_path_prefix"):
            await engine().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
