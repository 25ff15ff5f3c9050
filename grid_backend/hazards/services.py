"""Hazard cases: submission with photos and routing, the workflow, reading and listing."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.query import OrderByRaw

from grid_backend.areas.services import locate_point
from grid_backend.core import clock, geo, policy
from grid_backend.core.db import fetch, in_values, is_postgres, write_transaction
from grid_backend.core.errors import Conflict, DomainError, Forbidden, NotFound, invalid
from grid_backend.core.pagination import (
    decode_cursor,
    decode_due_cursor,
    encode_due_cursor,
    next_cursor,
)
from grid_backend.hazards import rewards, workflow
from grid_backend.hazards.schemas import (
    ActionIn,
    AreaRef,
    CategoryRead,
    DuplicateCheck,
    DuplicateRead,
    EventRead,
    LocationIn,
    PhotoRef,
    ReportCreate,
    ReportPage,
    ReportRead,
    ReportSummary,
)
from grid_backend.hazards.tables import (
    Category,
    DuplicateOffer,
    HazardEvent,
    HazardReport,
    ReportPhoto,
    SlaRule,
    Support,
)
from grid_backend.media.schemas import photo_urls
from grid_backend.media.services import uploaded_photos
from grid_backend.notify import services as notify
from grid_backend.people.phones import mask_phone
from grid_backend.people.tables import Account, Assignment
from grid_backend.response import services as response
from grid_backend.settings import get_settings

PHOTO_DUPLICATE_BITS = 6  # dhash distance at or below which two photos show the same scene


# --- configuration -------------------------------------------------------------------------


async def categories() -> list[CategoryRead]:
    rows = await Category.select().where(Category.is_active.eq(True)).order_by(Category.sort).run()
    return [
        CategoryRead(
            code=r["code"],
            group=r["group_code"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            duplicate_radius_m=r["duplicate_radius_m"],
        )
        for r in rows
    ]


async def _category(code: str, field: str = "category") -> dict[str, Any]:
    row = (
        await Category.select()
        .where((Category.code == code) & Category.is_active.eq(True))
        .first()
        .run()
    )
    if row is None:
        raise invalid(
            field,
            f"unknown category {code!r}; see GET /api/v1/config",
            code="category_unknown",
            detail_zh="未知隐患类别",
        )
    return row


async def sla_for(category: str, level: str) -> dict[str, Any]:
    """The SLA row for (category, level), falling back to the default row of the level."""
    rows = (
        await SlaRule.select()
        .where(SlaRule.category.is_in([category, ""]) & (SlaRule.level == level))
        .run()
    )
    rows.sort(key=lambda r: r["category"] == "")
    if not rows:
        return dict(_DEFAULT_SLA)
    return rows[0]


_DEFAULT_SLA = {"triage_minutes": 60, "acknowledge_minutes": 60, "rectify_minutes": 3 * 24 * 60}


_SUBMIT_CONFIG_SQL = (
    "SELECT c.code, c.duplicate_radius_m, s.category AS sla_category, s.triage_minutes,"
    " s.acknowledge_minutes, s.rectify_minutes"
    " FROM hazard_category c LEFT JOIN sla_rule s"
    " ON s.level = {} AND (s.category = c.code OR s.category = '')"
    " WHERE c.code = {} AND c.is_active"
)


async def _submit_config(code: str, level: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The active category and its SLA row for the level (as _category and sla_for), in one
    query: a submission's configuration."""
    rows = await fetch(_SUBMIT_CONFIG_SQL, level, code)
    if not rows:
        await _category(code)  # raises category_unknown
    rows.sort(key=lambda r: r["sla_category"] != code)  # the category's own row first
    sla = rows[0] if rows[0]["sla_category"] is not None else _DEFAULT_SLA
    return rows[0], sla


# --- roles ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    account_id: int
    grants: list[policy.Grant]

    @property
    def is_staff(self) -> bool:
        return bool(self.grants)


_GRID_DUTIES = frozenset({"grid_leader", "grid_worker", "emergency_officer", "responder"})


def roles_for(case: dict[str, Any], actor: Actor) -> set[str]:
    """The workflow roles (see workflow.py) this person holds on this case now."""
    roles = set()
    path = case["area_path"]
    if policy.allows(actor.grants, "report.command", path):
        roles.add("command")
    if policy.allows(actor.grants, "report.accept_major", path):
        roles.add("acceptor")
    if policy.allows(actor.grants, "report.fix_on_spot", path):
        roles.add("grid_staff")
    if case["assignee"] == actor.account_id:
        roles.add("assignee")
    for g in actor.grants:
        if (
            case.get("assigned_area_path")
            and g.duty in _GRID_DUTIES
            and case["assigned_area_path"].startswith(g.area_path)
        ):
            roles.add("assignee")
        if (
            case["board"]
            and g.duty == "board_handler"
            and g.board == case["board"]
            and path.startswith(g.area_path)
        ):
            roles.add("assignee")
    return roles


def _duty_for(actor: Actor, path: str) -> str | None:
    """The duty under which the person acts on a case (the first that covers it)."""
    for g in actor.grants:
        if path.startswith(g.area_path):
            return g.duty
    return actor.grants[0].duty if actor.grants else None


# --- reading -------------------------------------------------------------------------------

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


async def _photos(report_id: int) -> list[PhotoRef]:
    rows = (
        await ReportPhoto.select(
            ReportPhoto.photo,
            ReportPhoto.kind,
            ReportPhoto.photo.width.as_alias("width"),
            ReportPhoto.photo.height.as_alias("height"),
            ReportPhoto.photo.gps_lat.as_alias("lat"),
            ReportPhoto.photo.gps_lng.as_alias("lng"),
        )
        .where(ReportPhoto.report == report_id)
        .order_by(ReportPhoto.id)
        .run()
    )
    return [
        _photo_ref({"id": r["photo"], **r, "gps_lat": r["lat"], "gps_lng": r["lng"]}, r["kind"])
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
    )


_TIMELINE_SQL = (
    "SELECT e.id, e.action, e.from_status, e.to_status, e.at, e.note, e.duty, e.actor,"
    " e.data, a.name AS actor_name FROM hazard_event e LEFT JOIN account a ON a.id = e.actor"
    " WHERE e.report = {}{public} ORDER BY e.id"
)


async def _timeline(report_id: int, full: bool) -> list[EventRead]:
    # hand-written: on every read of a case, and building the joined select cost more than
    # running it
    rows = await fetch(
        _TIMELINE_SQL.replace("{public}", "" if full else " AND e.public"), report_id
    )
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


def _status_text(status: str, english: bool = False) -> str:
    zh, en = workflow.PLAIN_STATUS[status]
    return en if english else zh


async def read_report(
    *, report_id: int, actor: Actor, english: bool = False, acted: bool = False
) -> ReportRead:
    """One case as this person may see it, with the actions they may take now (acted: they
    just changed it, and see the result even if the change took it out of their sight)."""
    return await _report_read(await _case(report_id), actor, english=english, acted=acted)


async def _report_read(
    case: dict[str, Any],
    actor: Actor,
    *,
    english: bool,
    acted: bool = False,
    photos: list[PhotoRef] | None = None,
) -> ReportRead:
    """A case row (as _case reads it) as this person may see it; photos if already known."""
    view = await case_view(case, actor) or ("staff" if acted else None)
    if view is None:
        raise NotFound("report_not_found")
    full = view == "staff"
    roles = roles_for(case, actor)
    show_phone = full and policy.allows(actor.grants, "report.contact", case["area_path"])
    phone = case["reporter_phone"]
    return ReportRead(
        id=case["id"],
        status=case["status"],
        status_text=_status_text(case["status"], english),
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
        timeline=await _timeline(case["id"], full),
        actions=workflow.allowed(case["status"], case["level"], roles) if full else [],
    )


def _scope_condition(actor: Actor) -> Any:
    condition = (HazardReport.reporter == actor.account_id) | (
        HazardReport.assignee == actor.account_id
    )
    for path in policy.scopes(actor.grants, "report.read"):
        condition = condition | HazardReport.area_path.like(path + "%")
    # staff of a grid a case was dispatched to hold it as assignees (see roles_for)
    for g in actor.grants:
        if g.duty in _GRID_DUTIES:
            condition = condition | HazardReport.assigned_area.path.like(g.area_path + "%")
    return condition


async def list_reports(
    *,
    actor: Actor,
    mine: bool = False,
    status: list[str] | None = None,
    category: str | None = None,
    level: str | None = None,
    area_path: str | None = None,
    assignee_id: int | None = None,
    is_overdue: bool | None = None,
    urgent: bool | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    text: str | None = None,
    sort: str = "newest",
    limit: int = 50,
    cursor: str | None = None,
    english: bool = False,
) -> ReportPage:
    """Cases the person may see, filtered; newest first, oldest first, or the nearest deadline
    first (cases without one last)."""
    query = HazardReport.select(
        HazardReport.id,
        HazardReport.status,
        HazardReport.category,
        HazardReport.level,
        HazardReport.urgent,
        HazardReport.description,
        HazardReport.created_at,
        HazardReport.due_at,
        HazardReport.assignee,
        HazardReport.area_path,
        HazardReport.grid.name.as_alias("grid_name"),
    )
    query = (
        query.where(HazardReport.reporter == actor.account_id)
        if mine
        else query.where(_scope_condition(actor))
    )
    now = clock.now()
    if status:
        query = query.where(HazardReport.status.is_in(status))
    if category:
        query = query.where(HazardReport.category == category)
    if level:
        query = query.where(HazardReport.level == level)
    if area_path:
        query = query.where(HazardReport.area_path.like(area_path + "%"))
    if assignee_id is not None:
        query = query.where(HazardReport.assignee == assignee_id)
    if urgent is not None:
        query = query.where(HazardReport.urgent.eq(urgent))
    if is_overdue is not None:
        running = HazardReport.status.is_in(workflow.RUNNING)
        late = HazardReport.due_at.is_not_null() & (HazardReport.due_at < now) & running
        on_time = (
            HazardReport.due_at.is_null()
            | (HazardReport.due_at >= now)
            | (HazardReport.status.not_in(workflow.RUNNING))
        )
        query = query.where(late if is_overdue else on_time)
    if created_from:
        query = query.where(HazardReport.created_at >= created_from)
    if created_to:
        query = query.where(HazardReport.created_at < created_to)
    if text:
        # raw: SQLite has no ILIKE (LIKE ignores ASCII case there) and no default ESCAPE
        query = query.where(
            WhereRaw(
                f"hazard_report.description {'ILIKE' if is_postgres() else 'LIKE'} {{}}"
                " ESCAPE '\\'",
                f"%{_escape_like(text)}%",
            )
        )
    query, cursor_out_of = _sorted(query, sort, cursor)
    rows = await query.limit(limit + 1).run()
    cursor_out = cursor_out_of(rows, limit)
    thumbs = await _first_photos([r["id"] for r in rows])
    return ReportPage(
        items=[
            ReportSummary(
                id=r["id"],
                status=r["status"],
                status_text=_status_text(r["status"], english),
                category=r["category"],
                level=r["level"],
                urgent=r["urgent"],
                description=r["description"][:200],
                grid_name=r["grid_name"],
                created_at=r["created_at"],
                due_at=r["due_at"],
                overdue=overdue(r, now),
                # staff ids are for staff: not for a resident, even on their own case
                assignee_id=r["assignee"]
                if not mine
                and (
                    policy.allows(actor.grants, "report.read", r["area_path"])
                    or r["assignee"] == actor.account_id
                )
                else None,
                thumbnail_url=photo_urls(thumbs[r["id"]])[1] if r["id"] in thumbs else None,
            )
            for r in rows
        ],
        next_cursor=cursor_out,
    )


SORTS = ("newest", "oldest", "due")


def _sorted(query: Any, sort: str, cursor: str | None) -> tuple[Any, Any]:
    """The query in the asked order from the cursor on, and how to make the next cursor.
    Keyset pagination throughout: by id, or by (has no deadline, deadline, id) for "due"."""
    if sort == "oldest":
        after = decode_cursor(cursor)
        if after is not None:
            query = query.where(HazardReport.id > after)
        return query.order_by(HazardReport.id), next_cursor
    if sort != "due":
        before = decode_cursor(cursor)
        if before is not None:
            query = query.where(HazardReport.id < before)
        return query.order_by(HazardReport.id, ascending=False), next_cursor
    last = decode_due_cursor(cursor)
    if last is not None:
        due, last_id = last
        if due is None:  # already among the cases without a deadline
            query = query.where(HazardReport.due_at.is_null() & (HazardReport.id > last_id))
        else:
            query = query.where(
                (HazardReport.due_at > due)
                | ((HazardReport.due_at == due) & (HazardReport.id > last_id))
                | HazardReport.due_at.is_null()
            )
    # NULLs last on both engines (SQLite sorts them first by default)
    ordered = query.order_by(
        OrderByRaw("hazard_report.due_at IS NULL, hazard_report.due_at, hazard_report.id")
    )

    def cursor_of(rows: list[dict[str, Any]], limit: int) -> str | None:
        if len(rows) <= limit:
            return None
        del rows[limit:]
        return encode_due_cursor(rows[-1]["due_at"], rows[-1]["id"])

    return ordered, cursor_of


def _escape_like(text: str) -> str:
    # cut before escaping, so an escape is never cut in half
    return text[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _first_photos(report_ids: list[int]) -> dict[int, int]:
    if not report_ids:
        return {}
    rows = (
        await ReportPhoto.select(ReportPhoto.report, ReportPhoto.photo)
        .where(ReportPhoto.report.is_in(report_ids))
        .order_by(ReportPhoto.id)
        .run()
    )
    first: dict[int, int] = {}
    for r in rows:
        first.setdefault(r["report"], r["photo"])
    return first


# --- submission ----------------------------------------------------------------------------


def _digest(data: ReportCreate) -> str:
    """What makes two submissions the same request (the client id itself aside)."""
    body = msgspec.structs.replace(data, client_id=None)
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


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
            detail_zh="请至少上传一张照片",
        )
    if len(ids) > limit:
        raise invalid(
            field,
            f"at most {limit} photos",
            code="photo_count_exceeded",
            detail_zh=f"最多 {limit} 张照片",
        )
    if len(set(ids)) != len(ids):
        raise invalid(field, "a photo is listed twice", detail_zh="照片重复")
    mine = await uploaded_photos(ids, account_id)
    missing = [i for i in ids if i not in mine]
    if missing:
        raise invalid(
            field,
            f"photos {missing} were not uploaded by you",
            code="photo_not_yours",
            detail_zh="只能使用本人上传的照片",
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


def _is_unique_violation(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in ("UniqueViolationError", "IntegrityError") or "UNIQUE" in str(exc)


async def _by_client_key(account_id: int, key: str) -> dict[str, Any] | None:
    rows = await fetch(
        "SELECT id, request_digest FROM hazard_report WHERE reporter = {} AND client_key = {}",
        account_id,
        key,
    )
    return rows[0] if rows else None


async def submit(
    *, data: ReportCreate, actor: Actor, idempotency_key: str | None, english: bool = False
) -> tuple[ReportRead, bool]:
    """File a case (or return the first result of a retried submission); True if replayed."""
    key = idempotency_key or data.client_id
    digest = _digest(data)
    if key:
        earlier = await _by_client_key(actor.account_id, key)
        if earlier is not None:
            return await _replay(earlier, digest, actor, english), True
    level = data.level or "general"
    category, sla = await _submit_config(data.category, level)
    if data.level is not None and not actor.is_staff:
        raise invalid(
            "level", "only staff set the level of a hazard", detail_zh="仅工作人员可设定隐患等级"
        )
    if not actor.is_staff and data.reporter_safe is None:
        raise invalid(
            "reporter_safe",
            "confirm whether you are in a safe place",
            code="reporter_safe_required",
            detail_zh="请确认您当前是否处于安全位置",
        )
    photos = await _own_photos(data.photo_ids, actor.account_id, "photo_ids", required=True)
    try:
        route = await _route(data.location)
    except DomainError as exc:
        if exc.code == "outside_all_grids":
            raise DomainError(
                "outside_all_grids",
                status=422,
                detail=exc.detail,
                detail_zh=exc.detail_zh,
                errors=[
                    {"field": "location", "code": "outside_all_grids", "message": exc.detail or ""}
                ],
            ) from None
        raise
    now = clock.now()
    exif_distance = _exif_distance(photos.values(), route["lat"], route["lng"])
    triage_due = now + timedelta(minutes=sla["triage_minutes"])
    try:
        async with write_transaction():
            if key and await _by_client_key(actor.account_id, key):
                raise _Raced()
            row = (
                await HazardReport.insert(
                    HazardReport(
                        channel="grid_patrol" if actor.is_staff else "resident_app",
                        reporter=actor.account_id,
                        reporter_is_staff=actor.is_staff,
                        category=category["code"],
                        level=level,
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
                        exif_distance_m=exif_distance,
                        exif_mismatch=exif_distance is not None
                        and exif_distance > get_settings().exif_mismatch_m,
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
                        client_key=key,
                        request_digest=digest,
                    )
                )
                .returning(*HazardReport.all_columns())
                .run()
            )[0]
            await _attach(row["id"], data.photo_ids, "evidence", actor.account_id)
            await _event(
                row["id"],
                actor,
                action="submit",
                from_status=None,
                to_status="submitted",
                note="",
                data={
                    "grid_id": route["grid"],
                    "outside_grid": route["outside_grid"],
                    "exif_distance_m": exif_distance,
                    "is_mock": data.location.is_mock,
                },
                lat=route["lat"],
                lng=route["lng"],
            )
            if data.urgent:  # responders and the dispatcher are alerted now, before triage
                await response.alert_urgent(report_id=row["id"])
    except _Raced:
        earlier = await _by_client_key(actor.account_id, key)  # type: ignore[arg-type]
        return await _replay(earlier, digest, actor, english), True  # type: ignore[arg-type]
    except Exception as exc:
        if key and _is_unique_violation(exc):  # a parallel replay won the race
            earlier = await _by_client_key(actor.account_id, key)
            if earlier is not None:
                return await _replay(earlier, digest, actor, english), True
        raise
    # The answer is built from what was just written, not read back: the case row came back
    # from the INSERT, the names from the area index, the photos from the check above.
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
    result = await _report_read(
        case,
        actor,
        english=english,
        photos=[_photo_ref(photos[pid], "evidence") for pid in data.photo_ids],
    )
    result.possible_duplicates = await possible_duplicates(
        case=case,
        radius_m=float(category["duplicate_radius_m"]),
        dhashes=[photos[pid]["dhash"] for pid in data.photo_ids],
    )
    await _record_offers(actor.account_id, result.possible_duplicates)
    return result, False


class _Raced(Exception):
    """Another request with the same idempotency key committed first."""


async def _replay(earlier: dict[str, Any], digest: str, actor: Actor, english: bool) -> ReportRead:
    if earlier["request_digest"] != digest:
        raise Conflict(
            "idempotency_conflict",
            detail="this Idempotency-Key was used for a different report",
            detail_zh="该幂等键已用于另一份不同的上报",
        )
    return await read_report(report_id=earlier["id"], actor=actor, english=english)


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


async def _event(
    report_id: int,
    actor: Actor | None,
    *,
    action: str,
    from_status: str | None,
    to_status: str,
    note: str,
    data: dict[str, Any] | None = None,
    lat: float | None = None,
    lng: float | None = None,
    public: bool = True,
    path: str = "",
) -> int:
    row = (
        await HazardEvent.insert(
            HazardEvent(
                report=report_id,
                actor=actor.account_id if actor else None,
                duty=_duty_for(actor, path) if actor else None,
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


# Nearby open cases of the category (a box around the point, checked by distance below), then
# the newest open cases of the township with photos, whose dhash is compared here: one query.
_DUPLICATES_SQL = (
    "SELECT * FROM (SELECT id, category, status, lat, lng, NULL AS dhash FROM hazard_report"
    " WHERE id <> {} AND category = {} AND status {open}"
    " AND lat >= {} AND lat <= {} AND lng >= {} AND lng <= {} LIMIT 50) nearby"
    " UNION ALL"
    " SELECT * FROM (SELECT r.id, r.category, r.status, r.lat, r.lng, p.dhash"
    " FROM hazard_photo hp JOIN hazard_report r ON r.id = hp.report"
    " JOIN photo p ON p.id = hp.photo"
    " WHERE r.township = {} AND r.id <> {} AND r.status {open} AND r.created_at >= {}"
    " ORDER BY hp.id DESC LIMIT {limit}) photos"
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
    status_in, statuses = in_values(sorted(workflow.OPEN))
    sql = _DUPLICATES_SQL.replace("{open}", status_in).replace("{limit}", str(scanned))
    rows = await fetch(
        sql,
        case["id"],
        case["category"],
        *statuses,
        case["lat"] - dlat,
        case["lat"] + dlat,
        case["lng"] - dlng,
        case["lng"] + dlng,
        case["township"],
        case["id"],
        *statuses,
        clock.now() - timedelta(days=90),
    )
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
    dlat = radius / 111_320.0
    dlng = radius / (111_320.0 * max(math.cos(math.radians(case["lat"])), 0.01))
    own = (
        await HazardReport.select(HazardReport.lat, HazardReport.lng)
        .where(
            (HazardReport.reporter == account_id)
            & (HazardReport.created_at >= now - timedelta(days=90))
            & (HazardReport.lat >= case["lat"] - dlat)
            & (HazardReport.lat <= case["lat"] + dlat)
            & (HazardReport.lng >= case["lng"] - dlng)
            & (HazardReport.lng <= case["lng"] + dlng)
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
            detail_zh="该案件已办结或未受理，无法附议",
        )
    if case["reporter"] == actor.account_id:
        raise Conflict("report_own", detail="you reported this case", detail_zh="这是您本人的上报")
    if view != "staff" and not await _plausible_supporter(case, actor.account_id):
        raise DomainError(
            "support_not_plausible",
            status=403,
            detail="you can support a case offered to you as a duplicate of your report in the"
            f" last {get_settings().support_offer_hours} h, or one within"
            f" {get_settings().support_radius_m:.0f} m of a report you made in the last 90 days",
            detail_zh=f"只能附议 {get_settings().support_offer_hours} 小时内系统向您推荐的疑似重复"
            f"隐患，或距您近 90 天内上报位置 {get_settings().support_radius_m:.0f} 米以内的隐患",
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
    return row["supporters"]


# --- the workflow --------------------------------------------------------------------------


class _Step:
    """What one action changes: columns, event details, photos to attach, points to award."""

    def __init__(self) -> None:
        self.changes: dict[Any, Any] = {}
        self.data: dict[str, Any] = {}
        self.photos: list[tuple[list[int], str]] = []
        self.awards: list[dict[str, Any]] = []
        self.lat: float | None = None
        self.lng: float | None = None


def _need_reason(data: ActionIn) -> str:
    reason = (data.reason or "").strip()
    if not reason:
        raise invalid(
            "reason", "this action needs a reason", code="reason_required", detail_zh="请填写原因"
        )
    return reason


async def _assignee_ok(account_id: int, case: dict[str, Any]) -> None:
    """An assignee must be on duty somewhere in the case's township (or above it)."""
    township_path = policy.ancestor_path(case["area_path"], "township")
    day = clock.today()
    rows = (
        await Assignment.select(Assignment.area_path)
        .where(
            (Assignment.account == account_id)
            & (Assignment.valid_from <= day)
            & (Assignment.valid_to.is_null() | (Assignment.valid_to >= day))
        )
        .run()
    )
    if not any(
        r["area_path"].startswith(township_path) or case["area_path"].startswith(r["area_path"])
        for r in rows
    ):
        raise invalid(
            "assignee_id",
            "the assignee holds no duty in this case's township",
            code="assignee_invalid",
            detail_zh="该人员不在本镇街任职",
        )


def _future(field: str, value: datetime | None, now: datetime) -> None:
    """A deadline set by a person: with its UTC offset (a naive time is ambiguous and cannot
    be compared), and later than now."""
    if value is None:
        return
    if value.tzinfo is None:
        raise invalid(field, "give the deadline with its UTC offset", detail_zh="期限须带时区")
    if value <= now:
        raise invalid(field, "the deadline must be in the future", detail_zh="期限须晚于当前时间")


def _shift(value: datetime | None, by: timedelta) -> datetime | None:
    return value + by if value is not None else None


async def _plan(
    t: workflow.Transition, case: dict[str, Any], data: ActionIn, actor: Actor, now: datetime
) -> _Step:
    """Validate an action's fields against the case and work out its effects."""
    step = _Step()
    s = get_settings()
    reporter_rewarded = case["reporter"] is not None and not case["reporter_is_staff"]
    reason = _need_reason(data) if t.reason_required else (data.reason or "").strip()
    step.data["reason"] = reason or None
    if t.action == "register":
        if data.category:
            step.changes[HazardReport.category] = (await _category(data.category))["code"]
        if data.level:
            step.changes[HazardReport.level] = data.level
        step.changes[HazardReport.registered_at] = now
        if reporter_rewarded:
            step.awards.append(
                dict(delta=s.points_registered, reason="registered", key=f"registered:{case['id']}")
            )
    elif t.action == "reject":
        step.data["false_report"] = data.false_report
        step.changes[HazardReport.due_at] = None
        if data.false_report and reporter_rewarded:
            step.awards.append(
                dict(delta=s.points_false_report, reason="false_report", key=f"false:{case['id']}")
            )
    elif t.action == "merge":
        if data.into is None:
            raise invalid(
                "into",
                "name the case this one duplicates",
                code="merge_target_required",
                detail_zh="请指定合并到的案件",
            )
        if data.into == case["id"]:
            raise invalid("into", "a case cannot be merged into itself", detail_zh="不能合并到自身")
        target = (
            await HazardReport.select(HazardReport.id, HazardReport.status, HazardReport.area_path)
            .where(HazardReport.id == data.into)
            .first()
            .run()
        )
        if target is None or not policy.allows(actor.grants, "report.command", target["area_path"]):
            raise invalid(
                "into",
                "no such case in your area",
                code="report_not_found",
                detail_zh="目标案件不存在或不在您的辖区",
            )
        if target["status"] not in workflow.OPEN:
            raise invalid(
                "into",
                "the target case is not open",
                code="report_not_open",
                detail_zh="目标案件未在办理中",
            )
        step.changes[HazardReport.merged_into] = target["id"]
        step.changes[HazardReport.due_at] = None
        step.data["into"] = target["id"]
        if reporter_rewarded:  # later reporters of a hazard earn at most the first point
            step.awards.append(
                dict(delta=s.points_registered, reason="duplicate", key=f"registered:{case['id']}")
            )
    elif t.action == "dispatch":
        targets = [x for x in (data.assignee_id, data.grid_id, data.board) if x is not None]
        if len(targets) != 1:
            raise invalid(
                "assignee_id",
                "dispatch to exactly one of assignee_id, grid_id, board",
                code="dispatch_target_required",
                detail_zh="请指定一个承办人、网格或板块",
            )
        # the one target replaces any earlier one (a reopened case dispatched again)
        step.changes.update(
            {
                HazardReport.assignee: None,
                HazardReport.assigned_area: None,
                HazardReport.board: None,
            }
        )
        if data.assignee_id is not None:
            await _assignee_ok(data.assignee_id, case)
            step.changes[HazardReport.assignee] = data.assignee_id
            step.data["assignee_id"] = data.assignee_id
        if data.grid_id is not None:
            from grid_backend.areas.tables import Area

            grid = (
                await Area.select(Area.id, Area.path, Area.level)
                .where(Area.id == data.grid_id)
                .first()
                .run()
            )
            if (
                grid is None
                or grid["level"] not in ("grid", "micro_grid")
                or not policy.allows(actor.grants, "report.command", grid["path"])
            ):
                raise invalid(
                    "grid_id", "no such grid in your area", detail_zh="网格不存在或不在辖区"
                )
            step.changes[HazardReport.assigned_area] = grid["id"]
            step.data["grid_id"] = grid["id"]
        if data.board is not None:
            if data.board not in policy.BOARDS:
                raise invalid(
                    "board", f"board is one of {', '.join(policy.BOARDS)}", detail_zh="未知板块"
                )
            step.changes[HazardReport.board] = data.board
            step.data["board"] = data.board
        supervision = (
            msgspec.to_builtins(data.supervision) if data.supervision else case["supervision"]
        )
        level = case["level"]
        if level == "major" and not supervision:
            raise invalid(
                "supervision",
                "a major hazard needs its supervision listing "
                "(responsibility, measures, funds, deadline, contingency plan)",
                code="supervision_required",
                detail_zh="重大隐患须先挂牌督办（五落实）",
            )
        if data.supervision:
            _future("supervision.deadline", data.supervision.deadline, now)
            step.changes[HazardReport.supervision] = supervision
        _future("due_at", data.due_at, now)
        sla = await sla_for(case["category"], level)
        ack_due = now + timedelta(minutes=sla["acknowledge_minutes"])
        if data.due_at is not None:
            rectify_due = data.due_at
        elif level == "major" and supervision:
            rectify_due = (
                msgspec.convert(supervision["deadline"], datetime)
                if isinstance(supervision["deadline"], str)
                else supervision["deadline"]
            )
        else:
            rectify_due = now + timedelta(minutes=sla["rectify_minutes"] or 3 * 24 * 60)
        step.changes.update(
            {
                HazardReport.dispatched_at: now,
                HazardReport.acknowledge_due_at: ack_due,
                HazardReport.rectify_due_at: rectify_due,
                HazardReport.due_at: ack_due,
            }
        )
    elif t.action == "acknowledge":
        step.changes.update(
            {HazardReport.acknowledged_at: now, HazardReport.due_at: case["rectify_due_at"]}
        )
    elif t.action == "return":
        sla = await sla_for(case["category"], case["level"])
        step.changes.update(
            {
                HazardReport.assignee: None,
                HazardReport.assigned_area: None,
                HazardReport.board: None,
                HazardReport.due_at: now + timedelta(minutes=sla["triage_minutes"]),
            }
        )
    elif t.action == "suspend":
        step.changes[HazardReport.suspended_at] = now
    elif t.action == "resume":
        paused = now - (case["suspended_at"] or now)
        step.data["paused_seconds"] = int(paused.total_seconds())
        step.changes.update(
            {
                HazardReport.suspended_at: None,
                HazardReport.due_at: _shift(case["due_at"], paused),
                HazardReport.rectify_due_at: _shift(case["rectify_due_at"], paused),
                HazardReport.acknowledge_due_at: _shift(case["acknowledge_due_at"], paused),
            }
        )
    elif t.action in ("report_fixed", "fix_on_spot"):
        await _check_photos(data.photo_ids, actor.account_id, "photo_ids", required=True)
        step.photos.append((data.photo_ids, "after"))
        if t.action == "fix_on_spot":
            await _check_photos(
                data.before_photo_ids, actor.account_id, "before_photo_ids", required=True
            )
            step.photos.insert(0, (data.before_photo_ids, "before"))
            # the fixer and their grid own the case, so a failed check has someone to redo it
            step.changes.update(
                {
                    HazardReport.registered_at: now,
                    HazardReport.assignee: actor.account_id,
                    HazardReport.assigned_area: case["grid"],
                }
            )
            if reporter_rewarded:
                step.awards.append(
                    dict(
                        delta=s.points_registered,
                        reason="registered",
                        key=f"registered:{case['id']}",
                    )
                )
        step.changes.update({HazardReport.fixed_at: now, HazardReport.due_at: None})
    elif t.action == "pass_check":
        step.changes.update({HazardReport.closed_at: now, HazardReport.due_at: None})
        if reporter_rewarded:
            step.awards.append(
                dict(delta=s.points_closed, reason="confirmed", key=f"confirmed:{case['id']}")
            )
    elif t.action == "fail_check":
        rectify_due = case["rectify_due_at"]
        if rectify_due is None:  # fixed on the spot, never dispatched: rework gets the SLA's time
            sla = await sla_for(case["category"], case["level"])
            rectify_due = now + timedelta(minutes=sla["rectify_minutes"] or 3 * 24 * 60)
        step.changes.update(
            {
                HazardReport.rework_count: case["rework_count"] + 1,
                HazardReport.fixed_at: None,
                HazardReport.rectify_due_at: rectify_due,
                HazardReport.due_at: rectify_due,
            }
        )
    elif t.action == "reopen":
        sla = await sla_for(case["category"], case["level"])
        step.changes.update(
            {
                HazardReport.closed_at: None,
                HazardReport.assignee: None,  # registered again: to be dispatched afresh
                HazardReport.assigned_area: None,
                HazardReport.board: None,
                HazardReport.due_at: now + timedelta(minutes=sla["triage_minutes"]),
            }
        )
    elif t.action == "relocate":
        if data.location is None:
            raise invalid("location", "give the corrected location", detail_zh="请提供更正后的位置")
        try:
            route = await _route(data.location)
        except DomainError as exc:  # bad input in the body: a 422 naming the field
            if exc.code != "outside_all_grids":
                raise
            raise invalid(
                "location", exc.detail or "", code=exc.code, detail_zh=exc.detail_zh
            ) from None
        step.data["from"] = {"grid_id": case["grid"], "lat": case["lat"], "lng": case["lng"]}
        step.data["to"] = {"grid_id": route["grid"], "lat": route["lat"], "lng": route["lng"]}
        step.changes.update(
            {
                HazardReport.lat: route["lat"],
                HazardReport.lng: route["lng"],
                HazardReport.grid: route["grid"],
                HazardReport.community: route["community"],
                HazardReport.township: route["township"],
                HazardReport.district: route["district"],
                HazardReport.area_path: route["area_path"],
                HazardReport.outside_grid: route["outside_grid"],
            }
        )
        step.lat, step.lng = route["lat"], route["lng"]
    return step


_POINT_REASONS = {
    "registered": ("上报已受理", "your report was accepted"),
    "confirmed": ("隐患已整改办结", "the hazard was fixed and closed"),
    "duplicate": ("同一隐患的重复上报", "a repeat report of a known hazard"),
    "false_report": ("上报内容不实", "the report was found to be false"),
}


async def _notify_points(
    account_id: int, report_id: int, delta: int, reason: str, event_id: int
) -> None:
    """Tell a resident they earned (or lost) points, in the case's transaction."""
    zh, en = _POINT_REASONS.get(reason, (reason, reason))
    await notify.enqueue(
        recipient_id=account_id,
        kind="points.awarded",
        payload={"case_id": report_id, "delta": delta, "reason_zh": zh, "reason_en": en},
        dedupe_key=f"points:{event_id}:account:{account_id}",
    )


async def _notify_change(
    case: dict[str, Any],
    actor: Actor,
    t: workflow.Transition,
    target: str,
    event_id: int,
    step: _Step,
) -> None:
    """The outbox side of an action: the reporter hears of a new state, an assignee of a
    case dispatched to them (written in the case's transaction, so never lost or doubled)."""
    reporter = case["reporter"]
    if reporter and reporter != actor.account_id and target != case["status"] and t.public:
        zh, en = workflow.PLAIN_STATUS[target]
        await notify.enqueue(
            recipient_id=reporter,
            kind="case.status_changed",
            payload={"case_id": case["id"], "status": target, "status_zh": zh, "status_en": en},
            dedupe_key=f"case:{case['id']}:event:{event_id}:account:{reporter}",
        )
    assignee = step.data.get("assignee_id")
    if t.action == "dispatch" and assignee and assignee != actor.account_id:
        await notify.enqueue(
            recipient_id=assignee,
            kind="case.assigned",
            payload={"case_id": case["id"], "category": case["category"]},
            dedupe_key=f"case:{case['id']}:assigned:{event_id}:account:{assignee}",
        )


async def act(*, report_id: int, data: ActionIn, actor: Actor, english: bool = False) -> ReportRead:
    """Take one workflow action on a case: checked against the table, written with its event
    in one transaction, refused if the case changed meanwhile."""
    case = await _case(report_id)
    if await case_view(case, actor) is None:  # the reporter sees the case: refused with a 403
        raise NotFound("report_not_found")
    t = workflow.TRANSITIONS[data.action]
    if case["status"] not in t.sources:
        raise Conflict(
            "action_not_allowed",
            detail=f"{data.action} is not possible while the case is {case['status']}",
            detail_zh="当前状态下不能执行该操作",
        )
    roles = roles_for(case, actor)
    needed = t.major_roles if case["level"] == "major" and t.major_roles is not None else t.roles
    if not needed & roles:
        raise Forbidden(f"{data.action} needs one of: {', '.join(sorted(needed))}")
    now = clock.now()
    step = await _plan(t, case, data, actor, now)
    target = t.target or case["status"]
    step.changes.update({HazardReport.status: target, HazardReport.updated_at: now})
    note = (data.reason or data.note or "").strip()
    async with write_transaction():
        # the status in the condition makes a concurrent action on the same case lose cleanly
        updated = (
            await HazardReport.update(step.changes)
            .where((HazardReport.id == report_id) & (HazardReport.status == case["status"]))
            .returning(HazardReport.id)
            .run()
        )
        if not updated:
            raise Conflict(
                "report_changed",
                detail="the case changed meanwhile; reload it",
                detail_zh="案件已被他人更新，请刷新后重试",
            )
        event_id = await _event(
            report_id,
            actor,
            action=t.action,
            from_status=case["status"],
            to_status=target,
            note=note,
            data=step.data,
            lat=step.lat,
            lng=step.lng,
            public=t.public,
            path=case["area_path"],
        )
        for ids, kind in step.photos:
            await _attach(report_id, ids, kind, actor.account_id, event_id)
        for a in step.awards:
            given = await rewards.award(account_id=case["reporter"], report_id=report_id, **a)
            if given:
                await (
                    HazardEvent.update({HazardEvent.data: {**step.data, "points": given}})
                    .where(HazardEvent.id == event_id)
                    .run()
                )
                await _notify_points(case["reporter"], report_id, given, a["reason"], event_id)
        await _notify_change(case, actor, t, target, event_id, step)
        if t.action == "merge":
            target_status = (
                await HazardReport.select(HazardReport.status)
                .where(HazardReport.id == data.into)
                .first()
                .run()
            )["status"]
            await (
                HazardReport.update(
                    {
                        HazardReport.supporters: HazardReport.supporters + 1 + case["supporters"],
                    }
                )
                .where(HazardReport.id == data.into)
                .run()
            )
            await _event(
                data.into,
                actor,
                action="merged_in",
                from_status=target_status,  # type: ignore[arg-type]
                to_status=target_status,
                note="",
                data={"from": report_id},
                public=False,
                path=case["area_path"],
            )
    # a return or a relocation can take the case out of the actor's sight: they still get
    # the result of what they did rather than a 404 for a change that was made
    return await read_report(report_id=report_id, actor=actor, english=english, acted=True)
