from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.evacuation.tables import (
    Evacuation,
    EvacuationArea,
    EvacuationArrival,
    EvacuationEvent,
    EvacuationRoute,
    EvacuationTask,
    Household,
    QrCode,
    Shelter,
    ShelterArea,
)

APP_CONFIG = AppConfig(
    app_name="evacuation",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[
        Shelter,
        ShelterArea,
        Household,
        Evacuation,
        EvacuationArea,
        EvacuationTask,
        EvacuationEvent,
        EvacuationArrival,
        QrCode,
        EvacuationRoute,
    ],
    migration_dependencies=[
        "grid_backend.areas.piccolo_app",
        "grid_backend.people.piccolo_app",
        "grid_backend.alerts.piccolo_app",
    ],
    commands=[],
)
