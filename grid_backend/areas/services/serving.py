"""What serves several areas (rescue teams, shelters): the areas it is given, checked, and who
may see or change it."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import Any

from piccolo.columns import Column
from piccolo.columns.combination import Combinable

from grid_backend.areas.tables import Area
from grid_backend.core import policy
from grid_backend.core.errors import Forbidden, invalid


def overlaps(paths: Iterable[str], scopes: list[str]) -> bool:
    """An area inside a scope, or above it (a district's team or a township's shelter is seen
    by the staff of the areas below)."""
    return any(p.startswith(s) or s.startswith(p) for p in paths for s in scopes)


def listing_scopes(grants: list[policy.Grant], permission: str, area_path: str | None) -> list[str]:
    """The area paths a list of such things is read for: the caller's scopes, or, with an
    area asked for, the part of them inside it (the area itself when it lies inside one of
    them); 403 when it is outside them all, as for a caller with none."""
    scopes = policy.scopes(grants, permission)
    if area_path is not None:
        if not overlaps([area_path], scopes):
            raise Forbidden()
        # an area above the caller's own narrows to theirs inside it: naming the district
        # must not show a grid's staff what the district holds beyond their grid
        scopes = sorted(
            {
                s if s.startswith(area_path) else area_path
                for s in scopes
                if overlaps([s], [area_path])
            }
        )
    if not scopes:
        raise Forbidden()
    return scopes


def inside_or_above(column: Column, scopes: list[str]) -> Combinable:
    """The rows whose area path (`column`) lies inside one of the scopes or above it."""
    return functools.reduce(
        operator.or_,
        (column.like(p + "%") | column.is_in(policy.ancestors_and_self(p)) for p in scopes),
    )


def manages_every(grants: list[policy.Grant], permission: str, areas: list[dict[str, Any]]) -> bool:
    """Managers change such a thing only when they cover every area it serves."""
    return bool(areas) and all(policy.allows(grants, permission, a["area_path"]) for a in areas)


async def served_areas(
    area_ids: list[int], grants: list[policy.Grant], permission: str
) -> list[dict[str, Any]]:
    """The areas (id, path) a thing is to serve: each listed once, existing, and covered by the
    caller's `permission` (else 422 / 403)."""
    if len(set(area_ids)) != len(area_ids):
        raise invalid("area_ids", "an area is listed twice")
    rows = await Area.select(Area.id, Area.path).where(Area.id.is_in(area_ids)).run()
    missing = sorted(set(area_ids) - {r["id"] for r in rows})
    if missing:
        raise invalid(
            "area_ids",
            "unknown areas %(missing)s",
            code="area_not_found",
            params={"missing": missing},
        )
    for r in rows:
        policy.require(grants, permission, r["path"])
    return rows
