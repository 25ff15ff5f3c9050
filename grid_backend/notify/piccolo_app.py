from pathlib import Path

from piccolo.conf.apps import AppConfig

from grid_backend.notify.tables import (
    DeliveryAttempt,
    Notification,
    NotificationPreference,
    WebhookSubscriber,
)

APP_CONFIG = AppConfig(
    app_name="notify",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[WebhookSubscriber, Notification, DeliveryAttempt, NotificationPreference],
    migration_dependencies=["grid_backend.people.piccolo_app"],
    commands=[],
)
