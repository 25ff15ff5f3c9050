"""One upload row per (photo, account): uploading the same photo twice changes nothing."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T06:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique uploads"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="media", description=DESCRIPTION)

    async def create() -> None:
        await engine().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS photo_upload_once ON photo_upload (photo, account)"
        )

    async def drop() -> None:
        await engine().run_ddl("DROP INDEX IF EXISTS photo_upload_once")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
