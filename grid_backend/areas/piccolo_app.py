from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.areas.tables import Area, AreaBoundary, RiskPoint

APP_CONFIG = AppConfig(
    app_name="areas",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Area, AreaBoundary, RiskPoint],
    migration_dependencies=[],
    commands=[],
)
