"""Reading one case as a person may see it: columns, visibility, photos, timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from grid_backend.core import clock, i18n, mapapps, policy
from grid_backend.core.db import fetch
from grid_backend.core.errors import NotFound
from grid_backend.core.sql import all_of, q, text
from grid_backend.hazards import workflow
from grid_backend.hazards.schemas import AreaRef, CallRead, EventRead, PhotoRef, ReportRead
from grid_backend.hazards.services.config import category_text
from grid_backend.hazards.services.roles import Actor, roles_for
from grid_backend.hazards.tables import DuplicateOffer, HazardReport, HotlineCall, ReportPhoto
from grid_backend.media.schemas import gps_source, photo_urls
from grid_backend.people.phones import mask_phone, real_phone

CALL_CHANNELS = frozenset({"hotline_12345", "hotline_12350", "staff"})

_CASE_COLUMNS = (
    *HazardReport.all_columns(),
    HazardReport.grid.code.as_alias("grid_code"),
    HazardReport.grid.name.as_alias("grid_name"),
    HazardReport.township.code.as_alias("township_code"),
    HazardReport.township.name.as_alias("township_name"),
    HazardReport.reporter.name.as_alias("reporter_name"),
    HazardReport.reporter.phone.as_alias("reporter_phone"),
    HazardReport.assigned_area.path.as_alias("assigned_area_path"),
)


async def read_case_row(report_id: int) -> dict[str, Any]:
    """A case's row with its grid, township, reporter and assigned area (NotFound if none)."""
    return await _case(report_id)


async def _case(report_id: int) -> dict[str, Any]:
    row = (
        await HazardReport.select(*_CASE_COLUMNS)
        .where(HazardReport.id == report_id)
        .output(load_json=True)
        .first()
        .run()
    )
    if row is None:
        raise NotFound("report_not_found")
    return row


def overdue(case: dict[str, Any], now: datetime | None = None) -> bool:
    """Open, not suspended, and past the deadline of its current stage."""
    due = case["due_at"]
    return (
        due is not None
        and case["status"] in workflow.OPEN
        and case["status"] != "suspended"
        and (now or clock.now()) > due
    )


def _visible(case: dict[str, Any], actor: Actor, *, offered: bool = False) -> str | None:
    """'staff' for a full view, 'reporter' for the reporter's public view, 'offered' for the
    public view of a case the server offered this person as a duplicate of their own report,
    else None."""
    if policy.allows(actor.grants, "report.read", case["area_path"]) or roles_for(case, actor) & {
        "assignee"
    }:
        return "staff"
    if case["reporter"] == actor.account_id:
        return "reporter"
    return "offered" if offered else None


async def case_view(case: dict[str, Any], actor: Actor) -> str | None:
    """The one visibility rule of a case, shared by reading it and saying "me too" on it: the
    caller's view (see _visible), looking up a duplicate offer only when it matters."""
    view = _visible(case, actor)
    if view is None and await _offer_time(case["id"], actor.account_id) is not None:
        view = "offered"
    return view


async def _offer_time(report_id: int, account_id: int) -> datetime | None:
    row = (
        await DuplicateOffer.select(DuplicateOffer.offered_at)
        .where((DuplicateOffer.report == report_id) & (DuplicateOffer.account == account_id))
        .first()
        .run()
    )
    return row["offered_at"] if row else None


async def calls_of(report_id: int, *, show_phone: bool) -> list[CallRead]:
    """The hotline and staff calls taken on a case, oldest first (staff only; at most 50)."""
    rows = (
        await HotlineCall.select(
            *HotlineCall.all_columns(), HotlineCall.taken_by.name.as_alias("taken_by_name")
        )
        .where(HotlineCall.report == report_id)
        .order_by(HotlineCall.id)
        .limit(50)
        .run()
    )
    return [
        CallRead(
            id=r["id"],
            channel=r["channel"],
            caller_phone=r["caller_phone"] if show_phone else mask_phone(r["caller_phone"]),
            caller_name=r["caller_name"],
            caller_account_id=r["caller_account"],
            attached=r["attached"],
            address=r["address"],
            sms_status=r["sms_status"],
            sms_at=r["sms_at"],
            created_at=r["created_at"],
            taken_by_name=r["taken_by_name"] or "",
            sms_text=r["sms_text"],
        )
        for r in rows
    ]


async def _photos(report_id: int) -> list[PhotoRef]:
    rows = (
        await ReportPhoto.select(
            ReportPhoto.photo,
            ReportPhoto.kind,
            ReportPhoto.photo.width.as_alias("width"),
            ReportPhoto.photo.height.as_alias("height"),
            ReportPhoto.photo.gps_lat.as_alias("lat"),
            ReportPhoto.photo.gps_lng.as_alias("lng"),
            ReportPhoto.photo.gps_source.as_alias("source"),
        )
        .where(ReportPhoto.report == report_id)
        .order_by(ReportPhoto.id)
        .run()
    )
    return [
        _photo_ref(
            {
                **r,
                "id": r["photo"],
                "gps_lat": r["lat"],
                "gps_lng": r["lng"],
                "gps_source": r["source"],
            },
            r["kind"],
        )
        for r in rows
    ]


def _photo_ref(photo: dict[str, Any], kind: str) -> PhotoRef:
    """A photo row (id, width, height, gps_lat, gps_lng) as shown on a case."""
    display, thumbnail = photo_urls(photo["id"])
    return PhotoRef(
        id=photo["id"],
        kind=kind,
        display_url=display,
        thumbnail_url=thumbnail,
        width=photo["width"],
        height=photo["height"],
        gps_lat=photo["gps_lat"],
        gps_lng=photo["gps_lng"],
        gps_source=gps_source(photo),
    )


_TIMELINE_SQL = (
    "SELECT e.id, e.action, e.from_status, e.to_status, e.at, e.note, e.duty, e.actor,"
    " e.data, a.name AS actor_name FROM hazard_event e LEFT JOIN account a ON a.id = e.actor"
    " WHERE {} ORDER BY e.id"
)


async def _timeline(report_id: int, full: bool) -> list[EventRead]:
    # hand-written: on every read of a case, and building the joined select cost more than
    # running it
    where = all_of(q("e.report = {}", report_id), None if full else text("e.public"))
    rows = await fetch(q(_TIMELINE_SQL, where))
    return [
        EventRead(
            id=r["id"],
            action=r["action"],
            from_status=r["from_status"],
            to_status=r["to_status"],
            at=r["at"],
            note=r["note"],
            duty=r["duty"],
            actor_id=r["actor"] if full else None,
            actor_name=r["actor_name"] if full else None,
            data=_json(r["data"]) if full else {},
        )
        for r in rows
    ]


def _json(value: Any) -> Any:
    """A JSON column's value as read by a hand-written query (text on both engines)."""
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def _status_text(status: str) -> str:
    return i18n.pgettext("plain status", workflow.PLAIN_STATUS[status])


async def read_report(*, report_id: int, actor: Actor, acted: bool = False) -> ReportRead:
    """One case as this person may see it, with the actions they may take now (acted: they
    just changed it, and see the result even if the change took it out of their sight)."""
    return await _report_read(await _case(report_id), actor, acted=acted)


async def _report_read(
    case: dict[str, Any],
    actor: Actor,
    *,
    acted: bool = False,
    photos: list[PhotoRef] | None = None,
) -> ReportRead:
    """A case row (as _case reads it) as this person may see it; photos if already known."""
    view = await case_view(case, actor) or ("staff" if acted else None)
    if view is None:
        raise NotFound("report_not_found")
    full = view == "staff"
    roles = roles_for(case, actor)
    category = await category_text(case["category"])
    show_phone = full and policy.allows(actor.grants, "report.contact", case["area_path"])
    phone = real_phone(case["reporter_phone"])  # None once the reporter deleted the account
    events = await _timeline(case["id"], full)
    return ReportRead(
        id=case["id"],
        status=case["status"],
        status_text=_status_text(case["status"]),
        category=case["category"],
        level=case["level"],
        description=case["description"],
        urgent=case["urgent"],
        channel=case["channel"],
        lat=case["lat"],
        lng=case["lng"],
        accuracy_m=case["accuracy_m"],
        is_mock=case["is_mock"],
        outside_grid=case["outside_grid"],
        exif_mismatch=case["exif_mismatch"],
        exif_distance_m=case["exif_distance_m"],
        grid=AreaRef(id=case["grid"], code=case["grid_code"], name=case["grid_name"]),
        township=AreaRef(
            id=case["township"], code=case["township_code"], name=case["township_name"]
        )
        if case["township"]
        else None,
        area_path=case["area_path"],
        reporter_id=case["reporter"] if full or view == "reporter" else None,
        reporter_name=case["reporter_name"] if full else None,
        reporter_phone=(phone if show_phone else mask_phone(phone)) if phone and full else None,
        reporter_safe=case["reporter_safe"],
        assignee_id=case["assignee"] if full else None,
        assigned_area_id=case["assigned_area"] if full else None,
        board=case["board"],
        merged_into=case["merged_into"],
        supervision=case["supervision"] if full else None,
        supporters=case["supporters"],
        rework_count=case["rework_count"],
        due_at=case["due_at"],
        overdue=overdue(case),
        triage_due_at=case["triage_due_at"],
        acknowledge_due_at=case["acknowledge_due_at"],
        rectify_due_at=case["rectify_due_at"],
        captured_at=case["captured_at"],
        created_at=case["created_at"],
        updated_at=case["updated_at"],
        closed_at=case["closed_at"],
        # an offered case is shown without its photos: they stay with its reporter and staff
        photos=[]
        if view == "offered"
        else photos
        if photos is not None
        else await _photos(case["id"]),
        timeline=events,
        actions=workflow.allowed(case["status"], case["level"], roles) if full else [],
        merged_from=[
            e.data["from"] for e in events if e.action == "merged_in" and "from" in e.data
        ],
        category_text=category,
        calls=await calls_of(case["id"], show_phone=show_phone)
        # an attached call counts as a supporter: other cases have none to read
        if full and (case["channel"] in CALL_CHANNELS or case["supporters"])
        else [],
        navigation=mapapps.links(
            lat=case["lat"], lng=case["lng"], name=f"{category} · {case['grid_name']}"
        )
        if full
        else [],
    )
