"""What a submission or an action brings: the routed location and the caller's photos."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from grid_backend.areas.services import locate_point
from grid_backend.core import geo
from grid_backend.core.errors import invalid
from grid_backend.hazards.schemas import LocationIn
from grid_backend.hazards.tables import ReportPhoto
from grid_backend.media.schemas import gps_source
from grid_backend.media.services import uploaded_photos
from grid_backend.settings import get_settings


async def _route(location: LocationIn) -> dict[str, Any]:
    """Grid and ancestors at a position, as stored on a case."""
    index, match, wlng, wlat = await locate_point(
        lat=location.lat, lng=location.lng, datum=location.datum
    )
    chain = {n.level: n for n in index.ancestors(match.grid)}
    township = chain.get("township")
    return {
        "lat": wlat,
        "lng": wlng,
        "grid": match.grid.id,
        "grid_code": match.grid.code,
        "grid_name": match.grid.name,
        "area_path": match.grid.path,
        "community": chain["community"].id if "community" in chain else None,
        "township": township.id if township else None,
        "township_code": township.code if township else None,
        "township_name": township.name if township else None,
        "district": chain["district"].id if "district" in chain else None,
        "outside_grid": match.outside,
    }


async def _check_photos(ids: list[int], account_id: int, field: str, *, required: bool) -> None:
    await _own_photos(ids, account_id, field, required=required)


async def _own_photos(
    ids: list[int], account_id: int, field: str, *, required: bool
) -> dict[int, dict[str, Any]]:
    """The photo rows by id, if the caller uploaded every one of them (and there are few)."""
    limit = get_settings().media_max_photos
    if required and not ids:
        raise invalid(
            field,
            "at least one photo is required",
            code="photo_required",
        )
    if len(ids) > limit:
        raise invalid(
            field,
            "at most %(limit)s photos",
            code="photo_count_exceeded",
            params={"limit": limit},
        )
    if len(set(ids)) != len(ids):
        raise invalid(field, "a photo is listed twice")
    mine = await uploaded_photos(ids, account_id)
    missing = [i for i in ids if i not in mine]
    if missing:
        raise invalid(
            field,
            "photos %(missing)s were not uploaded by you",
            code="photo_not_yours",
            params={"missing": missing},
        )
    return mine


def _exif_distance(photos: Iterable[dict[str, Any]], lat: float, lng: float) -> float | None:
    """How far from the reported position the farthest photo with an EXIF position was taken."""
    distances = [
        geo.distance_m(lng, lat, p["gps_lng"], p["gps_lat"])
        for p in photos
        if p["gps_lat"] is not None and p["gps_lng"] is not None
    ]
    return round(max(distances), 1) if distances else None


def _exif_source(photos: Iterable[dict[str, Any]]) -> str | None:
    """Who read the photos' positions: "phone" if the phone read any of them (claims, not the
    file's own EXIF), "exif" if the server read them all from the files, None if none had one."""
    sources = {gps_source(p) for p in photos} - {None}
    return "phone" if "phone" in sources else ("exif" if sources else None)


async def _attach(
    report_id: int, photo_ids: list[int], kind: str, account_id: int, event_id: int | None = None
) -> None:
    if photo_ids:
        await ReportPhoto.insert(
            *[
                ReportPhoto(
                    report=report_id,
                    photo=pid,
                    kind=kind,
                    position=i,
                    added_by=account_id,
                    event=event_id,
                )
                for i, pid in enumerate(photo_ids)
            ]
        ).run()


async def add_evidence(
    report_id: int, photo_ids: list[int], account_id: int, event_id: int | None = None
) -> list[int]:
    """Photos the caller uploaded, added to a case's evidence after it was filed (an SOS's
    sender: one may follow the call), in the caller's transaction; those already attached are
    skipped, so a retry adds nothing twice. The ids added. 422 when they are not the caller's
    or would make more than GRID_MEDIA_MAX_PHOTOS."""
    await _own_photos(photo_ids, account_id, "photo_ids", required=True)
    held = [
        r["photo"]
        for r in await ReportPhoto.select(ReportPhoto.photo).where(
            (ReportPhoto.report == report_id) & (ReportPhoto.kind == "evidence")
        )
    ]
    new = [p for p in photo_ids if p not in held]
    limit = get_settings().media_max_photos
    if len(held) + len(new) > limit:
        raise invalid(
            "photo_ids",
            "at most %(limit)s photos",
            code="photo_count_exceeded",
            params={"limit": limit},
        )
    if new:
        await ReportPhoto.insert(
            *[
                ReportPhoto(
                    report=report_id,
                    photo=pid,
                    kind="evidence",
                    position=len(held) + i,
                    added_by=account_id,
                    event=event_id,
                )
                for i, pid in enumerate(new)
            ]
        ).run()
    return new
