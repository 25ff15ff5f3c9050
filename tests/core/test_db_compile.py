"""Hand-written queries compile to the same SQL and arguments as Piccolo's compile_string,
from the memo of their shape too (core/db.py)."""

from __future__ import annotations

from datetime import date

from grid_backend.core import db as core_db
from grid_backend.core.sql import TRUE, in_, q


def test_the_memo_gives_what_piccolo_gives_for_every_shape_and_engine():
    day = date(2026, 12, 5)
    queries = [
        q("SELECT {} AS a, {} AS b WHERE {}", 1, "x", TRUE),
        q("SELECT 1 WHERE {} AND {}", in_("id", [3, 4, 5]), q("(d > {} OR d = {})", day, day)),
        q("SELECT 1 WHERE {} AND {}", in_("id", [7]), q("(d > {} OR d = {})", day, day)),
        q("SELECT {}", "no placeholder for this one", "extra"),
    ]
    for engine_type in ("postgres", "sqlite"):
        for query in queries:
            expected = query.compile_string(engine_type=engine_type)
            assert core_db._compile(query, engine_type) == expected  # compiled, memo filled
            assert core_db._compile(query, engine_type) == expected  # from the memo
    # same shape, other values: the memo's text with these values
    other = q("SELECT {} AS a, {} AS b WHERE {}", 2, "y", TRUE)
    assert core_db._compile(other, "postgres") == other.compile_string(engine_type="postgres")
