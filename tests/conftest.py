"""Test set-up: the environment is set before the app is imported (Piccolo caches its engine).

The suite runs once per engine: GRID_DATABASE_URL chooses it (the Makefile runs both)."""

from __future__ import annotations

import contextlib
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

import aiosqlite  # noqa: E402
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
# a case merged into another is RESTRICT-referenced by it: unlink before deleting
_EMPTY_SQLITE = "UPDATE hazard_report SET merged_into = NULL;" + "".join(
    f" DELETE FROM {t};" for t in TABLES
)
_EMPTY_POSTGRES = (
    _EMPTY_SQLITE
    + " SELECT setval(pg_get_serial_sequence(t, 'id'), 1, false) FROM unnest(ARRAY["
    + ", ".join(f"'{t}'" for t in TABLES)
    + "]) AS t;"
)


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


async def _empty(database) -> None:
    """Empty the tables and forget this process's caches of them."""
    from grid_backend.areas.locate import grid_index
    from grid_backend.core import clock
    from grid_backend.core.revisions import reset_all
    from grid_backend.core.throttle import close_throttle

    if database.engine_type == "postgres":
        # one round trip of DELETEs (children first) and sequence resets: a TRUNCATE of every
        # table took 260 ms a test, these 7; should an order ever not do, TRUNCATE does
        try:
            async with database.pool.acquire() as connection:
                await connection.execute(_EMPTY_POSTGRES)
        except Exception:
            await database.run_ddl(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    else:
        # one script on one connection (a statement each took 175 ms a test, this 22)
        async with aiosqlite.connect(database.connection_kwargs["database"]) as connection:
            await connection.executescript(_EMPTY_SQLITE)
    await database.run_ddl("DELETE FROM sla_rule WHERE category <> ''")
    await database.run_ddl(
        "UPDATE sla_rule SET triage_minutes = 60, acknowledge_minutes = 60, rectify_minutes ="
        " CASE WHEN level = 'general' THEN 4320 END"
    )
    grid_index.reset()
    reset_all()
    # a test's Redis-backed counters: their connections closed, not left to the GC (a pool
    # made on another loop, a server's, is dropped as before)
    with contextlib.suppress(Exception):
        await close_throttle()
    clock.set_clock(None)


@pytest.fixture(scope="session")
def empty_database(database):
    """The db fixture's reset as a function, for fixtures wider than one test (server processes
    shared by a module's tests): `await empty_database()`."""

    async def empty() -> None:
        await _empty(database)

    return empty


@pytest.fixture
async def db(database):
    """Every test starts from empty tables and fresh in-process caches."""
    from grid_backend.core import clock

    await _empty(database)
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


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server for the session (tests/s3server.py). It must start: a failure fails
    the tests that need it, in CI and on a developer's machine alike, never a skip."""
    from s3server import start_moto

    try:
        endpoint, stop = start_moto()
    except Exception as exc:
        pytest.fail(f"the S3-protocol server (moto_server) did not start: {exc!r}")
    yield endpoint
    stop()


@pytest.fixture(params=["local", "s3"])
def photo_store(request):
    """The same test with photos on local disk and in the S3-protocol server."""
    from grid_backend.media import storage

    if request.param == "s3":
        from s3server import BUCKET

        from grid_backend.media.objectstore import S3Store

        store = S3Store(
            bucket=BUCKET, endpoint_url=request.getfixturevalue("s3_endpoint"), prefix="photos"
        )
    else:
        store = storage.LocalStore()
    storage.set_store(store)
    yield store
    storage.set_store(None)


@pytest.fixture
def s3_store(s3_endpoint):
    """Photos in the S3-protocol server, under a key prefix of this test's own."""
    import uuid

    from s3server import BUCKET

    from grid_backend.media import storage
    from grid_backend.media.objectstore import S3Store

    store = S3Store(bucket=BUCKET, endpoint_url=s3_endpoint, prefix=f"t-{uuid.uuid4().hex[:12]}")
    storage.set_store(store)
    yield store
    storage.set_store(None)
