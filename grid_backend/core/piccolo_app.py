from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.core.tables import AuditEntry, GeoRevision, JobLease

APP_CONFIG = AppConfig(
    app_name="core",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[AuditEntry, GeoRevision, JobLease],
    migration_dependencies=[],
    commands=[],
)
