"""Dashboard test data built by hand: cases, patrol tasks and response records written straight
into their tables at chosen times, so each figure can be checked against a count made here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from factories import D1, POINT_IN, T1, T2

from grid_backend.areas.tables import Area
from grid_backend.hazards.tables import HazardReport
from grid_backend.patrols.tables import PatrolPlan, PatrolTask
from grid_backend.response.tables import ResponseRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


async def add_case(
    grid: str,
    status: str,
    created: datetime,
    *,
    level: str = "general",
    urgent: bool = False,
    due: datetime | None = None,
    closed: datetime | None = None,
    reporter: int | None = None,
    assignee: int | None = None,
    description: str = "楼道堆放杂物",
) -> int:
    area = await Area.select(Area.id, Area.path).where(Area.code == grid).first().run()
    lat, lng = POINT_IN[grid]
    row = (
        await HazardReport.insert(
            HazardReport(
                reporter=reporter,
                category="fire",
                level=level,
                description=description,
                urgent=urgent,
                lat=lat,
                lng=lng,
                sent_lat=lat,
                sent_lng=lng,
                grid=area["id"],
                area_path=area["path"],
                status=status,
                assignee=assignee,
                due_at=due,
                created_at=created,
                updated_at=created,
                registered_at=created + timedelta(hours=1) if status != "submitted" else None,
                closed_at=closed,
            )
        )
        .returning(HazardReport.id)
        .run()
    )
    return row[0]["id"]


async def add_tasks(grid: str, day: date, *statuses: str) -> None:
    """Patrol tasks of one plan in a grid on a local day, one per status given."""
    area = await Area.select(Area.id, Area.path).where(Area.code == grid).first().run()
    plan = (
        await PatrolPlan.insert(
            PatrolPlan(name="巡查", grid=area["id"], area_path=area["path"], valid_from=day)
        )
        .returning(PatrolPlan.id)
        .run()
    )[0]["id"]
    start = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI).astimezone(UTC)
    for i, status in enumerate(statuses):
        await PatrolTask.insert(
            PatrolTask(
                plan=plan,
                grid=area["id"],
                area_path=area["path"],
                local_date=day,
                window_start=start + timedelta(hours=9 + i),
                window_end=start + timedelta(hours=11 + i),
                status=status,
            )
        ).run()


async def add_response(
    report_id: int,
    alerted: datetime,
    *,
    reaction: float | None,
    arrival: float | None = None,
    tier: str = "community",
) -> None:
    status = "arrived" if arrival is not None else "acknowledged" if reaction else "alerted"
    values: dict[str, Any] = dict(
        report=report_id,
        tier=tier,
        status=status,
        alerted_at=alerted,
        acknowledged_at=alerted + timedelta(minutes=reaction) if reaction is not None else None,
        arrived_at=alerted + timedelta(minutes=arrival) if arrival is not None else None,
        arrival_verified=True if arrival is not None else None,
    )
    await ResponseRecord.insert(ResponseRecord(**values)).run()


@pytest.fixture
def build() -> SimpleNamespace:
    """The helpers above, for tests (conftest modules are not imported by name)."""
    return SimpleNamespace(
        case=add_case, tasks=add_tasks, response=add_response, local=local, T1=T1, T2=T2, D1=D1
    )
