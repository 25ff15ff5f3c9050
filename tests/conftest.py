"""Test set-up: the environment is set before the app is imported (Piccolo caches its engine).

The suite runs once per engine: GRID_DATABASE_URL chooses it (the Makefile runs both)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_DATA = Path(tempfile.mkdtemp(prefix="grid-test-"))
os.environ.setdefault("GRID_DATABASE_URL", f"sqlite:///{_DATA}/test.sqlite3")
os.environ["GRID_DATA_DIR"] = str(_DATA)
os.environ["GRID_MEDIA_ROOT"] = str(_DATA / "media")
os.environ["GRID_SECRET_KEY"] = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
os.environ["GRID_PASSWORD_HASH_COST"] = "fast"
os.environ["GRID_INDEX_REFRESH_SECONDS"] = "0"
os.environ["GRID_PRODUCTION"] = "false"
os.environ["GRID_SCHEDULER"] = "false"  # tests run jobs by hand, on the test clock
os.environ["PICCOLO_CONF"] = "grid_backend.piccolo_conf"
sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
import pytest  # noqa: E402

from grid_backend.settings import get_settings  # noqa: E402

# hazard_category and sla_rule hold migration-seeded configuration: reset, not emptied
CONFIGURATION = frozenset({"hazard_category", "sla_rule"})


def _tables_to_empty() -> list[str]:
    """Every table of the registered Piccolo apps, those that reference others first (the
    order SQLite deletes in), so a new table is emptied between tests without being listed."""
    from piccolo.table import sort_table_classes

    from grid_backend.piccolo_conf import APP_REGISTRY

    tables = [t for app in APP_REGISTRY.app_configs.values() for t in app.table_classes]
    names = [t._meta.tablename for t in reversed(sort_table_classes(tables))]
    return [name for name in names if name not in CONFIGURATION]


TABLES = _tables_to_empty()


async def _reset_schema() -> None:
    from grid_backend.core.db import engine

    db = engine()
    if db.engine_type == "postgres":
        await db.run_ddl("DROP SCHEMA public CASCADE")
        await db.run_ddl("CREATE SCHEMA public")
    else:
        path = get_settings().sqlite_path
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


@pytest.fixture(scope="session")
async def database():
    """A freshly migrated database for the session (migrations tested on each engine)."""
    from grid_backend.core.db import engine
    from grid_backend.migrate import migrate

    db = engine()
    try:
        await db.run_ddl("SELECT 1")
    except Exception as exc:
        pytest.exit(f"database {get_settings().database_url} unreachable: {exc!r}", returncode=3)
    await _reset_schema()
    await migrate()
    if db.engine_type == "postgres":
        await db.start_connection_pool(min_size=2, max_size=8)
    yield db
    if db.engine_type == "postgres":
        await db.close_connection_pool()


@pytest.fixture
async def db(database):
    """Every test starts from empty tables and fresh in-process caches."""
    from grid_backend.areas.locate import grid_index
    from grid_backend.core import clock
    from grid_backend.core.revisions import reset_all
    from grid_backend.core.throttle import reset_throttle

    if database.engine_type == "postgres":
        await database.run_ddl(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    else:
        # a case merged into another is RESTRICT-referenced by it: unlink before deleting
        await database.run_ddl("UPDATE hazard_report SET merged_into = NULL")
        for table in TABLES:
            await database.run_ddl(f"DELETE FROM {table}")
    await database.run_ddl("DELETE FROM sla_rule WHERE category <> ''")
    await database.run_ddl(
        "UPDATE sla_rule SET triage_minutes = 60, acknowledge_minutes = 60, rectify_minutes ="
        " CASE WHEN level = 'general' THEN 4320 END"
    )
    grid_index.reset()
    reset_all()
    reset_throttle()
    clock.set_clock(None)
    yield database
    clock.set_clock(None)


@pytest.fixture(scope="session")
def app():
    from grid_backend.app import create_app

    return create_app(open_pool=False)


@pytest.fixture
async def client(db, app):
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
