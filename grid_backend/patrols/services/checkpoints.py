"""Checkpoints of patrol plans: as stored per plan revision, as read in a datum, and as given
by a planner (a risk point of their area or a position)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from grid_backend.areas.services import to_wgs84
from grid_backend.areas.tables import RiskPoint
from grid_backend.core import geo, policy
from grid_backend.core.db import engine, fetch
from grid_backend.core.errors import invalid
from grid_backend.core.revisions import RevisionCache
from grid_backend.core.sql import in_, q
from grid_backend.core.types import Datum
from grid_backend.patrols.schemas import CheckpointIn, CheckpointRead
from grid_backend.patrols.tables import PatrolCheckpoint

# hand-written, like the task queries: on the worker's hot path, building the Piccolo
# queries cost more than running them
_CHECKPOINTS = (
    "SELECT id, plan, seq, name, risk_point, lat, lng, radius_m, revision_from, revision_to"
    " FROM patrol_checkpoint WHERE {} ORDER BY seq"
)


# The checkpoints of a plan revision never change once written (a change of checkpoints makes
# a new revision and only closes the old rows' range), so every process keeps them: a worker's
# task list then costs one query instead of two. Only found lists are kept (never an empty
# answer read while a plan was being written, never rows read inside a transaction that may
# still roll back), and reset_all() clears them like the others.
_by_revision = RevisionCache("patrol_checkpoints", max_entries=20_000)


async def _checkpoints(plan_revisions: set[tuple[int, int]]) -> dict[tuple[int, int], list[dict]]:
    """The checkpoints of each (plan, revision), in order."""
    found: dict[tuple[int, int], list[dict]] = {}
    for key in plan_revisions:
        hit, points = await _by_revision.lookup(key, None)
        if hit:
            found[key] = points
    missing = plan_revisions - found.keys()
    if not missing:
        return found
    rows = await fetch(q(_CHECKPOINTS, in_("plan", sorted({p for p, _ in missing}))))
    by_plan: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_plan[r["plan"]].append(r)
    keep = engine().current_transaction.get() is None
    for plan_id, revision in missing:
        points = [
            r
            for r in by_plan[plan_id]
            if r["revision_from"] <= revision
            and (r["revision_to"] is None or r["revision_to"] > revision)
        ]
        found[(plan_id, revision)] = points
        if points and keep:
            _by_revision.store((plan_id, revision), points)
    return found


def _position(row: dict[str, Any], datum: Datum) -> tuple[float, float]:
    """(lat, lng) of a stored WGS-84 position in the datum the client asked for."""
    if datum == "wgs84":
        return row["lat"], row["lng"]
    lng, lat = geo.convert(row["lng"], row["lat"], "wgs84", datum)
    return round(lat, 7), round(lng, 7)


def _checkpoint_read(r: dict[str, Any], datum: Datum) -> CheckpointRead:
    lat, lng = _position(r, datum)
    return CheckpointRead(
        id=r["id"],
        seq=r["seq"],
        name=r["name"],
        risk_point_id=r["risk_point"],
        lat=lat,
        lng=lng,
        datum=datum,
        radius_m=r["radius_m"],
    )


async def _checkpoint_rows(
    items: list[CheckpointIn], grants: list[policy.Grant]
) -> list[dict[str, Any]]:
    """Checkpoints as stored (WGS-84), from risk points in the caller's area or positions."""
    ids = [c.risk_point_id for c in items if c.risk_point_id is not None]
    points = {}
    if ids:
        rows = (
            await RiskPoint.select(
                RiskPoint.id,
                RiskPoint.name,
                RiskPoint.lat,
                RiskPoint.lng,
                RiskPoint.area_path,
                RiskPoint.is_active,
            )
            .where(RiskPoint.id.is_in(ids))
            .run()
        )
        points = {r["id"]: r for r in rows}
    if len(set(ids)) != len(ids):
        raise invalid("checkpoints", "a risk point is listed twice")
    out = []
    for i, c in enumerate(items):
        field = f"checkpoints[{i}]"
        has_position = c.lat is not None or c.lng is not None
        if (c.risk_point_id is None) == (not has_position) or (
            has_position and (c.lat is None or c.lng is None)
        ):
            raise invalid(
                field,
                "a checkpoint is a risk_point_id or a position (lat, lng, datum)",
            )
        if c.risk_point_id is not None:
            rp = points.get(c.risk_point_id)
            if (
                rp is None
                or not rp["is_active"]
                or not policy.allows(grants, "patrol.plan", rp["area_path"])
            ):
                raise invalid(
                    f"{field}.risk_point_id",
                    "no such risk point in your area",
                    code="risk_point_not_found",
                )
            lat, lng, sent_lat, sent_lng, datum = (
                rp["lat"],
                rp["lng"],
                rp["lat"],
                rp["lng"],
                "wgs84",
            )
            name = c.name or rp["name"]
        else:
            assert c.lat is not None
            assert c.lng is not None
            lng, lat = to_wgs84(c.lat, c.lng, c.datum)
            sent_lat, sent_lng, datum = c.lat, c.lng, c.datum
            name = c.name or f"巡查点{i + 1}"
        out.append(
            {
                "seq": i + 1,
                "name": name,
                "risk_point": c.risk_point_id,
                "lat": lat,
                "lng": lng,
                "sent_lat": sent_lat,
                "sent_lng": sent_lng,
                "sent_datum": datum,
                "radius_m": c.radius_m,
            }
        )
    return out


async def _insert_checkpoints(plan_id: int, revision: int, rows: list[dict[str, Any]]) -> None:
    await PatrolCheckpoint.insert(
        *[PatrolCheckpoint(plan=plan_id, revision_from=revision, **r) for r in rows]
    ).run()
