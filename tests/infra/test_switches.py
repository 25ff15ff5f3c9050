"""Each fenced piece of infrastructure can be switched off, back to the library's own way."""

from __future__ import annotations

import dataclasses

import pytest
from piccolo.engine.sqlite import SQLiteTransaction

from grid_backend.core import db as core_db
from grid_backend.core.tables import GeoRevision
from grid_backend.infra import sqlite as kept_open
from grid_backend.settings import get_settings, load_settings


def test_both_switches_are_on_by_default_and_read_from_the_environment():
    assert load_settings({}).sqlite_reuse_connections is True
    assert load_settings({}).notify_asyncio_network is True
    off = {"GRID_SQLITE_REUSE_CONNECTIONS": "off", "GRID_NOTIFY_ASYNCIO_NETWORK": "false"}
    assert load_settings(off).sqlite_reuse_connections is False
    assert load_settings(off).notify_asyncio_network is False


@pytest.mark.parametrize("reuse", [True, False])
async def test_sqlite_transactions_and_reads_follow_the_switch(db, monkeypatch, reuse: bool):
    """On SQLite the switch picks the kept-open connections or Piccolo's own; on PostgreSQL
    it changes nothing (the pool is Piccolo's either way)."""
    sqlite = db.engine_type == "sqlite"
    settings = dataclasses.replace(get_settings(), sqlite_reuse_connections=reuse)
    monkeypatch.setattr(core_db, "get_settings", lambda: settings)
    reads: list[str] = []
    real_read = kept_open.read

    async def read(engine, sql, values):
        reads.append(sql)
        return await real_read(engine, sql, values)

    monkeypatch.setattr(kept_open, "read", read)
    async with core_db.write_transaction():
        transaction = db.current_transaction.get()
        assert isinstance(transaction, SQLiteTransaction) == sqlite
        assert isinstance(transaction, kept_open.KeptOpenTransaction) == (sqlite and reuse)
        await GeoRevision.insert(GeoRevision(name="switch", revision=4)).run()
    rows = await core_db.fetch("SELECT revision FROM revision WHERE name = {}", "switch")
    assert rows == [{"revision": 4}]
    assert len(reads) == (1 if sqlite and reuse else 0)
    # the query builder's selects take the same road
    built = await GeoRevision.select(GeoRevision.revision).where(GeoRevision.name == "switch")
    assert built == [{"revision": 4}]
    assert await GeoRevision.count().where(GeoRevision.name == "switch") == 1
    assert len(reads) == (3 if sqlite and reuse else 0)
