"""Constraints Piccolo columns cannot express: one live task per (plan, window_start), so a
re-run or a race of the materialiser creates nothing twice (a cancelled task steps aside for
its replacement); one check-in per (task, client_id), so a retried check-in is found, not
repeated; and the indexes the jobs, the worker's list and the statistics read by."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T07:29:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "multi-column constraints and indexes"

UNIQUE = {
    "patrol_task_once": "patrol_task (plan, window_start) WHERE status <> 'cancelled'",
    "patrol_check_in_client_id": "patrol_check_in (task, client_id)",
}
INDEXES = {
    "patrol_task_due": "patrol_task (status, window_end)",
    "patrol_task_assignee_date": "patrol_task (assignee, local_date)",
    "patrol_task_date_path": "patrol_task (local_date, area_path)",
    "patrol_checkpoint_revision": "patrol_checkpoint (plan, revision_from)",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="patrols", description=DESCRIPTION)

    async def create() -> None:
        db = engine()
        for name, target in UNIQUE.items():
            await db.run_ddl(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {target}")
        for name, target in INDEXES.items():
            await db.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
        if db.engine_type == "postgres":
            await db.run_ddl(
                "CREATE INDEX IF NOT EXISTS patrol_plan_area_path_prefix"
                " ON patrol_plan (area_path varchar_pattern_ops)"
            )

    async def drop() -> None:
        for name in [*UNIQUE, *INDEXES, "patrol_plan_area_path_prefix"]:
            await engine().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
