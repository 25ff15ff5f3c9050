"""Demo rows for evacuation: three shelters around the demo township and a dozen threatened
households in three of its grids, with their helpers, written through the services."""

from __future__ import annotations

from typing import Any

import shapely

from grid_backend.areas.locate import grid_index
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import clock
from grid_backend.evacuation import households, services
from grid_backend.evacuation.schemas import HouseholdCreate, PlaceIn, ShelterCreate
from grid_backend.evacuation.tables import Household, Shelter
from grid_backend.people.duty import grants_of
from grid_backend.people.tables import Assignment

# (name, kind, capacity, metres east and north of the demo grid's centre, served, contact)
SHELTERS: list[tuple[str, str, int, tuple[float, float], str, str]] = [
    ("人和街小学避险点", "school", 400, (350, 200), "township", "023-63712345"),
    ("社区文化活动中心", "community_centre", 120, (-150, 120), "community", "023-63715678"),
    ("较场口广场应急避难场所", "open_ground", 800, (600, -300), "grid", "023-63719090"),
]

# (grid: 0 the demo grid, 1 and 2 the next grids of the township), address, head, phone,
# people, (elderly alone, disabled, children, pregnant), shelter index, group, helper phone
# (None: the grid's own worker or leader), linked to the demo resident
HOUSEHOLDS: list[
    tuple[int, str, str, str, int, tuple[int, int, int, int], int, str, str | None, bool]
] = [
    (
        0,
        "临江路12号1单元2-1",
        "杨德明",
        "13500000101",
        3,
        (0, 0, 1, 0),
        1,
        "第一组",
        "13900000007",
        True,
    ),
    (
        0,
        "临江路12号1单元3-2",
        "黄淑芬",
        "13500000102",
        1,
        (1, 0, 0, 0),
        1,
        "第一组",
        "13900000007",
        False,
    ),
    (
        0,
        "临江路14号平房",
        "刘大爷",
        "023-63711001",
        2,
        (1, 1, 0, 0),
        2,
        "第一组",
        "13900000007",
        False,
    ),
    (
        0,
        "较场口坡道8号",
        "陈玉兰",
        "13500000104",
        4,
        (0, 0, 2, 1),
        0,
        "第二组",
        "13900000006",
        False,
    ),
    (
        0,
        "较场口坡道10号",
        "何建国",
        "13500000105",
        5,
        (0, 0, 0, 0),
        0,
        "第二组",
        "13900000009",
        False,
    ),
    (
        0,
        "较场口坡道12号附1号",
        "马秀英",
        "13500000106",
        2,
        (0, 1, 0, 0),
        2,
        "第二组",
        "13900000007",
        False,
    ),
    (1, "和平路35号", "郭长林", "13500000107", 3, (0, 0, 0, 0), 0, "第一组", None, False),
    (1, "和平路37号2-3", "罗桂英", "13500000108", 1, (1, 0, 0, 0), 0, "第一组", None, False),
    (1, "和平路39号", "谢伟", "13500000109", 4, (0, 0, 1, 0), 0, "第一组", None, False),
    (2, "石板坡老街21号", "宋明华", "13500000110", 2, (0, 1, 0, 0), 0, "第一组", None, False),
    (2, "石板坡老街23号", "唐红梅", "13500000111", 3, (0, 0, 0, 1), 0, "第一组", None, False),
    (2, "石板坡老街25号", "许平", "13500000112", 2, (0, 0, 0, 0), 0, "第一组", None, False),
]


def _shift(point: shapely.Point, east: float, north: float) -> tuple[float, float]:
    """(lat, lng) some metres from a point, on the local flat approximation."""
    return point.y + north / 111_195.0, point.x + east / (111_195.0 * 0.87)


async def _grid_helper(grid_id: int, fallback: int) -> int:
    """Someone on duty today in a grid (its worker, else its leader), else the fallback."""
    for duty in ("grid_worker", "grid_leader", "emergency_officer"):
        row = (
            await Assignment.select(Assignment.account)
            .where(
                (Assignment.area == grid_id)
                & (Assignment.duty == duty)
                & (Assignment.valid_from <= clock.today())
            )
            .order_by(Assignment.id)
            .first()
            .run()
        )
        if row:
            return int(row["account"])
    return fallback


async def seed_evacuation_demo(*, township_code: str, grid_code: str, ids: dict[str, int]) -> int:
    """Shelters and households of the demo township, registered by its dispatcher. Skipped
    once shelters exist; returns the households made."""
    if await Shelter.count().run() or await Household.count().run():
        return 0
    dispatcher = ids["13900000004"]
    grants = await grants_of(dispatcher)
    grid = await Area.select(Area.id, Area.parent).where(Area.code == grid_code).first().run()
    township = await Area.select(Area.id).where(Area.code == township_code).first().run()
    # the demo's areas are stored first
    assert grid is not None
    assert township is not None
    others = (
        await Area.select(Area.id)
        .where(
            (Area.level == "grid") & Area.code.like(township_code + "%") & (Area.code != grid_code)
        )
        .order_by(Area.code)
        .limit(2)
        .run()
    )
    grids = [grid["id"], *[r["id"] for r in others]]
    index = await grid_index.get()
    geoms = {int(i): g for i, g in zip(index.grid_ids, index.geoms, strict=True)}
    centre = shapely.Point(geoms[grid["id"]].representative_point())
    served = {"township": township["id"], "community": grid["parent"], "grid": grid["id"]}
    shelters = []
    for name, kind, capacity, (east, north), level, phone in SHELTERS:
        lat, lng = _shift(centre, east, north)
        made = await services.create_shelter(
            data=ShelterCreate(
                name=name,
                kind=kind,  # type: ignore[arg-type]  # SHELTERS holds valid kinds as plain str
                location=PlaceIn(lat=lat, lng=lng),
                capacity=capacity,
                area_ids=[served[level]],
                contact_name="值班室",
                contact_phone=phone,
            ),
            account_id=dispatcher,
            grants=grants,
        )
        shelters.append(made.id)
    # the demo grid's households below its first risk point (the slope its monitor watches)
    point = (
        await RiskPoint.select(RiskPoint.id)
        .where(RiskPoint.grid == grid["id"])
        .order_by(RiskPoint.code)
        .first()
        .run()
    )
    count = 0
    for at, address, head, phone, people, members, shelter, group, helper, linked in HOUSEHOLDS:
        if at >= len(grids):
            continue
        grid_id = grids[at]
        here = shapely.Point(geoms[grid_id].representative_point()) if grid_id in geoms else centre
        lat, lng = _shift(here, 20 * count - 100, 15 * (count % 4))
        helper_id = ids[helper] if helper else await _grid_helper(grid_id, dispatcher)
        values: dict[str, Any] = dict(
            zip(("elderly_alone", "disabled", "children", "pregnant"), members, strict=True)
        )
        await households.create_household(
            data=HouseholdCreate(
                grid_id=grid_id,
                address=address,
                head_name=head,
                head_phone=phone,
                people=people,
                helper_id=helper_id,
                shelter_id=shelters[shelter],
                risk_point_id=point["id"] if point and at == 0 and count < 3 else None,
                watch_group=group,
                resident_id=ids["13900000012"] if linked else None,
                location=PlaceIn(lat=lat, lng=lng),
                **values,
            ),
            account_id=dispatcher,
            grants=grants,
        )
        count += 1
    return count
