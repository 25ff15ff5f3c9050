from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.hazards.tables import (
    Announcement,
    Category,
    DuplicateOffer,
    HazardEvent,
    HazardReport,
    HotlineCall,
    PointsEntry,
    ReportPhoto,
    SlaRule,
    Support,
)

APP_CONFIG = AppConfig(
    app_name="hazards",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[
        Category,
        SlaRule,
        HazardReport,
        ReportPhoto,
        HazardEvent,
        Support,
        PointsEntry,
        DuplicateOffer,
        Announcement,
        HotlineCall,
    ],
    migration_dependencies=["grid_backend.media.piccolo_app", "grid_backend.areas.piccolo_app"],
    commands=[],
)
