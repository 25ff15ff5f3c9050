"""Constraints Piccolo columns cannot express: one response record per (case, person) and per
(case, team), so an alert or a dispatch repeated (or raced) records nothing twice; each step
once per record; each served area once per team; and the prefix index on served areas."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T09:16:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "multi-column constraints and indexes"

UNIQUE = {
    "response_record_person_once": "response_record (report, account)",
    "response_record_team_once": "response_record (report, team)",
    "response_step_once": "response_step (record, step)",
    "rescue_team_area_once": "rescue_team_area (team, area)",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="response", description=DESCRIPTION)

    async def create() -> None:
        db = engine()
        for name, target in UNIQUE.items():
            await db.run_ddl(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {target}")
        if db.engine_type == "postgres":
            await db.run_ddl(
                "CREATE INDEX IF NOT EXISTS rescue_team_area_path_prefix"
                " ON rescue_team_area (area_path varchar_pattern_ops)"
            )

    async def drop() -> None:
        for name in [*UNIQUE, "rescue_team_area_path_prefix"]:
            await engine().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
