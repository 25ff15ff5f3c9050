"""Demo rows for urgent response: a few rescue teams around the demo township and one urgent
case carried from the alert to the last arrival, written through the services themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import shapely

from grid_backend.areas.locate import grid_index
from grid_backend.areas.tables import Area
from grid_backend.core import clock
from grid_backend.core.types import LocationIn
from grid_backend.hazards.schemas import ReportCreate, ReportRead
from grid_backend.hazards.services import Actor
from grid_backend.people.duty import grants_of
from grid_backend.response import services
from grid_backend.response.schemas import BaseIn, DispatchIn, StepIn, TeamCreate, TeamRead
from grid_backend.response.tables import RescueTeam, ResponseRecord

# flows.reports.submit: (data=, actor=, idempotency_key=) -> (the case, replayed)
FileReport = Callable[..., Awaitable[tuple[ReportRead, bool]]]

# (name, type, tier, metres east and north of the demo case, served level, contact)
TEAMS = [
    ("七星岗社区应急分队", "community", "community", (250, 300), "township", "023-63710119"),
    ("渝中区消防救援支队解放碑站", "professional", "ground", (1900, -600), "district", "119"),
    ("渝中区燃气抢险队", "industry", "ground", (3200, 1200), "district", "023-63825000"),
    ("重庆市航空应急救援总队", "aviation", "air", (6500, 17500), "city", "023-67150000"),
]


def _shift(point: shapely.Point, east: float, north: float) -> tuple[float, float]:
    """(lat, lng) a few kilometres from a point, on the sphere's local flat approximation."""
    lat = point.y + north / 111_195.0
    lng = point.x + east / (111_195.0 * 0.87)
    return lat, lng


async def seed_response_demo(
    *,
    township_code: str,
    grid_code: str,
    ids: dict[str, int],
    photo_for: Callable[[int, str], Awaitable[int]],
    file_report: FileReport,
) -> int:
    """Teams and one urgent case in the demo grid (a gas leak two hours ago): alerted,
    acknowledged, a ground team dispatched, arrivals checked. Skipped once teams exist;
    returns the teams made. `file_report` is the flow that files a case and alerts (passed
    in by the seeding above the domains, which response may not import)."""
    if await RescueTeam.count().run():
        return 0
    areas = {
        r["level"]: r["id"]
        for r in await Area.select(Area.id, Area.level)
        .where(Area.code.is_in(["500000", "500103", township_code, grid_code]))
        .run()
    }
    index = await grid_index.get()
    geoms = {int(i): g for i, g in zip(index.grid_ids, index.geoms, strict=True)}
    spot = shapely.Point(geoms[areas["grid"]].representative_point())
    made = await _teams(areas, spot, ids["13900000001"])
    start = clock.now() - timedelta(hours=2)
    try:
        await _urgent_case(spot, ids, photo_for, file_report, made, start)
    finally:
        clock.set_clock(None)
    return len(made)


async def _teams(areas: dict[str, int], spot: shapely.Point, admin: int) -> list[TeamRead]:
    """The demo's rescue teams, placed around the spot, made by the admin."""
    made = []
    for name, kind, tier, (east, north), level, phone in TEAMS:
        lat, lng = _shift(spot, east, north)
        team = await services.create_team(
            data=TeamCreate(
                name=name,
                type=kind,  # type: ignore[arg-type]  # TEAMS holds valid kinds as plain str
                tier=tier,  # type: ignore[arg-type]  # TEAMS holds valid tiers as plain int
                base=BaseIn(lat=lat, lng=lng),
                area_ids=[areas[level]],
                contact_name="值班室",
                contact_phone=phone,
            ),
            account_id=admin,
            grants=await grants_of(admin),
        )
        made.append(team)
    return made


async def _urgent_case(
    spot: shapely.Point,
    ids: dict[str, int],
    photo_for: Callable[[int, str], Awaitable[int]],
    file_report: FileReport,
    made: list[TeamRead],
    start: datetime,
) -> None:
    """The gas leak, filed by a resident and answered step by step on the demo's clock."""
    resident, dispatcher = ids["13900000012"], ids["13900000004"]
    responder, officer = ids["13900000010"], ids["13900000009"]

    def at(minutes: float) -> None:
        clock.set_clock(lambda: start + timedelta(minutes=minutes))

    at(0)
    report, _ = await file_report(
        data=ReportCreate(
            category="gas",
            description="小区底商燃气泄漏，有明显气味，已有人员被困楼上",
            location=LocationIn(lat=spot.y, lng=spot.x, accuracy_m=8),
            photo_ids=[await photo_for(resident, "hopper.jpg")],
            reporter_safe=True,
            urgent=True,
        ),
        actor=Actor(resident, await grants_of(resident)),
        idempotency_key=None,
    )
    records = {
        r["account"]: r["id"]
        for r in await ResponseRecord.select(ResponseRecord.id, ResponseRecord.account)
        .where(ResponseRecord.report == report.id)
        .run()
    }
    here = LocationIn(lat=spot.y + 0.0004, lng=spot.x, accuracy_m=10)  # about 45 m off

    async def step(who: int, response_id: int, name: str, minutes: float, **kw: Any) -> None:
        at(minutes)
        await services.record_step(
            report_id=report.id,
            response_id=response_id,
            data=StepIn(step=name, **kw),  # type: ignore[arg-type]  # name: one of the steps, from the demo's own list
            account_id=who,
            grants=await grants_of(who),
        )

    if responder in records:
        await step(responder, records[responder], "acknowledge", 3)
        await step(responder, records[responder], "set_off", 4)
        await step(responder, records[responder], "arrive", 9, location=here)
    if officer in records:
        await step(officer, records[officer], "acknowledge", 6)
    at(5)
    ground = next(t for t in made if t.tier == "ground")
    team, _ = await services.dispatch_team(
        report_id=report.id,
        data=DispatchIn(team_id=ground.id),
        account_id=dispatcher,
        grants=await grants_of(dispatcher),
    )
    await step(dispatcher, team.id, "acknowledge", 6)
    await step(dispatcher, team.id, "set_off", 7)
    await step(dispatcher, team.id, "arrive", 24, location=here)
    if responder in records:
        await step(responder, records[responder], "finish", 40, note="已协助疏散，等待燃气公司")
