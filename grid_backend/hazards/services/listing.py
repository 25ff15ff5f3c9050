"""Listing the cases a person may see: filters, sort orders and keyset cursors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from piccolo.columns.combination import WhereRaw
from piccolo.query import OrderByRaw
from piccolo.query.functions.aggregate import Count

from grid_backend.core import clock, policy, sql
from grid_backend.core.pagination import (
    decode,
    decode_cursor,
    decode_due_cursor,
    encode,
    encode_due_cursor,
    next_cursor,
)
from grid_backend.hazards import workflow
from grid_backend.hazards.schemas import ReportPage, ReportSummary
from grid_backend.hazards.services.reading import _status_text, overdue
from grid_backend.hazards.services.roles import _GRID_DUTIES, Actor
from grid_backend.hazards.tables import HazardEvent, HazardReport, ReportPhoto
from grid_backend.media.schemas import photo_urls


def _scope_condition(actor: Actor) -> Any:
    condition = (HazardReport.reporter == actor.account_id) | (
        HazardReport.assignee == actor.account_id
    )
    for path in policy.scopes(actor.grants, "report.read"):
        condition = condition | HazardReport.area_path.like(path + "%")
    # staff of a grid a case was dispatched to hold it as assignees (see roles_for)
    for g in actor.grants:
        if g.duty in _GRID_DUTIES:
            condition = condition | HazardReport.assigned_area.path.like(g.area_path + "%")
    return condition


@dataclass(frozen=True, slots=True)
class Filters:
    """What a list of cases is narrowed to (None: not narrowed)."""

    status: list[str] | None = None
    category: str | None = None
    level: str | None = None
    area_path: str | None = None
    assignee_id: int | None = None
    is_overdue: bool | None = None
    urgent: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None
    due_on: date | None = None  # the deadline falls on this local day
    dispatched_by: int | None = None  # someone dispatched it (any dispatch on its timeline)


_LIST_COLUMNS = (
    HazardReport.id,
    HazardReport.status,
    HazardReport.category,
    HazardReport.level,
    HazardReport.urgent,
    HazardReport.description,
    HazardReport.created_at,
    HazardReport.due_at,
    HazardReport.assignee,
    HazardReport.area_path,
    HazardReport.grid.name.as_alias("grid_name"),
)


async def list_reports(
    *,
    actor: Actor,
    mine: bool = False,
    status: list[str] | None = None,
    category: str | None = None,
    level: str | None = None,
    area_path: str | None = None,
    assignee_id: int | None = None,
    is_overdue: bool | None = None,
    urgent: bool | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    text: str | None = None,
    due_on: date | None = None,
    dispatched_by: int | None = None,
    sort: str = "newest",
    limit: int = 50,
    cursor: str | None = None,
) -> ReportPage:
    """Cases the person may see, filtered; newest first, oldest first, the nearest deadline
    first (cases without one last), or urgent cases first and then by deadline."""
    query = HazardReport.select(*_LIST_COLUMNS)
    query = (
        query.where(HazardReport.reporter == actor.account_id)
        if mine
        else query.where(_scope_condition(actor))
    )
    now = clock.now()
    filters = Filters(
        status=status,
        category=category,
        level=level,
        area_path=area_path,
        assignee_id=assignee_id,
        is_overdue=is_overdue,
        urgent=urgent,
        created_from=created_from,
        created_to=created_to,
        text=text,
        due_on=due_on,
        dispatched_by=dispatched_by,
    )
    query, cursor_out_of = _sorted(_filtered(query, filters, now), sort, cursor)
    rows = await query.limit(limit + 1).run()
    cursor_out = cursor_out_of(rows, limit)
    thumbs = await _first_photos([r["id"] for r in rows])
    return ReportPage(
        items=[_summary(r, actor, mine, thumbs, now) for r in rows],
        next_cursor=cursor_out,
    )


def _filtered(query: Any, f: Filters, now: datetime) -> Any:
    """The query narrowed by each filter given."""
    if f.status:
        query = query.where(HazardReport.status.is_in(f.status))
    if f.category:
        query = query.where(HazardReport.category == f.category)
    if f.level:
        query = query.where(HazardReport.level == f.level)
    if f.area_path:
        query = query.where(HazardReport.area_path.like(f.area_path + "%"))
    if f.assignee_id is not None:
        query = query.where(HazardReport.assignee == f.assignee_id)
    if f.urgent is not None:
        query = query.where(HazardReport.urgent.eq(f.urgent))
    if f.is_overdue is not None:
        query = query.where(_late(now) if f.is_overdue else _on_time(now))
    if f.created_from:
        query = query.where(HazardReport.created_at >= f.created_from)
    if f.created_to:
        query = query.where(HazardReport.created_at < f.created_to)
    if f.due_on is not None:
        start, end = clock.day_bounds(f.due_on)
        query = query.where((HazardReport.due_at >= start) & (HazardReport.due_at < end))
    if f.dispatched_by is not None:
        dispatches = HazardEvent.select(HazardEvent.report).where(
            (HazardEvent.action == "dispatch") & (HazardEvent.actor == f.dispatched_by)
        )
        query = query.where(HazardReport.id.is_in(dispatches))
    if f.text:
        # raw: SQLite has no default ESCAPE for LIKE
        pattern = f"%{_escape_like(f.text)}%"
        query = query.where(
            WhereRaw("{} ESCAPE '\\'", sql.ilike("hazard_report.description", pattern))
        )
    return query


def _late(now: datetime) -> Any:
    running = HazardReport.status.is_in(list(workflow.RUNNING))
    return HazardReport.due_at.is_not_null() & (HazardReport.due_at < now) & running


def _on_time(now: datetime) -> Any:
    return (
        HazardReport.due_at.is_null()
        | (HazardReport.due_at >= now)
        | (HazardReport.status.not_in(list(workflow.RUNNING)))
    )


def _summary(
    r: dict[str, Any],
    actor: Actor,
    mine: bool,
    thumbs: dict[int, int],
    now: datetime,
) -> ReportSummary:
    return ReportSummary(
        id=r["id"],
        status=r["status"],
        status_text=_status_text(r["status"]),
        category=r["category"],
        level=r["level"],
        urgent=r["urgent"],
        description=r["description"][:200],
        grid_name=r["grid_name"],
        created_at=r["created_at"],
        due_at=r["due_at"],
        overdue=overdue(r, now),
        # staff ids are for staff: not for a resident, even on their own case
        assignee_id=r["assignee"]
        if not mine
        and (
            policy.allows(actor.grants, "report.read", r["area_path"])
            or r["assignee"] == actor.account_id
        )
        else None,
        thumbnail_url=photo_urls(thumbs[r["id"]])[1] if r["id"] in thumbs else None,
    )


SORTS = ("newest", "oldest", "due", "urgent")


def _sorted(query: Any, sort: str, cursor: str | None) -> tuple[Any, Any]:
    """The query in the asked order from the cursor on, and how to make the next cursor.
    Keyset pagination throughout: by id; by (has no deadline, deadline, id) for "due"; by
    (not urgent, has no deadline, deadline, id) for "urgent"."""
    if sort == "oldest":
        after = decode_cursor(cursor)
        if after is not None:
            query = query.where(HazardReport.id > after)
        return query.order_by(HazardReport.id), next_cursor
    if sort == "due":
        return _by_deadline(query, cursor)
    if sort == "urgent":
        return _urgent_first(query, cursor)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(HazardReport.id < before)
    return query.order_by(HazardReport.id, ascending=False), next_cursor


# NULLs last on both engines (SQLite sorts them first by default)
_BY_DEADLINE = "hazard_report.due_at IS NULL, hazard_report.due_at, hazard_report.id"


def _after_deadline(due: datetime | None, last_id: int) -> Any:
    """Rows after (deadline, id) in the deadline order, deadlines first and then none."""
    if due is None:  # already among the cases without a deadline
        return HazardReport.due_at.is_null() & (HazardReport.id > last_id)
    return (
        (HazardReport.due_at > due)
        | ((HazardReport.due_at == due) & (HazardReport.id > last_id))
        | HazardReport.due_at.is_null()
    )


def _by_deadline(query: Any, cursor: str | None) -> tuple[Any, Any]:
    last = decode_due_cursor(cursor)
    if last is not None:
        query = query.where(_after_deadline(*last))

    def cursor_of(rows: list[dict[str, Any]], limit: int) -> str | None:
        if len(rows) <= limit:
            return None
        del rows[limit:]
        return encode_due_cursor(rows[-1]["due_at"], rows[-1]["id"])

    return query.order_by(OrderByRaw(_BY_DEADLINE)), cursor_of


def _urgent_first(query: Any, cursor: str | None) -> tuple[Any, Any]:
    """Urgent cases first, each group by the nearest deadline (none last), then by id."""
    last = decode(cursor, "u", "flag", "time?", "id")
    if last is not None:
        urgent, due, last_id = last
        later = _after_deadline(due, last_id)
        if urgent:  # the rest of the urgent cases, then every other case
            query = query.where(
                (HazardReport.urgent.eq(True) & later) | HazardReport.urgent.eq(False)
            )
        else:
            query = query.where(HazardReport.urgent.eq(False) & later)
    # CASE rather than the boolean itself: the same order on SQLite (0/1) and PostgreSQL
    ordered = query.order_by(
        OrderByRaw(f"CASE WHEN hazard_report.urgent THEN 0 ELSE 1 END, {_BY_DEADLINE}")
    )

    def cursor_of(rows: list[dict[str, Any]], limit: int) -> str | None:
        if len(rows) <= limit:
            return None
        del rows[limit:]
        row = rows[-1]
        return encode("u", int(bool(row["urgent"])), row["due_at"], row["id"])

    return ordered, cursor_of


async def open_cases_of(account_ids: list[int]) -> dict[int, int]:
    """How many open cases each of these people holds as assignee (the dispatch picker's
    load figure); people with none are left out."""
    if not account_ids:
        return {}
    rows = (
        await HazardReport.select(HazardReport.assignee, Count(HazardReport.id, alias="n"))
        .where(
            HazardReport.assignee.is_in(sorted(set(account_ids)))
            & HazardReport.status.is_in(sorted(workflow.OPEN))
        )
        .group_by(HazardReport.assignee)
        .run()
    )
    return {r["assignee"]: r["n"] for r in rows}


def _escape_like(text: str) -> str:
    # cut before escaping, so an escape is never cut in half
    return text[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _first_photos(report_ids: list[int]) -> dict[int, int]:
    if not report_ids:
        return {}
    rows = (
        await ReportPhoto.select(ReportPhoto.report, ReportPhoto.photo)
        .where(ReportPhoto.report.is_in(report_ids))
        .order_by(ReportPhoto.id)
        .run()
    )
    first: dict[int, int] = {}
    for r in rows:
        first.setdefault(r["report"], r["photo"])
    return first
