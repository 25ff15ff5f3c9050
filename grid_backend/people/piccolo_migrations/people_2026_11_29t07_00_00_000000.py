"""Subtree queries (`area_path LIKE 'prefix%'`) use an index on PostgreSQL only with the
pattern operator class: under a non-C collation a plain btree index is never used for LIKE."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "pattern index for assignment scope"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="people", description=DESCRIPTION)

    async def create() -> None:
        if engine().engine_type == "postgres":
            await engine().run_ddl(
                "CREATE INDEX IF NOT EXISTS assignment_area_path_prefix"
                " ON assignment (area_path varchar_pattern_ops)"
            )

    async def drop() -> None:
        if engine().engine_type == "postgres":
            await engine().run_ddl("DROP INDEX IF EXISTS assignment_area_path_prefix")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
