from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.media.tables import Photo, PhotoUpload

APP_CONFIG = AppConfig(
    app_name="media",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Photo, PhotoUpload],
    migration_dependencies=["grid_backend.people.piccolo_app"],
    commands=[],
)
