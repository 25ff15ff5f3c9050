from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

from grid_backend.core.db import engine

ID = "2026-12-06T01:06:53:377072"
VERSION = "1.38.0"
DESCRIPTION = "Internal cases (kept off Open311), channel up to 64 characters"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="hazards", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="HazardReport",
        tablename="hazard_report",
        column_name="internal",
        db_column_name="internal",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": False,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    if engine().engine_type != "postgres":
        return manager  # SQLite enforces no length: only PostgreSQL's column is widened
    manager.alter_column(
        table_class_name="HazardReport",
        tablename="hazard_report",
        column_name="channel",
        db_column_name="channel",
        params={"length": 64},
        old_params={"length": 16},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
