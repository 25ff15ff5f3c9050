"""The unique index Piccolo columns cannot express on hazard_call: a retried call (its
Idempotency-Key) is found by the officer who took it and the key."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-12-06T01:06:09:000000"
VERSION = "1.38.0"
DESCRIPTION = "hazard_call: idempotency key unique per officer"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hazards", description=DESCRIPTION)

    async def create() -> None:
        await engine().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS hazard_call_key ON hazard_call (taken_by, client_key)"
        )

    async def drop() -> None:
        await engine().run_ddl("DROP INDEX IF EXISTS hazard_call_key")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
