"""Database helpers shared by every domain: write transactions and engine facts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.sqlite import TransactionType

_sqlite_write_lock: asyncio.Lock | None = None


def engine() -> Engine:
    db = engine_finder()
    assert db is not None, "piccolo_conf.py defines DB"
    return db


def is_postgres() -> bool:
    return engine().engine_type == "postgres"


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
        async with _sqlite_write_lock, db.transaction(transaction_type=TransactionType.immediate):
            yield
    else:
        async with db.transaction():
            yield


def _numbered(sql: str, count: int) -> str:
    return sql.format(*(f"${i}" for i in range(1, count + 1)))


async def fetch(sql: str, *args: object) -> list[dict]:
    """A hand-written query with `{}` placeholders, for the few hot paths where building a
    Piccolo query costs more than running it. On PostgreSQL it goes straight to the pool."""
    db = engine()
    pool = getattr(db, "pool", None)
    if db.engine_type == "postgres" and pool is not None and db.current_transaction.get() is None:
        async with pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(_numbered(sql, len(args)), *args)]
    from grid_backend.core.tables import GeoRevision  # any table: raw() is table-agnostic

    return await GeoRevision.raw(sql, *args).run()


def under(column: Any, paths: list[str]) -> Any:
    """Rows whose area path lies under any of these paths (None for no paths): a subtree
    test on the materialised path, indexed on PostgreSQL by the pattern indexes."""
    condition = None
    for p in paths:
        clause = column.like(p + "%")
        condition = clause if condition is None else condition | clause
    return condition
