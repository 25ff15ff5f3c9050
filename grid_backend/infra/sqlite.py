"""Piccolo's SQLite transactions and plain reads on sqlite3 connections kept open.

On SQLite, Piccolo opens a new connection (and a thread) for every query outside a
transaction and for every transaction: about 1.5 ms of CPU each, more than most queries cost.
Here two kinds of long-lived connections avoid that where it is safe: a write transaction runs
on one connection kept open (writes are serialised in this process anyway), and plain SELECTs
outside a transaction run on a few reading connections. Each statement on a reading
connection runs to its end in one step on that connection's thread, so it sees everything
committed before it started, as a new connection would.

Piccolo's own selects take the same reading connections through `KeptOpenEngine`, the engine
piccolo_conf.py builds for SQLite.

What this relies on inside Piccolo (checked by tests/infra/test_sqlite_contract.py against
the pinned version):
- `SQLiteTransaction.__aenter__` takes its connection from `get_connection()`, then calls
  `begin()`, then sets `engine.current_transaction` and keeps the token in `context`;
- `commit()`/`rollback()` set the private `_committed`/`_rolled_back` flags, which
  `__aexit__` reads (and this module's `__aexit__` replaces, without closing the connection);
- `SQLiteEngine.run_querystring` runs a query outside a transaction through
  `_run_in_new_connection(query, args, query_type, table)`, which returns the rows;
- Piccolo uses a transaction's connection only through `execute(sql, args)` (awaited or as an
  async context manager), its `row_factory`, and the cursor's `fetchall`/`fetchone`/`lastrowid`.

core/db.py uses this only while GRID_SQLITE_REUSE_CONNECTIONS is on (the default); off, it
uses Piccolo's own transactions and connections."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

MAX_READERS = 3


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

    def __init__(self, connection: Connection, sql: str, args: Any) -> None:
        self.connection, self.sql, self.args = connection, sql, args

    def __await__(self) -> Any:
        return self.connection.run(self.sql, self.args).__await__()

    async def __aenter__(self) -> _Cursor:
        return await self.connection.run(self.sql, self.args)

    async def __aexit__(self, *exc: object) -> None:
        return None


class Connection:
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

    async def run(self, sql: str, args: Any = None) -> _Cursor:
        def step(connection: sqlite3.Connection) -> _Cursor:
            if sql.startswith("PRAGMA foreign_keys"):  # set once, when the connection opened
                return _Cursor([], None)
            cursor = connection.execute(sql, args or ())
            return _Cursor(cursor.fetchall(), cursor.lastrowid)  # to the end: no open read

        cursor: _Cursor = await self.call(step)
        return cursor

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


_writer: Connection | None = None
_readers: list[Connection] = []


def _writer_for(db: SQLiteEngine) -> Connection:
    global _writer
    if _writer is None or not _writer.fresh(db.path):
        if _writer is not None:
            _writer.close()
        _writer = Connection(db.connection_kwargs)
    return _writer


def _drop_writer() -> None:
    global _writer
    if _writer is not None:
        _writer.close()
        _writer = None


def _reader_for(db: SQLiteEngine) -> Connection:
    """The least busy reading connection, a new one while all are busy (up to a few)."""
    for stale in [r for r in _readers if not r.fresh(db.path)]:
        _readers.remove(stale)
        stale.close()
    idle = min(_readers, key=lambda r: r.busy, default=None)
    if idle is None or (idle.busy and len(_readers) < MAX_READERS):
        idle = Connection(db.connection_kwargs)
        _readers.append(idle)
    return idle


class KeptOpenTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction on the long-lived writing connection, left open after."""

    connection: Connection  # set by __aenter__ from get_connection()

    async def get_connection(self) -> Connection:
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


def write_transaction(db: SQLiteEngine) -> KeptOpenTransaction:
    """An IMMEDIATE transaction on the kept-open writing connection (the caller serialises)."""
    return KeptOpenTransaction(db, transaction_type=TransactionType.immediate)


async def read(db: SQLiteEngine, sql: str, values: list[Any]) -> list[dict]:
    """The rows of one SELECT, outside any transaction, on a kept-open reading connection."""
    return (await _reader_for(db).run(sql, values)).rows


class KeptOpenEngine(SQLiteEngine):
    """Piccolo's SQLite engine whose plain SELECTs outside a transaction (every `select()`,
    `count()`, `exists()` and raw SELECT of the query builder) run on the kept-open reading
    connections instead of a new connection each, while `reuse()` says so (the setting,
    read at each query, so switching it off takes effect at once). Everything else (writes
    outside a transaction, DDL) goes through Piccolo unchanged."""

    def __init__(self, *, reuse: Callable[[], bool], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reuse = reuse

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        if self._reuse() and query.lstrip()[:6].upper() == "SELECT":
            return await read(self, query, list(args or ()))
        return await super()._run_in_new_connection(query, args, query_type, table)


def close_all() -> None:
    """Close every kept-open connection (the next use opens new ones)."""
    _drop_writer()
    while _readers:
        _readers.pop().close()
