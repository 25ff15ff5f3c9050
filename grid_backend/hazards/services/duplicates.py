"""Possible duplicates of a case (nearby or by photo) and the offers made of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from grid_backend.core import clock, geo, i18n, policy
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.sql import in_, q
from grid_backend.hazards import workflow
from grid_backend.hazards.schemas import DuplicateCheck, DuplicateRead, ReportRead
from grid_backend.hazards.services.config import _category
from grid_backend.hazards.services.evidence import _own_photos, _route
from grid_backend.hazards.services.roles import Actor
from grid_backend.hazards.tables import DuplicateOffer, ReportPhoto
from grid_backend.media.schemas import photo_urls
from grid_backend.media.services import uploaded_by
from grid_backend.media.tables import Photo

MERGE_CANDIDATES = 12  # the cases a case page lists to merge into
PHOTO_DUPLICATE_BITS = 6  # dhash distance at or below which two photos show the same scene


# Nearby open cases of the category (a box around the point, checked by distance below), then
# the newest open cases of the township with photos, whose dhash is compared here: one query.
# An SOS is never offered: a resident never sees anyone else's call for help.
_DUPLICATES_SQL = (
    "SELECT * FROM (SELECT id, category, status, lat, lng, description, created_at, area_path,"
    " reporter, NULL AS dhash FROM hazard_report"
    " WHERE id <> {} AND category = {} AND {} AND channel <> 'sos'"
    " AND lat >= {} AND lat <= {} AND lng >= {} AND lng <= {} LIMIT 50) nearby"
    " UNION ALL"
    " SELECT * FROM (SELECT r.id, r.category, r.status, r.lat, r.lng, r.description,"
    " r.created_at, r.area_path, r.reporter, p.dhash"
    " FROM hazard_photo hp JOIN hazard_report r ON r.id = hp.report"
    " JOIN photo p ON p.id = hp.photo"
    " WHERE r.township = {} AND r.id <> {} AND {} AND r.created_at >= {} AND r.channel <> 'sos'"
    " ORDER BY hp.id DESC LIMIT {}) photos"
)
DUPLICATE_PHOTOS_SCANNED = 500  # the newest photos of open cases a submission compares with


async def possible_duplicates(
    *,
    case: dict[str, Any],
    radius_m: float,
    dhashes: list[str | None],
    viewer: Actor | None = None,
) -> list[DuplicateRead]:
    """Open cases of the same category nearby, and open cases of the township (filed in the
    last 90 days) with a near-identical photo; the ten nearest, with a thumbnail where the
    viewer may see the photo."""
    rows = await _candidates(case=case, radius_m=radius_m, dhashes=dhashes)
    found = sorted(rows.values(), key=_nearest)[:10]
    await _thumbnails(found, viewer)
    return [d for d, _ in found]


def _nearest(item: tuple[DuplicateRead, dict[str, Any]]) -> tuple[float, int]:
    return (item[0].distance_m or 0.0, item[0].id)


async def _candidates(
    *, case: dict[str, Any], radius_m: float, dhashes: list[str | None]
) -> dict[int, tuple[DuplicateRead, dict[str, Any]]]:
    """The possible duplicates by id, each with its row (area path and reporter)."""
    box = geo.degree_box(case["lat"], case["lng"], radius_m)
    hashes = [int(h, 16) for h in dhashes if h]
    scanned = DUPLICATE_PHOTOS_SCANNED if hashes and case["township"] else 0
    statuses = sorted(workflow.OPEN)
    query = q(
        _DUPLICATES_SQL,
        case["id"],
        case["category"],
        in_("status", statuses),
        *box,
        case["township"],
        case["id"],
        in_("r.status", statuses),
        clock.now() - timedelta(days=90),
        scanned,
    )
    rows = await fetch(query)
    rows.sort(key=lambda r: r["dhash"] is not None)  # nearby first: that reason wins
    found: dict[int, tuple[DuplicateRead, dict[str, Any]]] = {}
    for r in rows:
        if r["id"] in found:
            continue
        distance = geo.distance_m(case["lng"], case["lat"], r["lng"], r["lat"])
        if r["dhash"] is None:
            if distance > radius_m:
                continue
            reason = "nearby"
        elif not any(
            (int(r["dhash"], 16) ^ mine).bit_count() <= PHOTO_DUPLICATE_BITS for mine in hashes
        ):
            continue
        else:
            reason = "photo"
        found[r["id"]] = (_duplicate(r, distance, reason), r)
    return found


def _duplicate(row: dict[str, Any], distance: float, reason: str) -> DuplicateRead:
    """A case row as offered: the facts of its public view, never its reporter."""
    return DuplicateRead(
        id=row["id"],
        category=row["category"],
        status=row["status"],
        distance_m=round(distance, 1),
        reason=reason,
        status_text=i18n.pgettext("plain status", workflow.PLAIN_STATUS[row["status"]]),
        description=row["description"],
        created_at=_time(row["created_at"]),
    )


def _time(value: datetime | str) -> datetime:
    """A time from the hand-written union (SQLite may hand it back as text), in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _thumbnails(
    found: list[tuple[DuplicateRead, dict[str, Any]]], viewer: Actor | None
) -> None:
    """Each case's first photo as a thumbnail, where the viewer may see it by the photo rule
    (media.services.check_access): staff over the case's area, its reporter, or someone who
    uploaded that very photo. Anyone else is offered the case without a picture."""
    if viewer is None or not found:
        return
    rows = (
        await ReportPhoto.select(ReportPhoto.report, ReportPhoto.photo)
        .where(
            ReportPhoto.report.is_in([d.id for d, _ in found])
            & ReportPhoto.kind.is_in(["evidence", "before"])
        )
        .order_by(ReportPhoto.id)
        .run()
    )
    first: dict[int, int] = {}
    for r in rows:
        first.setdefault(r["report"], r["photo"])
    unsure = {
        first[d.id]
        for d, row in found
        if d.id in first
        and row["reporter"] != viewer.account_id
        and not policy.allows(viewer.grants, "report.read", row["area_path"])
    }
    mine = await uploaded_by(sorted(unsure), viewer.account_id) if unsure else set()
    for d, _ in found:
        photo = first.get(d.id)
        if photo is not None and (photo not in unsure or photo in mine):
            d.thumbnail_url = photo_urls(photo)[1]


async def check_duplicates(*, data: DuplicateCheck, actor: Actor) -> list[DuplicateRead]:
    """Possible duplicates of a report not sent yet (the same search as on submission), so a
    phone can offer "me too" before the resident files a second case."""
    category = await _category(data.category)
    photos = await _own_photos(data.photo_ids, actor.account_id, "photo_ids", required=False)
    route = await _route(data.location)
    case = {"id": 0, "lat": route["lat"], "lng": route["lng"], "township": route["township"]}
    found = await possible_duplicates(
        case={**case, "category": data.category},
        radius_m=float(category["duplicate_radius_m"]),
        dhashes=[photos[pid]["dhash"] for pid in data.photo_ids],
        viewer=actor,
    )
    await _record_offers(actor.account_id, found)
    return found


async def _record_offers(account_id: int, offered: list[DuplicateRead]) -> None:
    """Remember which cases were offered to whom, and when: what lets a resident see an offered
    case and support it (the offer is refreshed when made again)."""
    if not offered:
        return
    now = clock.now()
    async with write_transaction():
        await (
            DuplicateOffer.insert(
                *(DuplicateOffer(report=d.id, account=account_id, offered_at=now) for d in offered)
            )
            .on_conflict(
                target=(DuplicateOffer.report, DuplicateOffer.account),
                action="DO UPDATE",
                values=[DuplicateOffer.offered_at],
            )
            .run()
        )


_SAME_GRID_SQL = (
    "SELECT id, category, status, lat, lng, description, created_at, area_path, reporter"
    " FROM hazard_report WHERE id <> {} AND category = {} AND grid = {} AND {}"
    " ORDER BY id DESC LIMIT 20"
)


async def merge_candidates(*, case: ReportRead, actor: Actor) -> list[DuplicateRead]:
    """What a case page offers to merge this case into: its possible duplicates (nearby, same
    photo) and the open cases of its category in its grid, those this person sees as staff,
    nearest first."""
    category = await _category(case.category)
    evidence = [p.id for p in case.photos if p.kind == "evidence"]
    hashes = (
        await Photo.select(Photo.dhash).where(Photo.id.is_in(evidence)).run() if evidence else []
    )
    me = {
        "id": case.id,
        "lat": case.lat,
        "lng": case.lng,
        "category": case.category,
        "township": case.township.id if case.township else None,
    }
    found = await _candidates(
        case=me,
        radius_m=float(category["duplicate_radius_m"]),
        dhashes=[h["dhash"] for h in hashes],
    )
    rows = await fetch(
        q(
            _SAME_GRID_SQL,
            case.id,
            case.category,
            case.grid.id,
            in_("status", sorted(workflow.OPEN)),
        )
    )
    for r in rows:
        if r["id"] not in found:
            distance = geo.distance_m(case.lng, case.lat, r["lng"], r["lat"])
            found[r["id"]] = (_duplicate(r, distance, "grid"), r)
    seen = [
        item
        for item in found.values()
        if policy.allows(actor.grants, "report.read", item[1]["area_path"])
    ]
    chosen = sorted(seen, key=_nearest)[:MERGE_CANDIDATES]
    await _thumbnails(chosen, actor)
    return [d for d, _ in chosen]
