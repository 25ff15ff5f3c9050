"""Filing a case, in the steps the flow (grid_backend.flows.reports) runs: the idempotency of
the request, the checks before anything is written, the insert with its photos and event (in
the caller's transaction), and the answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from grid_backend.core import clock
from grid_backend.core.db import fetch
from grid_backend.core.errors import DomainError, invalid
from grid_backend.core.i18n import N_
from grid_backend.core.idempotency import Idempotent, digest
from grid_backend.core.sql import q
from grid_backend.hazards import webhooks
from grid_backend.hazards.schemas import ReportCreate, ReportRead
from grid_backend.hazards.services.config import _submit_config
from grid_backend.hazards.services.duplicates import _record_offers, possible_duplicates
from grid_backend.hazards.services.evidence import (
    _attach,
    _exif_distance,
    _exif_source,
    _own_photos,
    _route,
)
from grid_backend.hazards.services.reading import _photo_ref, _report_read, _visible, read_report
from grid_backend.hazards.services.roles import NO_ACCOUNT, Actor, _event
from grid_backend.hazards.tables import HazardReport
from grid_backend.people.tables import Account
from grid_backend.settings import get_settings


@dataclass(frozen=True, slots=True)
class Draft:
    """A submission that passed its checks, ready to be stored."""

    data: ReportCreate
    actor: Actor
    key: str | None
    digest: str
    level: str
    category: dict[str, Any]
    sla: dict[str, Any]
    photos: dict[int, dict[str, Any]]
    route: dict[str, Any]
    now: datetime
    exif_distance: float | None
    channel: str | None = None  # given by the flow (a working QR code's report: "qr")
    qr_code_id: int | None = None
    note: str = ""  # the submit event's note (the Open311 client that sent it)
    # a case filed for a caller (the hotline): the caller's account when they have one (the
    # case is theirs: points, notifications), else the officer who took the call
    reporter_id: int | None = None
    reporter_is_staff: bool | None = None


async def _account_contact(account_id: int) -> dict[str, Any]:
    """reporter_name and reporter_phone of a case filed by this account."""
    row = (
        await Account.select(Account.name, Account.phone)
        .where(Account.id == account_id)
        .first()
        .run()
    )
    return {
        "reporter_name": row["name"] if row else None,
        "reporter_phone": row["phone"] if row else None,
    }


async def _by_client_key(account_id: int, key: str) -> dict[str, Any] | None:
    rows = await fetch(
        q(
            "SELECT id, request_digest FROM hazard_report WHERE reporter = {} AND client_key = {}",
            account_id,
            key,
        )
    )
    return rows[0] if rows else None


def report_once(
    data: ReportCreate, actor: Actor, idempotency_key: str | None
) -> Idempotent[ReportRead]:
    """The submission's idempotency: its key (the header, else the body's client id), its
    digest, and how an earlier case of the key is found and answered again."""

    async def find(key: str) -> dict[str, Any] | None:
        return await _by_client_key(actor.account_id, key)

    async def answer(earlier: dict[str, Any]) -> ReportRead:
        return await read_report(report_id=earlier["id"], actor=actor)

    return Idempotent(
        idempotency_key or data.client_id,
        digest(data),
        find,
        answer,
        N_("this Idempotency-Key was used for a different report"),
    )


async def check_report(
    data: ReportCreate,
    actor: Actor,
    once: Idempotent[Any],
    *,
    channel: str | None = None,
    photos_required: bool = True,
) -> Draft:
    """Everything checked before a case is written: category and SLA, who may set the level,
    the safety answer, the photos, the position's grid. `channel` overrides the reporter's
    usual one (an SOS, which needs no photo)."""
    level = data.level or "general"
    category, sla = await _submit_config(data.category, level)
    if data.level is not None and not actor.is_staff:
        raise invalid("level", "only staff set the level of a hazard")
    if not actor.is_staff and data.reporter_safe is None:
        raise invalid(
            "reporter_safe",
            "confirm whether you are in a safe place",
            code="reporter_safe_required",
        )
    photos = await _own_photos(
        data.photo_ids, actor.account_id, "photo_ids", required=photos_required
    )
    route = await _routed(data)
    return Draft(
        data=data,
        actor=actor,
        key=once.key,
        digest=once.digest,
        level=level,
        category=category,
        sla=sla,
        photos=photos,
        route=route,
        now=clock.now(),
        exif_distance=_exif_distance(photos.values(), route["lat"], route["lng"]),
        channel=channel,
    )


async def _routed(data: ReportCreate) -> dict[str, Any]:
    """The report's grid; outside every grid is a 422 naming the location."""
    try:
        return await _route(data.location)
    except DomainError as exc:
        if exc.code == "outside_all_grids":
            raise DomainError(
                "outside_all_grids",
                status=422,
                detail=exc.message_id,
                params=exc.params,
                errors=[
                    {"field": "location", "code": "outside_all_grids", "message": exc.detail or ""}
                ],
            ) from None
        raise


def _new_case(d: Draft) -> HazardReport:
    data, route, actor, now = d.data, d.route, d.actor, d.now
    triage_due = now + timedelta(minutes=d.sla["triage_minutes"])
    return HazardReport(
        channel=d.channel or ("grid_patrol" if actor.is_staff else "resident_app"),
        reporter=d.reporter_id or (actor.account_id if actor.account_id != NO_ACCOUNT else None),
        reporter_is_staff=actor.is_staff if d.reporter_is_staff is None else d.reporter_is_staff,
        category=d.category["code"],
        level=d.level,
        description=data.description.strip(),
        urgent=data.urgent,
        reporter_safe=data.reporter_safe,
        lat=route["lat"],
        lng=route["lng"],
        sent_lat=data.location.lat,
        sent_lng=data.location.lng,
        sent_datum=data.location.datum,
        accuracy_m=data.location.accuracy_m,
        location_source=data.location.source,
        is_mock=data.location.is_mock,
        outside_grid=route["outside_grid"],
        exif_distance_m=d.exif_distance,
        exif_mismatch=d.exif_distance is not None
        and d.exif_distance > get_settings().exif_mismatch_m,
        grid=route["grid"],
        community=route["community"],
        township=route["township"],
        district=route["district"],
        area_path=route["area_path"],
        status="submitted",
        due_at=triage_due,
        triage_due_at=triage_due,
        captured_at=data.captured_at,
        created_at=now,
        updated_at=now,
        client_key=d.key,
        request_digest=d.digest,
    )


async def store_report(d: Draft, once: Idempotent[Any]) -> dict[str, Any]:
    """Write the case, its photos and its submit event; in the caller's write transaction
    (raises Raced if a request with the same key committed meanwhile)."""
    await once.guard()
    row = (await HazardReport.insert(_new_case(d)).returning(*HazardReport.all_columns()).run())[0]
    await _attach(row["id"], d.data.photo_ids, "evidence", d.actor.account_id)
    event_id = await _event(
        row["id"],
        d.actor,
        action="submit",
        from_status=None,
        to_status="submitted",
        note=d.note,
        data={
            "grid_id": d.route["grid"],
            "outside_grid": d.route["outside_grid"],
            "exif_distance_m": d.exif_distance,
            "exif_source": _exif_source(d.photos.values()),
            "is_mock": d.data.location.is_mock,
            **({"qr_code_id": d.qr_code_id} if d.qr_code_id else {}),
        },
        lat=d.route["lat"],
        lng=d.route["lng"],
    )
    await webhooks.case_created(row, event_id)
    return row


async def answer_report(d: Draft, row: dict[str, Any]) -> ReportRead:
    """The new case as its reporter sees it, with its possible duplicates (offered to them).
    Built from what was just written, not read back: the case row came back from the INSERT,
    the names from the area index, the photos from the checks."""
    route, actor = d.route, d.actor
    case = {
        **row,
        "supervision": None,
        "grid_code": route["grid_code"],
        "grid_name": route["grid_name"],
        "township_code": route["township_code"],
        "township_name": route["township_name"],
        "assigned_area_path": None,
        "reporter_name": None,
        "reporter_phone": None,
    }
    if _visible(case, actor) == "staff":  # staff see the reporter's name and phone
        case.update(await _account_contact(actor.account_id))
    photo_ids = d.data.photo_ids
    result = await _report_read(
        case,
        actor,
        photos=[_photo_ref(d.photos[pid], "evidence") for pid in photo_ids],
    )
    result.possible_duplicates = await possible_duplicates(
        case=case,
        radius_m=float(d.category["duplicate_radius_m"]),
        dhashes=[d.photos[pid]["dhash"] for pid in photo_ids],
        viewer=actor,
    )
    await _record_offers(actor.account_id, result.possible_duplicates)
    return result
