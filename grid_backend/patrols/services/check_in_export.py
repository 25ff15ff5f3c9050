"""Patrol check-ins as GeoJSON points for a GIS (docs/gis.md): those of the tasks whose local
date is in the period, inside the areas the caller reviews, a batch at a time; audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from grid_backend.core import audit, geojson, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.patrols.services.stats import _period, _scope
from grid_backend.patrols.tables import CheckIn

_COLUMNS = (
    CheckIn.id,
    CheckIn.lat,
    CheckIn.lng,
    CheckIn.at,
    CheckIn.accuracy_m,
    CheckIn.location_source,
    CheckIn.is_mock,
    CheckIn.distance_m,
    CheckIn.within_radius,
    CheckIn.out_of_order,
    CheckIn.note,
    CheckIn.task.as_alias("task_id"),
    CheckIn.task.local_date.as_alias("local_date"),
    CheckIn.task._.plan._.name.as_alias("plan_name"),
    CheckIn.task._.grid._.name.as_alias("grid_name"),
    CheckIn.task._.grid._.code.as_alias("grid_code"),
    CheckIn.checkpoint.name.as_alias("checkpoint_name"),
    CheckIn.account.name.as_alias("patroller"),
)


async def export_check_ins(
    *,
    grants: list[policy.Grant],
    account_id: int,
    area_path: str | None,
    date_from: date | None,
    date_to: date | None,
) -> tuple[int, AsyncIterator[list[geojson.Feature]], date, date]:
    """The check-ins, their count and the period (the last seven days by default)."""
    paths = _scope(grants, area_path)
    date_from, date_to = _period(date_from, date_to)
    where = (
        under(CheckIn.task.area_path, paths)
        & (CheckIn.task.local_date >= date_from)
        & (CheckIn.task.local_date <= date_to)
    )
    rows = await CheckIn.count().where(where).run()
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="patrol.check_in_export",
            object_type="patrol_check_in",
            area_path=area_path,
            detail={
                "format": "geojson",
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
                "rows": rows,
                "areas": paths,
            },
        )

    async def fetch(after: int, size: int) -> list[dict[str, Any]]:
        query = CheckIn.select(*_COLUMNS).where(where & (CheckIn.id > after))
        return list(await query.order_by(CheckIn.id).limit(size).run())

    async def features() -> AsyncIterator[list[geojson.Feature]]:
        async for batch in geojson.pages(fetch):
            yield [_feature(r) for r in batch]

    return rows, features(), date_from, date_to


def _feature(r: dict[str, Any]) -> geojson.Feature:
    local_date = r["local_date"]
    properties = {
        "id": r["id"],
        "at": geojson.local_time(r["at"]),
        "task": r["task_id"],
        "date": local_date if isinstance(local_date, str) else local_date.isoformat(),
        "plan": r["plan_name"] or "",
        "grid": r["grid_name"] or "",
        "grid_code": r["grid_code"] or "",
        "checkpoint": r["checkpoint_name"] or "",
        "patroller": r["patroller"] or "",
        "distance_m": r["distance_m"],
        "within_radius": bool(r["within_radius"]),
        "out_of_order": bool(r["out_of_order"]),
        "accuracy_m": r["accuracy_m"],
        "location_source": r["location_source"],
        "mock_location": bool(r["is_mock"]),
        "note": r["note"],
    }
    return geojson.Feature(id=r["id"], lng=r["lng"], lat=r["lat"], properties=properties)
