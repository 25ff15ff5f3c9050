"""One duplicate offer per case and account: a unique index (Piccolo columns cannot express it),
so offering a case again refreshes the row instead of adding one."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-12-05T10:05:35:000000"
VERSION = "1.38.0"
DESCRIPTION = "one duplicate offer per case and account"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hazards", description=DESCRIPTION)

    async def create() -> None:
        await engine().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS hazard_duplicate_offer_once"
            " ON hazard_duplicate_offer (report, account)"
        )

    async def drop() -> None:
        await engine().run_ddl("DROP INDEX IF EXISTS hazard_duplicate_offer_once")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
