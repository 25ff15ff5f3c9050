"""Urgent notifications first: the delivery scan reads pending rows by (urgent first, due time),
so an urgent alert never waits behind a backlog of routine ones."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "delivery scan: urgent first"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="notify", description=DESCRIPTION)

    async def create() -> None:
        await engine().run_ddl(
            "CREATE INDEX IF NOT EXISTS notification_due_urgent"
            " ON notification (urgent DESC, due_at) WHERE status = 'pending'"
        )
        await engine().run_ddl("DROP INDEX IF EXISTS notification_due")

    async def drop() -> None:
        await engine().run_ddl(
            "CREATE INDEX IF NOT EXISTS notification_due"
            " ON notification (due_at) WHERE status = 'pending'"
        )
        await engine().run_ddl("DROP INDEX IF EXISTS notification_due_urgent")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
