"""Constraints and indexes of evacuations that Piccolo columns cannot express: one task per
household in an evacuation, idempotency keys unique in their scope, and the indexes the
board, the helper's list and the escalation read by."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-12-05T22:15:10:000000"
VERSION = "1.38.0"
DESCRIPTION = "evacuation constraints and indexes"

_INDEXES = (
    ("UNIQUE", "evacuation_task_once", "evacuation_task (evacuation, household)"),
    ("", "evacuation_task_helper", "evacuation_task (evacuation, helper)"),
    ("", "evacuation_task_path", "evacuation_task (evacuation, area_path)"),
    ("UNIQUE", "evacuation_event_key", "evacuation_event (task, client_key)"),
    ("", "evacuation_event_task", "evacuation_event (task, id)"),
    ("UNIQUE", "evacuation_run_key", "evacuation_run (created_by, client_key)"),
    ("UNIQUE", "evacuation_arrival_key", "evacuation_arrival (evacuation, shelter, client_key)"),
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="evacuation", description=DESCRIPTION)

    async def create() -> None:
        db = engine()
        for unique, name, target in _INDEXES:
            kind = "UNIQUE INDEX" if unique else "INDEX"
            await db.run_ddl(f"CREATE {kind} IF NOT EXISTS {name} ON {target}")
        if db.engine_type == "postgres":
            await db.run_ddl(
                "CREATE INDEX IF NOT EXISTS evacuation_run_area_path_prefix"
                " ON evacuation_run_area (area_path varchar_pattern_ops)"
            )

    async def drop() -> None:
        for name in [n for _, n, _ in _INDEXES] + ["evacuation_run_area_path_prefix"]:
            await engine().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
