"""Piccolo configuration: the engine comes from settings, one Piccolo app per domain."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from grid_backend.settings import get_settings


def _engine() -> PostgresEngine | SQLiteEngine:
    settings = get_settings()
    if settings.engine == "postgres":
        dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        return PostgresEngine(config={"dsn": dsn})
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteEngine(path=str(settings.sqlite_path), timeout=30)


DB = _engine()

APP_REGISTRY = AppRegistry(
    apps=[
        "grid_backend.core.piccolo_app",
        "grid_backend.areas.piccolo_app",
        "grid_backend.people.piccolo_app",
        "grid_backend.media.piccolo_app",
        "grid_backend.hazards.piccolo_app",
        "grid_backend.notify.piccolo_app",
        "grid_backend.patrols.piccolo_app",
        "grid_backend.alerts.piccolo_app",
        "grid_backend.response.piccolo_app",
    ]
)
