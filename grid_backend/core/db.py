"""Database helpers shared by every domain: write transactions and engine facts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
