"""Whether a case is internal: kept off every public read (Open311). Set by the staff who
command the case's area, with a staff-only timeline event and an audit entry."""

from __future__ import annotations

from grid_backend.core import audit, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import NotFound
from grid_backend.hazards import timeline
from grid_backend.hazards.services.reading import read_case_row
from grid_backend.hazards.services.roles import Actor, _duty_for
from grid_backend.hazards.tables import HazardReport


async def set_internal(
    *, report_id: int, internal: bool, by: int, grants: list[policy.Grant]
) -> None:
    """Mark a case internal (or public again); a no-op if it is so already."""
    async with write_transaction():
        case = await read_case_row(report_id)
        if not policy.allows(grants, "report.read", case["area_path"]):
            raise NotFound("report_not_found")  # as for any case this person cannot see
        policy.require(grants, "report.command", case["area_path"])
        rows = (
            await HazardReport.select(HazardReport.internal, HazardReport.status)
            .where(HazardReport.id == report_id)
            .run()
        )
        row = rows[0]  # read_case_row found it
        if bool(row["internal"]) == internal:
            return
        await (
            HazardReport.update({HazardReport.internal: internal})
            .where(HazardReport.id == report_id)
            .run()
        )
        await timeline.record_event(
            report_id,
            action="mark_internal" if internal else "mark_public",
            from_status=row["status"],
            to_status=row["status"],
            actor_id=by,
            duty=_duty_for(Actor(by, grants), case["area_path"]),
            public=False,
        )
        await audit.record(
            actor_id=by,
            action="report.internal" if internal else "report.public",
            object_type="hazard_report",
            object_id=report_id,
            area_path=case["area_path"],
        )
