"""Possible duplicates of a case (nearby or by photo) and the offers made of them."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from grid_backend.core import clock, geo
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.sql import in_, q
from grid_backend.hazards import workflow
from grid_backend.hazards.schemas import DuplicateCheck, DuplicateRead
from grid_backend.hazards.services.config import _category
from grid_backend.hazards.services.evidence import _own_photos, _route
from grid_backend.hazards.services.roles import Actor
from grid_backend.hazards.tables import DuplicateOffer

PHOTO_DUPLICATE_BITS = 6  # dhash distance at or below which two photos show the same scene


# Nearby open cases of the category (a box around the point, checked by distance below), then
# the newest open cases of the township with photos, whose dhash is compared here: one query.
_DUPLICATES_SQL = (
    "SELECT * FROM (SELECT id, category, status, lat, lng, NULL AS dhash FROM hazard_report"
    " WHERE id <> {} AND category = {} AND {}"
    " AND lat >= {} AND lat <= {} AND lng >= {} AND lng <= {} LIMIT 50) nearby"
    " UNION ALL"
    " SELECT * FROM (SELECT r.id, r.category, r.status, r.lat, r.lng, p.dhash"
    " FROM hazard_photo hp JOIN hazard_report r ON r.id = hp.report"
    " JOIN photo p ON p.id = hp.photo"
    " WHERE r.township = {} AND r.id <> {} AND {} AND r.created_at >= {}"
    " ORDER BY hp.id DESC LIMIT {}) photos"
)
DUPLICATE_PHOTOS_SCANNED = 500  # the newest photos of open cases a submission compares with


async def possible_duplicates(
    *, case: dict[str, Any], radius_m: float, dhashes: list[str | None]
) -> list[DuplicateRead]:
    """Open cases of the same category nearby, and open cases of the township (filed in the
    last 90 days) with a near-identical photo; the ten nearest."""
    dlat = radius_m / 111_320.0
    dlng = radius_m / (111_320.0 * max(math.cos(math.radians(case["lat"])), 0.01))
    hashes = [int(h, 16) for h in dhashes if h]
    scanned = DUPLICATE_PHOTOS_SCANNED if hashes and case["township"] else 0
    statuses = sorted(workflow.OPEN)
    query = q(
        _DUPLICATES_SQL,
        case["id"],
        case["category"],
        in_("status", statuses),
        case["lat"] - dlat,
        case["lat"] + dlat,
        case["lng"] - dlng,
        case["lng"] + dlng,
        case["township"],
        case["id"],
        in_("r.status", statuses),
        clock.now() - timedelta(days=90),
        scanned,
    )
    rows = await fetch(query)
    rows.sort(key=lambda r: r["dhash"] is not None)  # nearby first: that reason wins
    found: dict[int, DuplicateRead] = {}
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
        found[r["id"]] = DuplicateRead(
            id=r["id"],
            category=r["category"],
            status=r["status"],
            distance_m=round(distance, 1),
            reason=reason,
        )
    return sorted(found.values(), key=lambda d: (d.distance_m or 0.0, d.id))[:10]


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
