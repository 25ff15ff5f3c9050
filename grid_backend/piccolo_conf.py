"""Piccolo configuration: the engine comes from settings, one Piccolo app per domain."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from grid_backend.core.db import reuse_sqlite_connections
from grid_backend.infra.sqlite import KeptOpenEngine
from grid_backend.settings import get_settings


def _engine() -> PostgresEngine | SQLiteEngine:
    settings = get_settings()
    if settings.engine == "postgres":
        dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        return PostgresEngine(config={"dsn": dsn})
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    # plain selects on kept-open connections while GRID_SQLITE_REUSE_CONNECTIONS is on
    return KeptOpenEngine(
        path=str(settings.sqlite_path), timeout=30, reuse=reuse_sqlite_connections
    )


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
        "grid_backend.evacuation.piccolo_app",
        "grid_backend.open311.piccolo_app",
    ]
)
