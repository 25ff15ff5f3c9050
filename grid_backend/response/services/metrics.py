"""The response-time metrics (defined in docs/metrics.md)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy
from grid_backend.core.db import under
from grid_backend.core.errors import Forbidden, invalid
from grid_backend.core.types import AreaRef
from grid_backend.hazards.tables import HazardReport
from grid_backend.response.schemas import (
    TIERS,
    ByTier,
    Measure,
    ResponseFigures,
    ResponseGroup,
    ResponseStatsRead,
)
from grid_backend.response.services.common import DEFAULT_STATS_DAYS, MAX_STATS_DAYS
from grid_backend.response.services.reading import _waiting
from grid_backend.response.tables import ResponseRecord
from grid_backend.settings import get_settings


def median(values: list[float]) -> float | None:
    """The middle value; the mean of the two middle values for an even count."""
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    v = sorted(values)
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]


def _measure(values: list[float], target: int | None) -> Measure:
    within = None if target is None else sum(1 for x in values if x <= target)
    mid, p90 = median(values), percentile(values, 90)
    return Measure(
        count=len(values),
        target_minutes=target,
        within_target=within,
        share_within_target=round(within / len(values), 4)
        if within is not None and values
        else None,
        median_minutes=None if mid is None else round(mid, 2),
        p90_minutes=None if p90 is None else round(p90, 2),
    )


def figures(cases: list[dict[str, Any]], records: list[dict[str, Any]]) -> ResponseFigures:
    """The response figures of these urgent cases and their records (docs/metrics.md)."""
    s = get_settings()
    reaction_target = {"community": s.response_reaction_target_minutes}
    arrival_target = {
        "ground": s.response_ground_target_minutes,
        "air": s.response_air_target_minutes,
    }
    reaction: dict[str, list[float]] = {t: [] for t in TIERS}
    arrival: dict[str, list[float]] = {t: [] for t in TIERS}
    by_case: dict[int, list[dict[str, Any]]] = defaultdict(list)
    unacknowledged = not_arrived = unverified = 0
    for r in records:
        by_case[r["report"]].append(r)
        minutes = (
            (r["acknowledged_at"] - r["alerted_at"]).total_seconds() / 60
            if r["acknowledged_at"]
            else None
        )
        if minutes is not None:
            reaction[r["tier"]].append(minutes)
        if r["arrived_at"] is not None and r["arrival_verified"]:
            arrival[r["tier"]].append((r["arrived_at"] - r["alerted_at"]).total_seconds() / 60)
        elif r["arrived_at"] is not None:
            unverified += 1
        if r["status"] == "alerted":
            unacknowledged += 1
        elif r["status"] in ("acknowledged", "set_off"):
            not_arrived += 1
    return ResponseFigures(
        cases=len(cases),
        records=len(records),
        reaction=ByTier(**{t: _measure(reaction[t], reaction_target.get(t)) for t in TIERS}),
        arrival=ByTier(**{t: _measure(arrival[t], arrival_target.get(t)) for t in TIERS}),
        waiting_cases=sum(1 for c in cases if _waiting(c, by_case[c["id"]])),
        unacknowledged=unacknowledged,
        not_arrived=not_arrived,
        unverified_arrivals=unverified,
    )


def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=get_settings().zone).astimezone(UTC)


async def response_times(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    group_by: str = "township",
) -> ResponseStatsRead:
    """Reaction and arrival times of the urgent cases reported in the period (local dates,
    both included) inside the caller's areas, in total and by township or district."""
    paths = _stats_paths(grants, area_path)
    date_from, date_to = _period(date_from, date_to)
    start, end = _local_day_start(date_from), _local_day_start(date_to + timedelta(days=1))
    cases, records = await _urgent_cases(start, end, paths)
    key = "district" if group_by == "district" else "township"
    return ResponseStatsRead(
        date_from=date_from,
        date_to=date_to,
        timezone=get_settings().timezone,
        group_by=key,
        total=figures(cases, records),
        groups=await _groups(cases, records, key),
    )


def _stats_paths(grants: list[policy.Grant], area_path: str | None) -> list[str]:
    """The areas the figures cover: the one asked for, else all the caller may see."""
    if area_path is not None:
        policy.require(grants, "response.stats", area_path)
        return [area_path]
    paths = policy.scopes(grants, "response.stats")
    if not paths:
        raise Forbidden()
    return paths


def _period(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """The period asked for (the last DEFAULT_STATS_DAYS by default), checked."""
    date_to = date_to or clock.today()
    date_from = date_from or date_to - timedelta(days=DEFAULT_STATS_DAYS - 1)
    if date_from > date_to:
        raise invalid("from", "from is after to")
    if (date_to - date_from).days >= MAX_STATS_DAYS:
        raise invalid("from", "at most %(days)s days", params={"days": MAX_STATS_DAYS})
    return date_from, date_to


async def _urgent_cases(
    start: datetime, end: datetime, paths: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The urgent cases reported in [start, end) under the paths, and their response records."""
    cases = (
        await HazardReport.select(
            HazardReport.id,
            HazardReport.status,
            HazardReport.township,
            HazardReport.district,
        )
        .where(
            HazardReport.urgent.eq(True)
            & (HazardReport.created_at >= start)
            & (HazardReport.created_at < end)
            & under(HazardReport.area_path, paths)
        )
        .run()
    )
    records = (
        await ResponseRecord.select(
            ResponseRecord.report,
            ResponseRecord.tier,
            ResponseRecord.status,
            ResponseRecord.alerted_at,
            ResponseRecord.acknowledged_at,
            ResponseRecord.arrived_at,
            ResponseRecord.arrival_verified,
        )
        .where(
            ResponseRecord.report._.urgent.eq(True)
            & (ResponseRecord.report.created_at >= start)
            & (ResponseRecord.report.created_at < end)
            & under(ResponseRecord.report.area_path, paths)
        )
        .run()
    )
    return cases, records


async def _groups(
    cases: list[dict[str, Any]], records: list[dict[str, Any]], key: str
) -> list[ResponseGroup]:
    """The figures of each township (or district), in the order of its code."""
    group_of = {c["id"]: c[key] for c in cases}
    cases_by: dict[int, list[dict[str, Any]]] = defaultdict(list)
    records_by: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in cases:
        if c[key] is not None:
            cases_by[c[key]].append(c)
    for r in records:
        if group_of.get(r["report"]) is not None:
            records_by[group_of[r["report"]]].append(r)
    areas = (
        await Area.select(Area.id, Area.code, Area.name).where(Area.id.is_in(list(cases_by))).run()
        if cases_by
        else []
    )
    return [
        ResponseGroup(
            area=AreaRef(id=a["id"], code=a["code"], name=a["name"]),
            figures=figures(cases_by[a["id"]], records_by[a["id"]]),
        )
        for a in sorted(areas, key=lambda a: a["code"])
    ]
