"""Database helpers shared by every domain: write transactions, hand-written reads and
engine facts.

On SQLite, write_transaction(), fetch() and the query builder's plain selects run on
connections kept open (grid_backend/infra/sqlite.py, the engine piccolo_conf.py builds) unless
GRID_SQLITE_REUSE_CONNECTIONS is off; then they use Piccolo's own transactions and a new
connection per query."""

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
_engine: Engine | None = None


def engine() -> Engine:
    """piccolo_conf's DB, looked up once: engine_finder() imports the conf module again on
    every call (5 % of an authenticated read's time, for an answer that never changes)."""
    global _engine
    if _engine is None:
        db = engine_finder()
        assert db is not None, "piccolo_conf.py defines DB"
        _engine = db
    return _engine


def is_postgres() -> bool:
    return engine().engine_type == "postgres"


def reuse_sqlite_connections() -> bool:
    """GRID_SQLITE_REUSE_CONNECTIONS: SQLite reads and write transactions on kept-open
    connections (infra/sqlite.py), read at each use."""
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
            if reuse_sqlite_connections()
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
    sql, values = _compile(compiled, db.engine_type)
    pool = getattr(db, "pool", None)
    if db.engine_type == "postgres" and pool is not None and db.current_transaction.get() is None:
        async with pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(sql, *values)]
    if (
        db.engine_type == "sqlite"
        and db.current_transaction.get() is None
        and sql.lstrip()[:6].upper() == "SELECT"
        and reuse_sqlite_connections()
    ):
        return await kept_open.read(cast(SQLiteEngine, db), sql, values)
    from grid_backend.core.tables import GeoRevision  # any table: raw() is table-agnostic

    return await GeoRevision.raw(compiled.template, *compiled.args).run()


# SQL text by the shape of a query (its templates, nested) and engine: Piccolo parses every
# template again at each compile, a tenth of a hand-written read's Python time. The shapes are
# the code's own queries (and IN lists by length), so the memo stays small; it is emptied if not.
_compiled: dict[tuple[str, tuple[Any, ...]], str] = {}


def _shape(query: QueryString) -> tuple[Any, ...]:
    return (
        query.template,
        *(_shape(a) if isinstance(a, QueryString) else None for a in query.args),
    )


def _values(query: QueryString, into: list[Any]) -> list[Any]:
    for a in query.args:
        if isinstance(a, QueryString):
            _values(a, into)
        else:
            into.append(a)
    return into


def _compile(query: QueryString, engine_type: str) -> tuple[str, list[Any]]:
    """What QueryString.compile_string gives, the text compiled once per shape."""
    key = (engine_type, _shape(query))
    sql = _compiled.get(key)
    values = _values(query, [])
    if sql is None:
        sql, compiled_values = query.compile_string(engine_type=engine_type)
        if len(compiled_values) != len(values) or any(
            a is not b for a, b in zip(compiled_values, values, strict=True)
        ):  # a template and its arguments that do not pair up: compiled each time
            return sql, compiled_values
        if len(_compiled) >= 2_000:
            _compiled.clear()
        _compiled[key] = sql
    return sql, values


def under(column: Any, paths: list[str]) -> Any:
    """Rows whose area path lies under any of these paths (None for no paths): a subtree
    test on the materialised path, indexed on PostgreSQL by the pattern indexes."""
    condition = None
    for p in paths:
        clause = column.like(p + "%")
        condition = clause if condition is None else condition | clause
    return condition
