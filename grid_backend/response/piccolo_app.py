from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.response.tables import RescueTeam, RescueTeamArea, ResponseRecord, ResponseStep

APP_CONFIG = AppConfig(
    app_name="response",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[RescueTeam, RescueTeamArea, ResponseRecord, ResponseStep],
    migration_dependencies=[
        "grid_backend.areas.piccolo_app",
        "grid_backend.people.piccolo_app",
        "grid_backend.hazards.piccolo_app",
    ],
    commands=[],
)
