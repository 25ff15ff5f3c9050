"""What grid_backend/infra/sqlite.py relies on inside Piccolo, checked against the pinned
version. A failure here after an upgrade means: read the new SQLiteTransaction and
SQLiteEngine, adapt infra/sqlite.py (or run with GRID_SQLITE_REUSE_CONNECTIONS=false until
then), and update CHECKED_AGAINST."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import aiosqlite
import piccolo
import pytest
from piccolo.columns import Integer, Varchar
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType
from piccolo.table import Table

from grid_backend.infra import sqlite as kept_open

CHECKED_AGAINST = "1.38.0"


def test_the_pinned_piccolo_is_the_one_checked():
    assert piccolo.__VERSION__ == CHECKED_AGAINST, (
        f"Piccolo {piccolo.__VERSION__}: re-check grid_backend/infra/sqlite.py against it"
    )


def test_the_transaction_keeps_its_state_in_the_attributes_relied_on():
    slots = set(SQLiteTransaction.__slots__)
    assert {"engine", "context", "connection", "transaction_type"} <= slots
    assert {"_committed", "_rolled_back"} <= slots
    t = SQLiteTransaction(SQLiteEngine(path=":memory:"))
    assert t._committed is False
    assert t._rolled_back is False
    assert TransactionType.immediate.value == "IMMEDIATE"


def _parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]


def test_the_methods_overridden_have_the_signatures_expected():
    assert _parameters(SQLiteTransaction.__init__) == [
        ("self", inspect.Parameter.empty),
        ("engine", inspect.Parameter.empty),
        ("transaction_type", TransactionType.deferred),
        ("allow_nested", True),
    ]
    for name in ("get_connection", "begin", "commit", "rollback"):
        method = getattr(SQLiteTransaction, name)
        assert inspect.iscoroutinefunction(method), name
        assert _parameters(method) == [("self", inspect.Parameter.empty)], name
    assert [n for n, _ in _parameters(SQLiteTransaction.__aexit__)] == [
        "self",
        "exception_type",
        "exception",
        "traceback",
    ]
    assert [n for n, _ in _parameters(SQLiteEngine._run_in_existing_connection)] == [
        "self",
        "connection",
        "query",
        "args",
        "query_type",
        "table",
    ]
    assert _parameters(SQLiteEngine._run_in_new_connection) == [
        ("self", inspect.Parameter.empty),
        ("query", inspect.Parameter.empty),
        ("args", None),
        ("query_type", "generic"),
        ("table", None),
    ]
    engine = SQLiteEngine(path="/tmp/x.sqlite3")
    assert engine.connection_kwargs["database"] == engine.path == "/tmp/x.sqlite3"


class _Recorder:
    """A connection that records what Piccolo's transaction does with it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def execute(self, sql: str, *args: Any) -> None:
        self.calls.append(sql)

    async def close(self) -> None:
        self.calls.append("close")


class _Recorded(SQLiteTransaction):
    async def get_connection(self) -> Any:
        return _Recorder()


async def test_stock_enter_and_exit_do_what_the_override_repeats():
    """KeptOpenTransaction replaces __aexit__ (everything but closing the connection) and
    relies on __aenter__ calling get_connection() then begin(), then setting the context."""
    engine = SQLiteEngine(path=":memory:")

    t = _Recorded(engine, transaction_type=TransactionType.immediate)
    async with t:
        assert engine.current_transaction.get() is t
        assert t.context is not None
    assert t.connection.calls == ["BEGIN IMMEDIATE", "COMMIT", "close"]
    assert (t._committed, t._rolled_back) == (True, False)
    assert engine.current_transaction.get() is None

    t = _Recorded(engine, transaction_type=TransactionType.immediate)
    with pytest.raises(RuntimeError):
        async with t:
            raise RuntimeError("boom")
    assert t.connection.calls == ["BEGIN IMMEDIATE", "ROLLBACK", "close"]
    assert (t._committed, t._rolled_back) == (False, True)
    assert engine.current_transaction.get() is None

    t = _Recorded(engine)
    async with t:
        await t.commit()  # committed by hand: not again on exit
    assert t.connection.calls == ["BEGIN DEFERRED", "COMMIT", "close"]


class _Watched:
    """A kept-open connection that notes which of its attributes Piccolo touches."""

    def __init__(self, inner: kept_open.Connection) -> None:
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "touched", set())

    def __getattr__(self, name: str) -> Any:
        self.touched.add(name)
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.touched.add(name)
        setattr(self.inner, name, value)


async def test_piccolo_uses_a_transaction_connection_only_through_execute(tmp_path: Path):
    engine = SQLiteEngine(path=str(tmp_path / "contract.sqlite3"))
    connection = kept_open.Connection(engine.connection_kwargs)
    watched = _Watched(connection)
    try:
        await engine._run_in_existing_connection(watched, "CREATE TABLE t (n INTEGER)")
        await engine._run_in_existing_connection(watched, "INSERT INTO t VALUES (?)", [7])
        rows = await engine._run_in_existing_connection(
            watched, "INSERT INTO t VALUES (?) RETURNING n", [8], query_type="insert"
        )
        assert rows == [{"n": 8}]
        rows = await engine._run_in_existing_connection(watched, "SELECT n FROM t ORDER BY n")
        assert rows == [{"n": 7}, {"n": 8}]
    finally:
        connection.close()
    assert watched.touched <= {"execute", "row_factory"}


async def test_piccolo_queries_run_in_a_kept_open_transaction(tmp_path: Path):
    """End to end on a database of its own: Piccolo's query builder inside the kept-open
    transaction, commit, rollback, a savepoint, and reads on the reading connections."""
    engine = SQLiteEngine(path=str(tmp_path / "kept.sqlite3"))

    class Probe(Table, db=engine):
        name = Varchar()
        n = Integer()

    try:
        await Probe.create_table().run()
        async with kept_open.write_transaction(engine) as t:
            assert isinstance(t, kept_open.KeptOpenTransaction)
            await Probe.insert(Probe(name="a", n=1)).run()
            savepoint = await t.savepoint()
            await Probe.insert(Probe(name="b", n=2)).run()
            await savepoint.rollback_to()
            assert await Probe.count().run() == 1

        async def failing() -> None:
            async with kept_open.write_transaction(engine):
                await Probe.insert(Probe(name="c", n=3)).run()
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await failing()
        assert engine.current_transaction.get() is None
        rows = await kept_open.read(engine, "SELECT name, n FROM probe ORDER BY n", [])
        assert rows == [{"name": "a", "n": 1}]
        assert await Probe.select(Probe.name).run() == [{"name": "a"}]  # a new connection
    finally:
        kept_open.close_all()


async def test_the_query_builder_reads_on_kept_open_connections(tmp_path: Path, monkeypatch):
    """KeptOpenEngine: selects, counts and raw SELECTs of the query builder outside a
    transaction open no connection of their own (aiosqlite is never asked for one), and see
    what was committed before them; writes outside a transaction still take Piccolo's road."""
    reuse = [True]
    engine = kept_open.KeptOpenEngine(path=str(tmp_path / "reads.sqlite3"), reuse=lambda: reuse[0])

    class Probe(Table, db=engine):
        name = Varchar()
        n = Integer()

    try:
        await Probe.create_table().run()
        await Probe.insert(Probe(name="a", n=1)).run()  # outside a transaction: Piccolo's own
        async with kept_open.write_transaction(engine):
            await Probe.insert(Probe(name="b", n=2)).run()
        opened: list[str] = []
        real_connect = aiosqlite.connect

        def connect(*args: Any, **kwargs: Any) -> Any:
            opened.append("connection")
            return real_connect(*args, **kwargs)

        monkeypatch.setattr(aiosqlite, "connect", connect)
        assert await Probe.select(Probe.name).order_by(Probe.n).run() == [
            {"name": "a"},
            {"name": "b"},
        ]
        assert await Probe.count().where(Probe.n > 1).run() == 1
        assert await Probe.raw("SELECT max(n) AS m FROM probe").run() == [{"m": 2}]
        assert opened == []
        reuse[0] = False  # the switch, read at each query
        assert await Probe.count().run() == 2
        assert opened == ["connection"]
    finally:
        kept_open.close_all()
