"""The one writer of a case's timeline: every HazardEvent row, whether the workflow (hazards)
or the response to an urgent case (response) records it, is written here."""

from __future__ import annotations

from typing import Any

from grid_backend.core import clock
from grid_backend.hazards.tables import HazardEvent


async def record_event(
    report_id: int,
    *,
    action: str,
    from_status: str | None,
    to_status: str,
    actor_id: int | None = None,
    duty: str | None = None,
    note: str = "",
    data: dict[str, Any] | None = None,
    lat: float | None = None,
    lng: float | None = None,
    public: bool = True,
) -> int:
    """Add one event to the case's timeline, stamped now; its id."""
    row = (
        await HazardEvent.insert(
            HazardEvent(
                report=report_id,
                actor=actor_id,
                duty=duty,
                action=action,
                from_status=from_status,
                to_status=to_status,
                note=note,
                data=data or {},
                lat=lat,
                lng=lng,
                public=public,
                at=clock.now(),
            )
        )
        .returning(HazardEvent.id)
        .run()
    )[0]
    return row["id"]
