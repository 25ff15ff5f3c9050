"""The SQL toolkit on the engine under test: fragments nest, every value travels as an argument
(so a quote or a wildcard in a value is data, never SQL), and empty lists match nothing. And a
guard: no module splices SQL text by string replacement or asks the engine type itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from grid_backend.core import sql
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.tables import GeoRevision

NAMES = ["a/b/", "a/b/c/", "a/x/", "o'brien%/", "z/"]
_SELECT = "SELECT name FROM revision WHERE {} ORDER BY name"


async def _names(condition: sql.QueryString) -> list[str]:
    return [r["name"] for r in await fetch(sql.q(_SELECT, condition))]


async def _seed() -> None:
    async with write_transaction():
        for i, name in enumerate(NAMES):
            await GeoRevision.insert(GeoRevision(name=name, revision=i)).run()


async def test_fragments_nest_and_keep_values_as_arguments(db):
    await _seed()
    assert await _names(sql.in_("name", ["a/b/", "o'brien%/", "nobody"])) == ["a/b/", "o'brien%/"]
    assert await _names(sql.in_("name", [])) == []
    assert await _names(sql.under("name", ["a/"])) == ["a/b/", "a/b/c/", "a/x/"]
    assert await _names(sql.under("name", ["a/b/", "z/"])) == ["a/b/", "a/b/c/", "z/"]
    assert await _names(sql.under("name", [])) == []
    both = sql.all_of(sql.under("name", ["a/"]), sql.q("revision >= {}", 1), None)
    assert await _names(both) == ["a/b/c/", "a/x/"]
    either = sql.any_of(sql.in_("name", ["z/"]), sql.q("revision = {}", 0))
    assert await _names(either) == ["a/b/", "z/"]
    assert await _names(sql.all_of()) == sorted(NAMES)
    assert await _names(sql.any_of()) == []
    assert await _names(sql.ilike("name", "A/B/%")) == ["a/b/", "a/b/c/"]


async def test_typed_placeholders_and_values_lists_work_on_both_engines(db):
    rows = await fetch(
        sql.q("SELECT {} AS n, {} AS label", sql.typed(7, "int"), sql.typed("x'y", "text"))
    )
    assert (rows[0]["n"], rows[0]["label"]) == (7, "x'y")
    listed = await fetch(
        sql.q(
            "SELECT COUNT(*) AS n FROM ({}) AS v", sql.values([("1", "a"), ("2", "b"), ("3", "c")])
        )
    )
    assert listed[0]["n"] == 3
    evening = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)  # already the 6th in Chongqing
    local = await fetch(
        sql.q(
            "SELECT {} AS day FROM (SELECT {} AS at) AS t",
            sql.local_date("t.at", "Asia/Shanghai", 480),
            sql.typed(evening, "timestamptz"),
        )
    )
    assert str(local[0]["day"]) == "2026-12-06"


def test_text_refuses_braces():
    try:
        sql.text("SELECT '{}'")
    except ValueError:
        return
    raise AssertionError("text() must refuse braces: they are placeholders")


ROOT = Path(__file__).resolve().parents[2] / "grid_backend"
_SPLICE = re.compile(r"\b_?[A-Z][A-Z0-9_]{2,}\s*\.replace\(")  # an SQL constant edited as text


def test_no_module_splices_sql_or_asks_the_engine_itself():
    spliced, asked = [], []
    for path in ROOT.rglob("*.py"):
        if "piccolo_migrations" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        if _SPLICE.search(source):
            spliced.append(path.name)
        if "is_postgres()" in source and path.name not in ("db.py", "sql.py"):
            asked.append(path.name)
    assert spliced == [], "compose SQL from core.sql fragments, never by .replace()"
    assert asked == [], "dialect choices live in core.sql (sql.postgres() for strategy)"
