"""Database helpers shared by every domain: write transactions, hand-written reads and
engine facts.

On SQLite, write_transaction() and fetch() run on connections kept open
(grid_backend/infra/sqlite.py) unless GRID_SQLITE_REUSE_CONNECTIONS is off; then they use
Piccolo's own transactions and a new connection per query."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString

from grid_backend.infra import sqlite as kept_open
from grid_backend.settings import get_settings

_sqlite_write_lock: asyncio.Lock | None = None


def engine() -> Engine:
    db = engine_finder()
    assert db is not None, "piccolo_conf.py defines DB"
    return db


def is_postgres() -> bool:
    return engine().engine_type == "postgres"


def _reuse_connections() -> bool:
    return get_settings().sqlite_reuse_connections


@asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """One write transaction; on SQLite taken IMMEDIATE and serialised, so concurrent
    read-then-write transactions queue instead of failing with 'database is locked'."""
    global _sqlite_write_lock
    db = engine()
    if db.current_transaction.get() is not None:  # nested: join the outer transaction
        yield
    elif db.engine_type == "sqlite":
        if _sqlite_write_lock is None:
            _sqlite_write_lock = asyncio.Lock()
        sqlite = cast(SQLiteEngine, db)  # engine_type says so; engine_finder() knows no more
        transaction = (
            kept_open.write_transaction(sqlite)
            if _reuse_connections()
            else sqlite.transaction(transaction_type=TransactionType.immediate)
        )
        async with _sqlite_write_lock, transaction:
            yield
    else:
        async with db.transaction():
            yield


async def fetch(query: str | QueryString, *args: object) -> list[dict]:
    """A hand-written query, for the few hot paths where building a Piccolo query costs more
    than running it: a `core.sql` fragment, or text with `{}` placeholders and its arguments.
    On PostgreSQL it goes straight to the pool."""
    compiled = query if isinstance(query, QueryString) else QueryString(query, *args)
    db = engine()
    sql, values = compiled.compile_string(engine_type=db.engine_type)
    pool = getattr(db, "pool", None)
    if db.engine_type == "postgres" and pool is not None and db.current_transaction.get() is None:
        async with pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(sql, *values)]
    if (
        db.engine_type == "sqlite"
        and db.current_transaction.get() is None
        and sql.lstrip()[:6].upper() == "SELECT"
        and _reuse_connections()
    ):
        return await kept_open.read(cast(SQLiteEngine, db), sql, values)
    from grid_backend.core.tables import GeoRevision  # any table: raw() is table-agnostic

    return await GeoRevision.raw(compiled.template, *compiled.args).run()


def under(column: Any, paths: list[str]) -> Any:
    """Rows whose area path lies under any of these paths (None for no paths): a subtree
    test on the materialised path, indexed on PostgreSQL by the pattern indexes."""
    condition = None
    for p in paths:
        clause = column.like(p + "%")
        condition = clause if condition is None else condition | clause
    return condition
