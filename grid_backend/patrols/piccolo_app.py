from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.patrols.tables import (
    CheckIn,
    CheckInPhoto,
    PatrolCheckpoint,
    PatrolLog,
    PatrolPlan,
    PatrolTask,
)

APP_CONFIG = AppConfig(
    app_name="patrols",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[PatrolPlan, PatrolCheckpoint, PatrolTask, CheckIn, CheckInPhoto, PatrolLog],
    migration_dependencies=[
        "grid_backend.areas.piccolo_app",
        "grid_backend.people.piccolo_app",
        "grid_backend.media.piccolo_app",
    ],
    commands=[],
)
