"""Constraints Piccolo columns cannot express: uniqueness over several columns (so a retried
submission, a second "me too" or a second SLA row cannot be written twice, even in a race)
and, on PostgreSQL, the pattern index for subtree queries."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T06:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "multi-column constraints"

UNIQUE = {
    "hazard_report_client_key": "hazard_report (reporter, client_key)",
    "hazard_support_once": "hazard_support (report, account)",
    "sla_rule_once": "sla_rule (category, level)",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hazards", description=DESCRIPTION)

    async def create() -> None:
        db = engine()
        for name, target in UNIQUE.items():
            await db.run_ddl(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {target}")
        if db.engine_type == "postgres":
            await db.run_ddl(
                "CREATE INDEX IF NOT EXISTS hazard_report_area_path_prefix"
                " ON hazard_report (area_path varchar_pattern_ops)"
            )

    async def drop() -> None:
        for name in [*UNIQUE, "hazard_report_area_path_prefix"]:
            await engine().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
