from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.open311.tables import Open311Client, Open311Request

APP_CONFIG = AppConfig(
    app_name="open311",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Open311Client, Open311Request],
    migration_dependencies=[
        "grid_backend.people.piccolo_app",
        "grid_backend.hazards.piccolo_app",
    ],
    commands=[],
)
