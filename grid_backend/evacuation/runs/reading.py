"""Reading evacuations: one, and the list of those overlapping the caller's area."""

from __future__ import annotations

from typing import Any

from grid_backend.core import policy
from grid_backend.core.db import fetch
from grid_backend.core.errors import Forbidden
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.sql import QueryString, all_of, any_of, in_, q, under
from grid_backend.core.types import AreaRef
from grid_backend.evacuation.runs.common import _manages, _owners, _seen, covered_by
from grid_backend.evacuation.runs_schemas import (
    EvacuationPage,
    EvacuationRead,
)
from grid_backend.evacuation.tables import (
    Evacuation,
)


def _read(
    r: dict[str, Any],
    covered: list[dict[str, Any]],
    owner: AreaRef | None,
    grants: list[policy.Grant],
) -> EvacuationRead:
    areas: dict[int, AreaRef] = {}
    for c in covered:
        if c["risk_point"] is None:
            areas[c["area"]] = AreaRef(id=c["area"], code=c["code"], name=c["name"])
    return EvacuationRead(
        id=r["id"],
        status=r["status"],
        source=r["source"],
        warning_id=r["warning"],
        areas=list(areas.values()),
        risk_point_ids=[c["risk_point"] for c in covered if c["risk_point"] is not None],
        owner_area=owner,
        note=r["note"],
        households=r["households"],
        people=r["people"],
        created_by=r["created_by"],
        created_at=r["created_at"],
        started_by=r["started_by"],
        started_at=r["started_at"],
        ended_by=r["ended_by"],
        ended_at=r["ended_at"],
        end_reason=r["end_reason"],
        manageable=r["status"] in ("proposed", "active") and _manages(grants, covered),
    )


async def read_evacuation(*, evacuation_id: int, grants: list[policy.Grant]) -> EvacuationRead:
    """One evacuation overlapping the caller's area."""
    row, covered = await _seen(evacuation_id, grants)
    owner = (await _owners({row["area_path"]})).get(row["area_path"])
    return _read(row, covered, owner, grants)


_LIST = (
    "SELECT e.id FROM evacuation_run e WHERE EXISTS (SELECT 1 FROM evacuation_run_area ea"
    " WHERE ea.evacuation = e.id AND {}) AND {} ORDER BY e.id DESC LIMIT {}"
)


def _overlap(column: str, paths: list[str]) -> QueryString:
    above = sorted({a for p in paths for a in policy.ancestors_and_self(p)[:-1]})
    return any_of(under(column, paths), in_(column, above) if above else None)


async def list_evacuations(
    *,
    grants: list[policy.Grant],
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> EvacuationPage:
    """Evacuations overlapping the caller's area, newest first."""
    scopes = policy.scopes(grants, "evacuation.read")
    if not scopes:
        raise Forbidden()
    before = decode_cursor(cursor)
    filters = all_of(
        None if status is None else q("e.status = {}", status),
        None if before is None else q("e.id < {}", before),
    )
    rows = await fetch(q(_LIST, _overlap("ea.area_path", scopes), filters, limit + 1))
    ids = [r["id"] for r in rows]
    cursor_out = next_cursor(rows, limit)
    ids = ids[:limit]
    runs = await Evacuation.select().where(Evacuation.id.is_in(ids)).run() if ids else []
    runs.sort(key=lambda r: -r["id"])
    covered = await covered_by(ids)
    owners = await _owners({r["area_path"] for r in runs})
    return EvacuationPage(
        items=[_read(r, covered[r["id"]], owners.get(r["area_path"]), grants) for r in runs],
        next_cursor=cursor_out,
    )
