"""Database helpers shared by every domain: write transactions and engine facts.

On SQLite, Piccolo opens a new connection (and a thread) for every query outside a
transaction and for every transaction: about 1.5 ms of CPU each, more than most queries cost.
Here two kinds of long-lived connections avoid that where it is safe: write_transaction() runs
on one connection kept open (writes are serialised in this process anyway), and fetch() runs
plain SELECTs outside a transaction on a few reading connections. Each statement on a reading
connection runs to its end in one step on that connection's thread, so it sees everything
committed before it started, as a new connection would."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.sqlite import SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

_sqlite_write_lock: asyncio.Lock | None = None
_MAX_READERS = 3


def engine() -> Engine:
    db = engine_finder()
    assert db is not None, "piccolo_conf.py defines DB"
    return db


def is_postgres() -> bool:
    return engine().engine_type == "postgres"


class _Cursor:
    """The rows of a statement that has already run (what Piccolo reads from a cursor)."""

    def __init__(self, rows: list[dict], lastrowid: int | None) -> None:
        self.rows = rows
        self.lastrowid = lastrowid

    async def fetchall(self) -> list[dict]:
        return self.rows

    async def fetchone(self) -> dict | None:
        return self.rows[0] if self.rows else None


class _Statement:
    """`await connection.execute(…)` and `async with connection.execute(…)`, as in aiosqlite."""

    def __init__(self, connection: _Connection, sql: str, args: Any) -> None:
        self.connection, self.sql, self.args = connection, sql, args

    def __await__(self) -> Any:
        return self.connection.run(self.sql, self.args).__await__()

    async def __aenter__(self) -> _Cursor:
        return await self.connection.run(self.sql, self.args)

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Connection:
    """One sqlite3 connection kept open, used only from its own thread. It offers the part of
    aiosqlite's interface that Piccolo's transactions use, so Piccolo queries run on it."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.path = str(kwargs["database"])
        self.inode = _inode(self.path)
        self.busy = 0
        self.row_factory: Any = dict_factory  # Piccolo sets it on every query: rows are dicts
        self._kwargs = {**kwargs, "check_same_thread": False}
        # a worker pool's thread ends cleanly when the interpreter exits (aiosqlite's would not)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._sqlite: sqlite3.Connection | None = None

    async def call(self, function: Callable[[sqlite3.Connection], Any]) -> Any:
        def job() -> Any:
            if self._sqlite is None:
                self._sqlite = sqlite3.connect(**self._kwargs)
                self._sqlite.row_factory = dict_factory
                self._sqlite.execute("PRAGMA foreign_keys = 1")
            return function(self._sqlite)

        self.busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, job)
        finally:
            self.busy -= 1

    def run(self, sql: str, args: Any = None) -> Any:
        def step(connection: sqlite3.Connection) -> _Cursor:
            if sql.startswith("PRAGMA foreign_keys"):  # set once, when the connection opened
                return _Cursor([], None)
            cursor = connection.execute(sql, args or ())
            return _Cursor(cursor.fetchall(), cursor.lastrowid)  # to the end: no open read

        return self.call(step)

    def execute(self, sql: str, args: Any = None) -> _Statement:
        return _Statement(self, sql, args)

    def fresh(self, path: str) -> bool:
        """Still the database file in use (tests delete and recreate it)."""
        return path == self.path and _inode(path) == self.inode

    def close(self) -> None:
        def shut() -> None:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None

        self._thread.submit(shut)  # after whatever is queued
        self._thread.shutdown(wait=False)


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


_writer: _Connection | None = None
_readers: list[_Connection] = []


def _writer_for(db: Any) -> _Connection:
    global _writer
    if _writer is None or not _writer.fresh(db.path):
        if _writer is not None:
            _writer.close()
        _writer = _Connection(db.connection_kwargs)
    return _writer


def _drop_writer() -> None:
    global _writer
    if _writer is not None:
        _writer.close()
        _writer = None


def _reader_for(db: Any) -> _Connection:
    """The least busy reading connection, a new one while all are busy (up to a few)."""
    for stale in [r for r in _readers if not r.fresh(db.path)]:
        _readers.remove(stale)
        stale.close()
    idle = min(_readers, key=lambda r: r.busy, default=None)
    if idle is None or (idle.busy and len(_readers) < _MAX_READERS):
        idle = _Connection(db.connection_kwargs)
        _readers.append(idle)
    return idle


class _KeptOpenTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction on the long-lived writing connection, left open after."""

    async def get_connection(self) -> Any:
        return _writer_for(self.engine)

    async def begin(self) -> None:
        def begin(connection: sqlite3.Connection) -> None:
            if connection.in_transaction:  # left open by a cancelled request: undo it
                connection.execute("ROLLBACK")
            connection.execute(f"BEGIN {self.transaction_type.value}")

        await self.connection.call(begin)

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        except BaseException:
            _drop_writer()  # in an unknown state: the next transaction opens a new one
            raise
        finally:
            self.engine.current_transaction.reset(self.context)
        return exception is None


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
        async with (
            _sqlite_write_lock,
            _KeptOpenTransaction(db, transaction_type=TransactionType.immediate),  # type: ignore[arg-type]
        ):
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
    ):
        return (await _reader_for(db).run(sql, values)).rows
    from grid_backend.core.tables import GeoRevision  # any table: raw() is table-agnostic

    return await GeoRevision.raw(compiled.template, *compiled.args).run()


def in_values(values: list[Any]) -> tuple[str, list[Any]]:
    """`IN (…)` for fetch(): the SQL after a column and its arguments, one array argument on
    PostgreSQL (one plan for any length), one placeholder a value on SQLite."""
    if is_postgres():
        return "= ANY({})", [list(values)]
    return f"IN ({', '.join('{}' for _ in values)})", list(values)


def under(column: Any, paths: list[str]) -> Any:
    """Rows whose area path lies under any of these paths (None for no paths): a subtree
    test on the materialised path, indexed on PostgreSQL by the pattern indexes."""
    condition = None
    for p in paths:
        clause = column.like(p + "%")
        condition = clause if condition is None else condition | clause
    return condition
