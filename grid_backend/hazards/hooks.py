"""What hazards tells the layers below it, which may not import hazards: the cases a photo is
attached to (media decides who may see a photo) and whether an account reported a case in an
area (people's account lookup). app.create_app calls register() at start."""

from __future__ import annotations

from grid_backend.core.db import under
from grid_backend.hazards.tables import HazardReport, ReportPhoto
from grid_backend.media import holders
from grid_backend.people import ties


async def photo_cases(photo_id: int) -> list[holders.Holder]:
    """The cases this photo is attached to: their area path and reporter."""
    rows = (
        await ReportPhoto.select(
            ReportPhoto.report.area_path.as_alias("area_path"),
            ReportPhoto.report.reporter.as_alias("reporter"),
        )
        .where(ReportPhoto.photo == photo_id)
        .run()
    )
    return [holders.Holder(area_path=r["area_path"], reporter=r["reporter"]) for r in rows]


async def reported_in(account_id: int, paths: list[str] | None) -> bool:
    """Whether this account reported a case in or under these paths (None: anywhere)."""
    reported = HazardReport.reporter == account_id
    if paths is not None:
        reported = reported & under(HazardReport.area_path, paths)
    return await HazardReport.exists().where(reported)


def register() -> None:
    """Give media and people what they ask hazards through their registries."""
    holders.register("hazards", photo_cases)
    ties.register("hazards", reported_in)
