"""Audit trail: call inside the transaction of the change it records."""

from __future__ import annotations

from typing import Any

from grid_backend.core import clock
from grid_backend.core.tables import AuditEntry


async def record(
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | str | None = None,
    area_path: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry."""
    await AuditEntry.insert(
        AuditEntry(
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            area_path=area_path,
            detail=detail or {},
            at=clock.now(),
        )
    ).run()


async def bump_revision(name: str) -> None:
    """Tell every process that what it caches under this name has changed."""
    from grid_backend.core.tables import GeoRevision

    updated = (
        await GeoRevision.update({GeoRevision.revision: GeoRevision.revision + 1})
        .where(GeoRevision.name == name)
        .returning(GeoRevision.id)
        .run()
    )
    if not updated:
        await GeoRevision.insert(GeoRevision(name=name, revision=1)).run()
    from grid_backend.core.revisions import watcher

    watcher.expire()


async def read_revision(name: str) -> int:
    from grid_backend.core.tables import GeoRevision

    row = (
        await GeoRevision.select(GeoRevision.revision).where(GeoRevision.name == name).first().run()
    )
    return row["revision"] if row else 0
