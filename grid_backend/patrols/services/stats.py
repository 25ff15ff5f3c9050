"""Patrol statistics: completion and punctuality of the tasks of a period, in total and by
grid or by person."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy
from grid_backend.core.db import fetch
from grid_backend.core.errors import Forbidden, invalid
from grid_backend.core.pagination import decode_cursor, encode_cursor
from grid_backend.core.sql import TRUE, QueryString, q, text, under
from grid_backend.core.types import AreaRef
from grid_backend.patrols.schemas import StatsRead, StatsRow
from grid_backend.people.tables import Account

MAX_STATS_DAYS = 366

_STATS_SQL = (
    "SELECT {} COUNT(*) AS tasks,"
    " SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,"
    " SUM(CASE WHEN status = 'missed' AND excused_at IS NULL THEN 1 ELSE 0 END) AS missed,"
    " SUM(CASE WHEN excused_at IS NOT NULL THEN 1 ELSE 0 END) AS excused,"
    " SUM(CASE WHEN status IN ('scheduled', 'in_progress') THEN 1 ELSE 0 END) AS pending,"
    " SUM(CASE WHEN started_at IS NOT NULL THEN 1 ELSE 0 END) AS started,"
    " SUM(CASE WHEN started_on_time THEN 1 ELSE 0 END) AS on_time_starts,"
    " SUM(CASE WHEN assignee IS NULL THEN 1 ELSE 0 END) AS unassigned"
    " FROM patrol_task WHERE status <> 'cancelled'"
    " AND local_date >= {} AND local_date <= {} AND {}"
)
_GROUPED = "{} AND {} IS NOT NULL AND {} GROUP BY {} ORDER BY {} LIMIT {}"
_KEYS = {"grid": text("grid"), "assignee": text("assignee")}  # the columns grouped by


_NOT_COUNTS = {"completion_rate", "on_time_rate", "grid", "account_id", "account_name"}


def _row(r: dict[str, Any] | None) -> StatsRow:
    r = r or {}
    n: dict[str, Any] = {
        k: int(r.get(k) or 0) for k in StatsRow.__struct_fields__ if k not in _NOT_COUNTS
    }
    decided = n["completed"] + n["missed"]
    return StatsRow(
        **n,
        completion_rate=round(n["completed"] / decided, 4) if decided else None,
        on_time_rate=round(n["on_time_starts"] / n["started"], 4) if n["started"] else None,
    )


def _scope(grants: list[policy.Grant], area_path: str | None) -> list[str]:
    """The area paths counted: the one asked for (if the caller may review it), or all the
    caller's."""
    if area_path is not None:
        policy.require(grants, "patrol.review", area_path)
        return [area_path]
    paths = policy.scopes(grants, "patrol.review")
    if not paths:
        raise Forbidden()
    return paths


def _period(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """The period counted: the last seven days by default, at most MAX_STATS_DAYS."""
    date_to = date_to or clock.today()
    date_from = date_from or date_to - timedelta(days=6)
    if date_from > date_to:
        raise invalid("from", "from is after to")
    if (date_to - date_from).days >= MAX_STATS_DAYS:
        raise invalid("from", "at most %(days)s days", params={"days": MAX_STATS_DAYS})
    return date_from, date_to


async def _grouped(
    counted: QueryString, group_by: str, after: Any, limit: int
) -> list[dict[str, Any]]:
    """The counts per grid or per person (as `key`), a page of them in key order."""
    column = _KEYS["grid" if group_by == "grid" else "assignee"]
    later = TRUE if after is None else q("{} > {}", column, after)
    return await fetch(q(_GROUPED, counted, column, later, column, column, limit + 1))


async def _by_grid(rows: list[dict[str, Any]], keys: list[Any]) -> list[StatsRow]:
    areas = (
        {
            a["id"]: a
            for a in await Area.select(Area.id, Area.code, Area.name)
            .where(Area.id.is_in(keys))
            .run()
        }
        if keys
        else {}
    )
    items = []
    for r in rows:
        a = areas[r["key"]]
        item = _row(r)
        item.grid = AreaRef(id=a["id"], code=a["code"], name=a["name"])
        items.append(item)
    return items


async def _by_person(rows: list[dict[str, Any]], keys: list[Any]) -> list[StatsRow]:
    names = (
        {
            a["id"]: a["name"]
            for a in await Account.select(Account.id, Account.name)
            .where(Account.id.is_in(keys))
            .run()
        }
        if keys
        else {}
    )
    items = []
    for r in rows:
        item = _row(r)
        item.account_id = r["key"]
        item.account_name = names.get(r["key"])
        items.append(item)
    return items


async def stats(
    *,
    grants: list[policy.Grant],
    area_path: str | None,
    date_from: date | None,
    date_to: date | None,
    group_by: str,
    limit: int = 50,
    cursor: str | None = None,
) -> StatsRead:
    """Completion and punctuality of the tasks whose local date is in the period, inside the
    area (or the caller's whole area), in total and by grid or by person."""
    paths = _scope(grants, area_path)
    date_from, date_to = _period(date_from, date_to)
    totals = (await fetch(q(_STATS_SQL, text(""), date_from, date_to, under("area_path", paths))))[
        0
    ]
    key = _KEYS["grid" if group_by == "grid" else "assignee"]
    counted = q(_STATS_SQL, q("{} AS key,", key), date_from, date_to, under("area_path", paths))
    rows = await _grouped(counted, group_by, decode_cursor(cursor), limit)
    more = len(rows) > limit
    rows = rows[:limit]
    keys = [r["key"] for r in rows]
    items = await (_by_grid(rows, keys) if group_by == "grid" else _by_person(rows, keys))
    return StatsRead(
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        totals=_row(totals),
        unassigned=int(totals.get("unassigned") or 0),
        items=items,
        next_cursor=encode_cursor(keys[-1]) if more else None,
    )
