"""The one SQL toolkit: hand-written queries composed from fragments that keep their arguments
apart from their text, so nothing is ever spliced into SQL with `.replace()` or an f-string
holding a value.

A query is a Piccolo `QueryString`: a template with `{}` placeholders and one argument for
each, where an argument may itself be a fragment (its text goes in, its arguments join the
list in order). `core.db.fetch` runs one, numbering the placeholders for the engine.

    rows = await fetch(q(
        "SELECT id FROM hazard_report WHERE {} AND {} AND status = {}",
        in_("area", area_ids), under("area_path", paths), "accepted",
    ))

Everything that differs between PostgreSQL and SQLite in hand-written SQL lives here: the
IN list (one array argument on PostgreSQL, one placeholder a value on SQLite), typed
placeholders, case-insensitive LIKE. Column and table names passed to these helpers are the
code's own identifiers, never input."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from piccolo.querystring import QueryString

from grid_backend.core.db import engine

__all__ = [
    "FALSE",
    "TRUE",
    "QueryString",
    "all_of",
    "any_of",
    "ilike",
    "in_",
    "join",
    "local_date",
    "postgres",
    "q",
    "text",
    "typed",
    "under",
    "values",
]


def postgres() -> bool:
    """The engine is PostgreSQL: for the few choices of strategy (batch sizes, counting in
    the server) that are not a difference in SQL text."""
    return engine().engine_type == "postgres"


def q(template: str, *args: Any) -> QueryString:
    """A fragment: `template` with a `{}` for each argument (a value or another fragment)."""
    return QueryString(template, *args)


def text(sql: str) -> QueryString:
    """Trusted SQL text with no arguments (a constant of the code, never input)."""
    if "{" in sql or "}" in sql:
        raise ValueError("SQL text with braces needs q() and its arguments")
    return QueryString(sql)


TRUE = QueryString("1 = 1")
FALSE = QueryString("1 = 0")


def join(parts: Sequence[QueryString], separator: str = ", ") -> QueryString:
    """Fragments one after another, with `separator` (trusted text) between them."""
    return QueryString(separator.join("{}" for _ in parts), *parts)


def all_of(*parts: QueryString | None) -> QueryString:
    """`(a AND b …)`; the parts that are None are left out, and none at all is true."""
    kept = [p for p in parts if p is not None]
    return QueryString("(" + " AND ".join("{}" for _ in kept) + ")", *kept) if kept else TRUE


def any_of(*parts: QueryString | None) -> QueryString:
    """`(a OR b …)`; the parts that are None are left out, and none at all is false."""
    kept = [p for p in parts if p is not None]
    return QueryString("(" + " OR ".join("{}" for _ in kept) + ")", *kept) if kept else FALSE


def in_(column: str, values: Iterable[Any]) -> QueryString:
    """`column IN (…)`: one array argument on PostgreSQL (one plan for any length), one
    placeholder a value on SQLite. An empty list matches nothing."""
    items = list(values)
    if not items:
        return FALSE
    if postgres():
        return QueryString(f"{column} = ANY({{}})", items)
    return QueryString(f"{column} IN (" + ", ".join("{}" for _ in items) + ")", *items)


def under(column: str, paths: Iterable[str]) -> QueryString:
    """Rows whose materialised area path lies under any of these paths (a subtree test,
    indexed on PostgreSQL by the pattern indexes). No paths matches nothing."""
    items = list(paths)
    if not items:
        return FALSE
    return QueryString(
        "(" + " OR ".join(f"{column} LIKE {{}}" for _ in items) + ")", *[p + "%" for p in items]
    )


def typed(value: Any, kind: str) -> QueryString:
    """A placeholder PostgreSQL needs typed where it cannot infer the type (a SELECT list,
    a CASE): `{}::kind` there, a bare placeholder on SQLite. `kind` is the code's own."""
    return QueryString("{}::" + kind if postgres() else "{}", value)


def ilike(column: str, pattern: str) -> QueryString:
    """Case-insensitive LIKE (SQLite's LIKE already is, for ASCII)."""
    return QueryString(f"{column} {'ILIKE' if postgres() else 'LIKE'} {{}}", pattern)


def local_date(column: str, timezone: str, offset_minutes: int) -> QueryString:
    """The local date of a UTC timestamp column: in the named zone on PostgreSQL; on SQLite
    (ISO text with its offset), shifted by the zone's UTC offset in minutes (exact for zones
    without daylight saving, such as Asia/Shanghai)."""
    if postgres():
        return QueryString(f"CAST(({column} AT TIME ZONE {{}}) AS DATE)", timezone)
    return QueryString(f"date({column}, {{}})", f"{offset_minutes:+d} minutes")


def values(rows: Sequence[Sequence[Any]]) -> QueryString:
    """`VALUES (…), (…)` for rows of equal width: placeholders only, every value an argument
    (SQLite takes at most 32,766 arguments a statement: chunk long lists)."""
    width = len(rows[0]) if rows else 0
    row = "(" + ", ".join(["{}"] * width) + ")"
    return QueryString("VALUES " + ", ".join([row] * len(rows)), *[v for r in rows for v in r])
