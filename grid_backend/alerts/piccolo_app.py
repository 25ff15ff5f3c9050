from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.alerts.tables import (
    Callout,
    CalloutArea,
    CalloutRecipient,
    EarlyWarning,
    WarningArea,
    WarningRound,
)

APP_CONFIG = AppConfig(
    app_name="alerts",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[EarlyWarning, WarningArea, WarningRound, Callout, CalloutArea, CalloutRecipient],
    migration_dependencies=[
        "grid_backend.areas.piccolo_app",
        "grid_backend.people.piccolo_app",
        "grid_backend.patrols.piccolo_app",
    ],
    commands=[],
)
