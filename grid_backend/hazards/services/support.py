""" "Me too" on an open case."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from grid_backend.core import clock, geo
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict, DomainError, NotFound
from grid_backend.hazards import workflow
from grid_backend.hazards.services.reading import _case, _offer_time, case_view
from grid_backend.hazards.services.roles import Actor, _event
from grid_backend.hazards.tables import HazardReport, Support
from grid_backend.settings import get_settings


async def _plausible_supporter(case: dict[str, Any], account_id: int) -> bool:
    """Could this resident have seen the hazard? Offered to them lately as a duplicate of their
    own report, or one of their own reports of the last 90 days is near it, or they already
    said "me too" (a repeat stays a no-op). Residents have no registered area to match."""
    settings = get_settings()
    now = clock.now()
    offered = await _offer_time(case["id"], account_id)
    if offered is not None and offered >= now - timedelta(hours=settings.support_offer_hours):
        return True
    if await Support.exists().where(
        (Support.report == case["id"]) & (Support.account == account_id)
    ):
        return True
    radius = settings.support_radius_m
    box = geo.degree_box(case["lat"], case["lng"], radius)
    own = (
        await HazardReport.select(HazardReport.lat, HazardReport.lng)
        .where(
            (HazardReport.reporter == account_id)
            & (HazardReport.created_at >= now - timedelta(days=90))
            & (HazardReport.lat >= box.lat_min)
            & (HazardReport.lat <= box.lat_max)
            & (HazardReport.lng >= box.lng_min)
            & (HazardReport.lng <= box.lng_max)
        )
        .limit(50)
        .run()
    )
    return any(geo.distance_m(case["lng"], case["lat"], r["lng"], r["lat"]) <= radius for r in own)


async def support(*, report_id: int, actor: Actor) -> int:
    """Say "me too" on an open case instead of filing a new report; returns the supporters.
    The case must be visible to the caller exactly as for reading it (else the same 404), and a
    resident must plausibly have seen the hazard (docs/api.md, "Me too")."""
    case = await _case(report_id)
    view = await case_view(case, actor)
    if view is None:
        raise NotFound("report_not_found")
    if case["status"] not in workflow.OPEN:
        raise Conflict(
            "report_not_open",
            detail="only open cases can be supported",
        )
    if case["reporter"] == actor.account_id:
        raise Conflict("report_own", detail="you reported this case")
    if view != "staff" and not await _plausible_supporter(case, actor.account_id):
        raise DomainError(
            "support_not_plausible",
            status=403,
            detail="you can support a case offered to you as a duplicate of your report in the"
            " last %(hours)s h, or one within %(radius).0f m of a report you made in the last 90"
            " days",
            params={
                "hours": get_settings().support_offer_hours,
                "radius": get_settings().support_radius_m,
            },
        )
    async with write_transaction():
        # DO NOTHING: the same person's parallel "me too" may commit first (PostgreSQL)
        added = (
            await Support.insert(Support(report=report_id, account=actor.account_id))
            .on_conflict(target=(Support.report, Support.account), action="DO NOTHING")
            .returning(Support.id)
            .run()
        )
        if not added:
            row = (
                await HazardReport.select(HazardReport.supporters)
                .where(HazardReport.id == report_id)
                .first()
                .run()
            )
            assert row is not None  # read above; cases are never deleted
            return row["supporters"]
        await (
            HazardReport.update({HazardReport.supporters: HazardReport.supporters + 1})
            .where(HazardReport.id == report_id)
            .run()
        )
        await _event(
            report_id,
            None,
            action="support",
            from_status=case["status"],
            to_status=case["status"],
            note="",
            data={"account_id": actor.account_id},
            public=True,
        )
        row = (
            await HazardReport.select(HazardReport.supporters)
            .where(HazardReport.id == report_id)
            .first()
            .run()
        )
    assert row is not None  # read above; cases are never deleted
    return row["supporters"]
