"""The console's dashboard figures and the review of reward points, inside the caller's areas.
Each figure is defined in docs/dashboard.md; the response times come from grid_backend.response
(docs/metrics.md), patrol completion from grid_backend.patrols, duty coverage from
grid_backend.areas."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from piccolo.query.functions.aggregate import Count, Sum
from piccolo.querystring import QueryString

from grid_backend.areas import services as areas
from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy, sql
from grid_backend.core.db import fetch, under
from grid_backend.core.errors import Forbidden, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.types import AreaRef
from grid_backend.hazards import workflow
from grid_backend.hazards.tables import HazardReport, PointsEntry
from grid_backend.patrols import services as patrols
from grid_backend.people.phones import mask_phone
from grid_backend.response import services as response
from grid_backend.settings import get_settings
from grid_backend.stats.schemas import (
    CaseFigures,
    ChannelCount,
    Coverage,
    DashboardRead,
    PatrolToday,
    PointsEntryRow,
    PointsReview,
    Rectification,
    TrendDay,
)

MAX_DAYS = 366
DEFAULT_DAYS = 30
# accepted as a hazard: triaged and not turned away (reopened cases count again)
ACCEPTED = ("registered", "dispatched", "in_progress", "suspended", "pending_check", "closed")


def period(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """The local dates of a period, both included: the last 30 days by default."""
    date_to = date_to or clock.today()
    date_from = date_from or date_to - timedelta(days=DEFAULT_DAYS - 1)
    if date_from > date_to:
        raise invalid("from", "from is after to")
    if (date_to - date_from).days >= MAX_DAYS:
        raise invalid("from", "at most %(days)s days", params={"days": MAX_DAYS})
    return date_from, date_to


def day_start(day: date) -> datetime:
    """The UTC instant a local day begins."""
    return datetime.combine(day, time(0), tzinfo=get_settings().zone).astimezone(UTC)


def scope_paths(grants: list[policy.Grant], area_path: str | None, action: str) -> list[str]:
    """The area paths a figure covers: the area asked for (if the caller covers it) or every
    area the caller holds the right in."""
    if area_path is not None:
        policy.require(grants, action, area_path)
        return [area_path]
    paths = policy.scopes(grants, action)
    if not paths:
        raise Forbidden()
    return paths


async def _roots(paths: list[str]) -> list[dict[str, Any]]:
    rows = (
        await Area.select(Area.id, Area.code, Area.name, Area.path)
        .where(Area.path.is_in(paths))
        .order_by(Area.code)
        .run()
    )
    return rows


def _ref(row: dict[str, Any]) -> AreaRef:
    return AreaRef(id=row["id"], code=row["code"], name=row["name"])


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def case_figures(paths: list[str]) -> CaseFigures:
    """Open cases now, by stage, and the overdue ones."""
    scope = under(HazardReport.area_path, paths)
    open_rows = (
        await HazardReport.select(
            HazardReport.status, HazardReport.level, HazardReport.urgent, Count(alias="n")
        )
        .where(scope & HazardReport.status.is_in(sorted(workflow.OPEN)))
        .group_by(HazardReport.status, HazardReport.level, HazardReport.urgent)
        .run()
    )
    overdue = (
        await HazardReport.count()
        .where(
            scope
            & HazardReport.status.is_in(list(workflow.RUNNING))
            & HazardReport.due_at.is_not_null()
            & (HazardReport.due_at < clock.now())
        )
        .run()
    )

    def count(**match: Any) -> int:
        return sum(
            r["n"]
            for r in open_rows
            if all(r[k] in v if isinstance(v, tuple) else r[k] == v for k, v in match.items())
        )

    return CaseFigures(
        open=count(),
        overdue=overdue,
        awaiting_triage=count(status="submitted"),
        in_rectification=count(status=("dispatched", "in_progress")),
        pending_check=count(status="pending_check"),
        suspended=count(status="suspended"),
        urgent_open=count(urgent=True),
        major_open=count(level="major"),
    )


async def rectification(paths: list[str], date_from: date, date_to: date) -> Rectification:
    """Of the hazards reported in the period and accepted, the share closed now."""
    rows = (
        await HazardReport.select(HazardReport.status, HazardReport.level, Count(alias="n"))
        .where(
            under(HazardReport.area_path, paths)
            & HazardReport.status.is_in(list(ACCEPTED))
            & (HazardReport.created_at >= day_start(date_from))
            & (HazardReport.created_at < day_start(date_to + timedelta(days=1)))
        )
        .group_by(HazardReport.status, HazardReport.level)
        .run()
    )
    accepted = sum(r["n"] for r in rows)
    closed = sum(r["n"] for r in rows if r["status"] == "closed")
    major = sum(r["n"] for r in rows if r["level"] == "major")
    major_closed = sum(r["n"] for r in rows if r["level"] == "major" and r["status"] == "closed")
    target = get_settings().rectification_target_percent / 100
    rate = _rate(closed, accepted)
    return Rectification(
        accepted=accepted,
        closed=closed,
        rate=rate,
        target=round(target, 4),
        met=None if rate is None else rate >= target,
        major_accepted=major,
        major_closed=major_closed,
        major_rate=_rate(major_closed, major),
    )


async def by_channel(paths: list[str], date_from: date, date_to: date) -> list[ChannelCount]:
    """Cases reported in the period by the channel they came through, most first."""
    rows = (
        await HazardReport.select(HazardReport.channel, Count(alias="n"))
        .where(
            under(HazardReport.area_path, paths)
            & (HazardReport.created_at >= day_start(date_from))
            & (HazardReport.created_at < day_start(date_to + timedelta(days=1)))
        )
        .group_by(HazardReport.channel)
        .run()
    )
    ordered = sorted(rows, key=lambda r: (-r["n"], r["channel"]))
    return [ChannelCount(channel=r["channel"], cases=r["n"]) for r in ordered]


async def patrols_today(grants: list[policy.Grant], area_path: str | None) -> PatrolToday | None:
    """Today's patrol tasks in the area (None if the caller may not review patrols)."""
    today = clock.today()
    try:
        read = await patrols.stats(
            grants=grants,
            area_path=area_path,
            date_from=today,
            date_to=today,
            group_by="grid",
            limit=1,
        )
    except Forbidden:
        return None
    t = read.totals
    return PatrolToday(
        date=today,
        tasks=t.tasks,
        completed=t.completed,
        missed=t.missed,
        excused=t.excused,
        pending=t.pending,
        completion_rate=t.completion_rate,
        done_share=_rate(t.completed, t.tasks),
    )


async def coverage(grants: list[policy.Grant], roots: list[dict[str, Any]]) -> Coverage:
    """Duty coverage of the grids below each area of the scope, added up."""
    totals = dict(grids=0, fully=0, leader=0, worker=0, officer=0)
    for root in roots:
        try:
            c = await areas.coverage(area_id=root["id"], grants=grants, limit=1, cursor=None)
        except Forbidden:
            continue
        totals["grids"] += c.grids
        totals["fully"] += c.fully_covered
        totals["leader"] += c.lacking_grid_leader
        totals["worker"] += c.lacking_grid_worker
        totals["officer"] += c.lacking_emergency_officer
    return Coverage(
        date=clock.today(),
        grids=totals["grids"],
        fully_covered=totals["fully"],
        share=_rate(totals["fully"], totals["grids"]),
        lacking_grid_leader=totals["leader"],
        lacking_grid_worker=totals["worker"],
        lacking_emergency_officer=totals["officer"],
    )


def _local_day(column: str, day: date) -> QueryString:
    """The local date of a UTC timestamp column, with the zone's offset on `day` (SQLite)."""
    s = get_settings()
    offset = s.zone.utcoffset(datetime.combine(day, time(12)))
    minutes = int(offset.total_seconds() // 60) if offset else 0
    return sql.local_date(column, s.timezone, minutes)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


_DAILY_SQL = (
    "SELECT {} AS day, COUNT(*) AS n FROM hazard_report"
    " WHERE {} >= {} AND {} < {} AND {} GROUP BY day"
)


async def _daily(column: str, paths: list[str], date_from: date, date_to: date) -> dict[date, int]:
    # the column is one of two names written here; every value is a parameter
    name = sql.text(column)
    query = sql.q(
        _DAILY_SQL,
        _local_day(column, date_from),
        name,
        day_start(date_from),
        name,
        day_start(date_to + timedelta(days=1)),
        sql.under("area_path", paths),
    )
    return {_as_date(r["day"]): int(r["n"]) for r in await fetch(query)}


_PATROL_DAILY_SQL = (
    "SELECT local_date AS day, COUNT(*) AS tasks,"
    " SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,"
    " SUM(CASE WHEN status = 'missed' AND excused_at IS NULL THEN 1 ELSE 0 END) AS missed"
    " FROM patrol_task WHERE status <> 'cancelled' AND local_date >= {} AND local_date <= {}"
    " AND {} GROUP BY local_date"
)


async def trend(paths: list[str], date_from: date, date_to: date) -> list[TrendDay]:
    """Per local day of the period: cases reported and closed, patrol tasks done and missed."""
    reported = await _daily("created_at", paths, date_from, date_to)
    closed = await _daily("closed_at", paths, date_from, date_to)
    query = sql.q(_PATROL_DAILY_SQL, date_from, date_to, sql.under("area_path", paths))
    tasks = {_as_date(r["day"]): r for r in await fetch(query)}
    days = []
    day = date_from
    while day <= date_to:
        t = tasks.get(day) or {}
        days.append(
            TrendDay(
                date=day,
                reported=reported.get(day, 0),
                closed=closed.get(day, 0),
                patrol_tasks=int(t.get("tasks") or 0),
                patrol_completed=int(t.get("completed") or 0),
                patrol_missed=int(t.get("missed") or 0),
            )
        )
        day += timedelta(days=1)
    return days


async def dashboard(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> DashboardRead:
    """Every figure of the console's dashboard for an area (or the caller's whole area) and a
    period of local dates (docs/dashboard.md)."""
    paths = scope_paths(grants, area_path, "stats.read")
    date_from, date_to = period(date_from, date_to)
    roots = await _roots(paths)
    try:
        times = await response.response_times(
            grants=grants, area_path=area_path, date_from=date_from, date_to=date_to
        )
        response_figures = times.total
    except Forbidden:  # grid leaders and instructors do not read response times
        response_figures = None
    return DashboardRead(
        area=_ref(roots[0]) if area_path is not None and roots else None,
        scope=[_ref(r) for r in roots],
        date_from=date_from,
        date_to=date_to,
        timezone=get_settings().timezone,
        generated_at=clock.now(),
        cases=await case_figures(paths),
        rectification=await rectification(paths, date_from, date_to),
        patrols_today=await patrols_today(grants, area_path),
        coverage=await coverage(grants, roots),
        response=response_figures,
        trend=await trend(paths, date_from, date_to),
        channels=await by_channel(paths, date_from, date_to),
    )


# --- reward points ---------------------------------------------------------------------------


async def points_review(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    account_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> PointsReview:
    """Reward entries for cases inside the caller's areas, newest first, with the totals of
    everything matching the filters."""
    paths = scope_paths(grants, area_path, "points.review")
    date_from, date_to = period(date_from, date_to)
    where = (
        under(PointsEntry.report.area_path, paths)
        & (PointsEntry.created_at >= day_start(date_from))
        & (PointsEntry.created_at < day_start(date_to + timedelta(days=1)))
    )
    if account_id is not None:
        where = where & (PointsEntry.account == account_id)

    async def total(condition: Any) -> int:
        row = await PointsEntry.select(Sum(PointsEntry.delta, alias="s")).where(condition).first()
        return int((row or {}).get("s") or 0)

    people = (
        await PointsEntry.select(Count(distinct=[PointsEntry.account], alias="n"))
        .where(where)
        .first()
    )
    query = PointsEntry.select(
        *PointsEntry.all_columns(),
        PointsEntry.account.name.as_alias("account_name"),
        PointsEntry.account.phone.as_alias("account_phone"),
        PointsEntry.report._.grid._.name.as_alias("grid_name"),
    ).where(where)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(PointsEntry.id < before)
    rows = await query.order_by(PointsEntry.id, ascending=False).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    return PointsReview(
        total_awarded=await total(where & (PointsEntry.delta > 0)),
        total_deducted=await total(where & (PointsEntry.delta < 0)),
        people=int((people or {}).get("n") or 0),
        entries=[
            PointsEntryRow(
                id=r["id"],
                account_id=r["account"],
                account_name=r["account_name"] or "",
                account_phone=mask_phone(r["account_phone"] or ""),
                delta=r["delta"],
                reason=r["reason"],
                report_id=r["report"],
                grid_name=r["grid_name"],
                note=r["note"],
                created_at=r["created_at"],
            )
            for r in rows
        ],
        next_cursor=cursor_out,
    )
