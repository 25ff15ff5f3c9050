from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.people.tables import Account, Assignment, RefreshToken, RegistrationCode

APP_CONFIG = AppConfig(
    app_name="people",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Account, RefreshToken, Assignment, RegistrationCode],
    migration_dependencies=["grid_backend.areas.piccolo_app"],
    commands=[],
)
