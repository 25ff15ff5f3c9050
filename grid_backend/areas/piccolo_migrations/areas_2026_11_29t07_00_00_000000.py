"""Subtree queries (`path LIKE 'prefix%'`) use an index on PostgreSQL only with the pattern
operator class: under a non-C collation a plain btree index is never used for LIKE."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "pattern indexes for subtree queries"

INDEXES = {
    "area_path_prefix": "area (path varchar_pattern_ops)",
    "risk_point_area_path_prefix": "risk_point (area_path varchar_pattern_ops)",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="areas", description=DESCRIPTION)

    async def create() -> None:
        if engine().engine_type == "postgres":
            for name, target in INDEXES.items():
                await engine().run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")

    async def drop() -> None:
        if engine().engine_type == "postgres":
            for name in INDEXES:
                await engine().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
