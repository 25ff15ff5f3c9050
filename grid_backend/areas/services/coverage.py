"""Coverage: the grids below an area lacking one of the covered duties today."""

from __future__ import annotations

from grid_backend.areas.schemas import (
    CoverageGrid,
    CoverageRead,
)
from grid_backend.areas.services.reading import _area_row, _brief
from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy
from grid_backend.core.pagination import decode_cursor, encode_cursor
from grid_backend.people import duty

COVERED_DUTIES = ("grid_leader", "grid_worker", "emergency_officer")


async def coverage(
    *, area_id: int, grants: list[policy.Grant], limit: int, cursor: str | None
) -> CoverageRead:
    """Grids below an area lacking a leader, a worker or an emergency officer today."""
    area = await _area_row(area_id)
    policy.require(grants, "area.coverage", area["path"])
    day = clock.today()
    grids = (
        await Area.select(Area.id, Area.code, Area.name)
        .where((Area.level == "grid") & Area.path.like(area["path"] + "%"))
        .order_by(Area.id)
        .run()
    )
    duties = await duty.duties_held(
        area_path=area["path"], duties=COVERED_DUTIES, level="grid", day=day
    )
    lacking = {d: 0 for d in COVERED_DUTIES}
    gaps = []
    for g in grids:
        missing = [d for d in COVERED_DUTIES if d not in duties.get(g["id"], ())]
        for d in missing:
            lacking[d] += 1
        if missing:
            gaps.append(CoverageGrid(id=g["id"], code=g["code"], name=g["name"], missing=missing))
    after = decode_cursor(cursor)
    page = [g for g in gaps if after is None or g.id > after][: limit + 1]
    more = len(page) > limit
    page = page[:limit]
    return CoverageRead(
        area=_brief(area),
        date=day.isoformat(),
        grids=len(grids),
        lacking_grid_leader=lacking["grid_leader"],
        lacking_grid_worker=lacking["grid_worker"],
        lacking_emergency_officer=lacking["emergency_officer"],
        fully_covered=len(grids) - len(gaps),
        items=page,
        next_cursor=encode_cursor(page[-1].id) if more else None,
    )
