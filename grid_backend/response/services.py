"""Urgent cases from the first report to the last arrival: alerting the grid's responders and
the township's dispatcher, response records step by step, rescue teams and the nearest of them,
and the response-time metrics (defined in docs/metrics.md)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw

from grid_backend.areas.services import to_wgs84
from grid_backend.areas.tables import Area
from grid_backend.core import audit, clock, geo, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.types import AreaRef
from grid_backend.hazards import timeline, workflow
from grid_backend.hazards.tables import Category, HazardReport
from grid_backend.notify import services as notify
from grid_backend.people.duty import holders, on_duty
from grid_backend.people.tables import Assignment
from grid_backend.response.schemas import (
    TIERS,
    ByTier,
    DispatchIn,
    Measure,
    MyResponse,
    MyResponsePage,
    ResponseFigures,
    ResponseGroup,
    ResponseList,
    ResponseRead,
    ResponseStatsRead,
    StepIn,
    StepRead,
    SuggestionsRead,
    TeamCreate,
    TeamPage,
    TeamRead,
    TeamSuggestion,
    TeamUpdate,
    UrgentCase,
    UrgentCasePage,
)
from grid_backend.response.tables import RescueTeam, RescueTeamArea, ResponseRecord, ResponseStep
from grid_backend.settings import get_settings

# The grid duties an urgent case alerts, each becoming a community-tier response record.
ALERTED_DUTIES = ("responder", "emergency_officer")
# A response's statuses in order, and the step that leads to each.
ORDER = ("alerted", "acknowledged", "set_off", "arrived", "finished")
STEP_TO = {
    "acknowledge": "acknowledged",
    "set_off": "set_off",
    "arrive": "arrived",
    "finish": "finished",
}
NEXT_STEP = {
    "alerted": "acknowledge",
    "acknowledged": "set_off",
    "set_off": "arrive",
    "arrived": "finish",
}
TIME_COLUMN = {
    "alerted": ResponseRecord.alerted_at,
    "acknowledged": ResponseRecord.acknowledged_at,
    "set_off": ResponseRecord.set_off_at,
    "arrived": ResponseRecord.arrived_at,
    "finished": ResponseRecord.finished_at,
}
MAX_STATS_DAYS = 366
DEFAULT_STATS_DAYS = 30


def ancestors_and_self(path: str) -> list[str]:
    """'a/b/c/' → ['a/', 'a/b/', 'a/b/c/']: the paths of an area and everything above it."""
    codes = [c for c in path.split("/") if c]
    return ["/".join(codes[: i + 1]) + "/" for i in range(len(codes))]


def _overlaps(paths: Iterable[str], scopes: list[str]) -> bool:
    """An area inside a scope, or above it (a district team is seen by its townships)."""
    return any(p.startswith(s) or s.startswith(p) for p in paths for s in scopes)


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60.0, 2)


# --- urgent alerting -----------------------------------------------------------------------


async def alert_urgent(*, report_id: int) -> int:
    """Alert an urgent case at once, in the transaction that files it: a response record and
    an urgent notification for each responder and emergency officer of its grid (and its
    micro-grids), an urgent notification for the township's dispatchers (its commanders when
    it has none); returns how many people were alerted."""
    case = (
        await HazardReport.select(
            HazardReport.id,
            HazardReport.status,
            HazardReport.category,
            HazardReport.area_path,
            HazardReport.lat,
            HazardReport.lng,
            HazardReport.grid.name.as_alias("grid_name"),
        )
        .where(HazardReport.id == report_id)
        .first()
        .run()
    )
    if case is None:
        raise NotFound("report_not_found")
    now, day = clock.now(), clock.today()
    rows = (
        await Assignment.select(Assignment.account, Assignment.duty, Assignment.area_path)
        .where(
            Assignment.duty.is_in(list(ALERTED_DUTIES))
            & Assignment.area_path.like(case["area_path"] + "%")
            & on_duty(day)
        )
        .order_by(Assignment.id)
        .run()
    )
    duty_of: dict[int, str] = {}
    for r in rows:  # one record a person; the emergency officer's duty wins over a responder's
        if duty_of.get(r["account"]) != "emergency_officer":
            duty_of[r["account"]] = r["duty"]
    township = policy.ancestor_path(case["area_path"], "township")
    command = (await holders(duties=["dispatcher"], area_paths=[township], day=day)).get(township)
    if not command:
        command = (await holders(duties=["commander"], area_paths=[township], day=day)).get(
            township, []
        )
    recipients = list(dict.fromkeys([*duty_of, *command]))
    if not recipients:  # nobody on duty there today: the case waits in the console's list
        return 0
    if duty_of:
        await ResponseRecord.insert(
            *[
                ResponseRecord(
                    report=report_id,
                    account=account,
                    duty=duty,
                    tier="community",
                    status="alerted",
                    alerted_at=now,
                    created_at=now,
                    updated_at=now,
                )
                for account, duty in duty_of.items()
            ]
        ).run()
    category = (
        await Category.select(Category.name_zh, Category.name_en)
        .where(Category.code == case["category"])
        .first()
        .run()
    ) or {"name_zh": case["category"], "name_en": case["category"]}
    await notify.enqueue_many(
        recipient_ids=recipients,
        kind="case.urgent",
        payload={
            "case_id": report_id,
            "category": case["category"],
            "category_zh": category["name_zh"],
            "category_en": category["name_en"],
            "grid_name": case["grid_name"],
            "lat": case["lat"],
            "lng": case["lng"],
        },
        dedupe_key=f"case:{report_id}:urgent",
    )
    await timeline.record_event(
        report_id,
        from_status=case["status"],
        to_status=case["status"],
        action="urgent_alert",
        actor_id=None,
        data={"responders": list(duty_of), "dispatchers": list(command)},
        public=False,
    )
    return len(recipients)


# --- reading response records --------------------------------------------------------------

_CASE_COLUMNS = (
    HazardReport.id,
    HazardReport.status,
    HazardReport.urgent,
    HazardReport.category,
    HazardReport.description,
    HazardReport.area_path,
    HazardReport.lat,
    HazardReport.lng,
    HazardReport.created_at,
    HazardReport.grid,
    HazardReport.grid.code.as_alias("grid_code"),
    HazardReport.grid.name.as_alias("grid_name"),
    HazardReport.township,
    HazardReport.township.code.as_alias("township_code"),
    HazardReport.township.name.as_alias("township_name"),
)

_RECORD_COLUMNS = (
    *ResponseRecord.all_columns(),
    ResponseRecord.account.name.as_alias("account_name"),
    ResponseRecord.team.name.as_alias("team_name"),
)


async def _case(report_id: int) -> dict[str, Any]:
    row = (
        await HazardReport.select(*_CASE_COLUMNS).where(HazardReport.id == report_id).first().run()
    )
    if row is None:
        raise NotFound("report_not_found")
    return row


def _record_read(r: dict[str, Any], steps: list[StepRead] | None = None) -> ResponseRead:
    verified_arrival = r["arrived_at"] if r["arrival_verified"] else None
    return ResponseRead(
        id=r["id"],
        report_id=r["report"],
        kind="team" if r["team"] is not None else "person",
        account_id=r["account"],
        account_name=r["account_name"],
        team_id=r["team"],
        team_name=r["team_name"],
        duty=r["duty"],
        tier=r["tier"],
        status=r["status"],
        alerted_at=r["alerted_at"],
        acknowledged_at=r["acknowledged_at"],
        set_off_at=r["set_off_at"],
        arrived_at=r["arrived_at"],
        finished_at=r["finished_at"],
        arrival_distance_m=r["arrival_distance_m"],
        arrival_verified=r["arrival_verified"],
        reaction_minutes=_minutes(r["alerted_at"], r["acknowledged_at"]),
        arrival_minutes=_minutes(r["alerted_at"], verified_arrival),
        dispatched_by=r["dispatched_by"],
        next_step=NEXT_STEP.get(r["status"]),
        steps=steps or [],
    )


async def _records(report_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not report_ids:
        return found
    rows = (
        await ResponseRecord.select(*_RECORD_COLUMNS)
        .where(ResponseRecord.report.is_in(report_ids))
        .order_by(ResponseRecord.id)
        .run()
    )
    for r in rows:
        found[r["report"]].append(r)
    return found


async def _steps(record_ids: list[int], datum: str) -> dict[int, list[StepRead]]:
    found: dict[int, list[StepRead]] = defaultdict(list)
    if not record_ids:
        return found
    rows = (
        await ResponseStep.select()
        .where(ResponseStep.record.is_in(record_ids))
        .order_by(ResponseStep.id)
        .run()
    )
    for s in rows:
        lat, lng = s["lat"], s["lng"]
        if lat is not None and datum != "wgs84":
            lng, lat = geo.convert(lng, lat, "wgs84", datum)  # type: ignore[arg-type]
        found[s["record"]].append(
            StepRead(
                step=s["step"],
                at=s["at"],
                received_at=s["received_at"],
                device_time=s["device_time"],
                lat=lat,
                lng=lng,
                accuracy_m=s["accuracy_m"],
                is_mock=s["is_mock"],
                distance_m=s["distance_m"],
                actor_id=s["actor"],
                note=s["note"],
            )
        )
    return found


def _waiting(case: dict[str, Any], records: list[dict[str, Any]]) -> bool:
    return case["status"] in workflow.OPEN and not any(r["arrival_verified"] for r in records)


def _urgent_case(case: dict[str, Any], responses: list[ResponseRead], waiting: bool) -> UrgentCase:
    return UrgentCase(
        id=case["id"],
        status=case["status"],
        category=case["category"],
        description=case["description"][:200],
        lat=case["lat"],
        lng=case["lng"],
        grid=AreaRef(id=case["grid"], code=case["grid_code"], name=case["grid_name"]),
        township=AreaRef(
            id=case["township"], code=case["township_code"], name=case["township_name"]
        )
        if case["township"]
        else None,
        created_at=case["created_at"],
        waiting=waiting,
        responses=responses,
    )


async def list_responses(
    *, report_id: int, account_id: int, grants: list[policy.Grant], datum: str = "wgs84"
) -> ResponseList:
    """Every response to a case with its steps: for the staff covering it and its responders."""
    case = await _case(report_id)
    records = (await _records([report_id]))[report_id]
    if not policy.allows(grants, "report.read", case["area_path"]) and not any(
        r["account"] == account_id for r in records
    ):
        raise NotFound("report_not_found")
    steps = await _steps([r["id"] for r in records], datum)
    return ResponseList(
        report_id=report_id, items=[_record_read(r, steps.get(r["id"])) for r in records]
    )


async def list_urgent(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    open_only: bool | None = None,
    waiting: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> UrgentCasePage:
    """Urgent cases the caller covers, newest first, each with its responses (the console)."""
    paths = policy.scopes(grants, "report.read")
    if area_path is not None:
        policy.require(grants, "report.read", area_path)
        paths = [area_path]
    if not paths:
        raise Forbidden()
    query = HazardReport.select(*_CASE_COLUMNS).where(
        HazardReport.urgent.eq(True) & under(HazardReport.area_path, paths)
    )
    if open_only is not None:
        opened = HazardReport.status.is_in(sorted(workflow.OPEN))
        query = query.where(
            opened if open_only else HazardReport.status.not_in(sorted(workflow.OPEN))
        )
    if waiting is not None:
        verified = (
            "EXISTS (SELECT 1 FROM response_record r"
            " WHERE r.report = hazard_report.id AND r.arrival_verified = {})"
        )
        if waiting:
            query = query.where(
                HazardReport.status.is_in(sorted(workflow.OPEN)) & WhereRaw(f"NOT {verified}", True)
            )
        else:
            query = query.where(
                HazardReport.status.not_in(sorted(workflow.OPEN)) | WhereRaw(verified, True)
            )
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(HazardReport.id < before)
    rows = await query.order_by(HazardReport.id, ascending=False).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    records = await _records([r["id"] for r in rows])
    return UrgentCasePage(
        items=[
            _urgent_case(
                r, [_record_read(x) for x in records[r["id"]]], _waiting(r, records[r["id"]])
            )
            for r in rows
        ],
        next_cursor=cursor_out,
    )


async def my_responses(
    *, account_id: int, finished: bool = False, limit: int = 50, cursor: str | None = None
) -> MyResponsePage:
    """The caller's own responses (unfinished ones unless `finished`), newest first, with the
    case: what the responder's phone shows after an urgent alert."""
    query = ResponseRecord.select(*_RECORD_COLUMNS).where(ResponseRecord.account == account_id)
    if not finished:
        query = query.where(ResponseRecord.status != "finished")
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(ResponseRecord.id < before)
    rows = await query.order_by(ResponseRecord.id, ascending=False).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    cases = {
        c["id"]: c
        for c in (
            await HazardReport.select(*_CASE_COLUMNS)
            .where(HazardReport.id.is_in([r["report"] for r in rows]))
            .run()
            if rows
            else []
        )
    }
    everyone = await _records(list(cases))
    return MyResponsePage(
        items=[
            MyResponse(
                response=_record_read(r),
                case=_urgent_case(
                    cases[r["report"]],
                    [_record_read(x) for x in everyone[r["report"]]],
                    _waiting(cases[r["report"]], everyone[r["report"]]),
                ),
            )
            for r in rows
        ],
        next_cursor=cursor_out,
    )


# --- recording steps -----------------------------------------------------------------------


async def _record(response_id: int) -> dict[str, Any]:
    row = (
        await ResponseRecord.select(
            *_RECORD_COLUMNS,
            ResponseRecord.report.area_path.as_alias("area_path"),
            ResponseRecord.report.status.as_alias("case_status"),
            ResponseRecord.report.lat.as_alias("case_lat"),
            ResponseRecord.report.lng.as_alias("case_lng"),
        )
        .where(ResponseRecord.id == response_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound("response_not_found")
    return row


async def _read_record(response_id: int, datum: str = "wgs84") -> ResponseRead:
    row = await _record(response_id)
    return _record_read(row, (await _steps([response_id], datum)).get(response_id))


class _Raced(Exception):
    """The record moved on between reading and writing it."""


async def record_step(
    *,
    report_id: int,
    response_id: int,
    data: StepIn,
    account_id: int,
    grants: list[policy.Grant],
) -> ResponseRead:
    """Record the next step of a response: the person themselves, or for a team a dispatcher
    covering the case. A step already recorded is answered with the record as it is; a step
    ahead of the next one is refused."""
    rec = await _record(response_id)
    if rec["report"] != report_id:
        raise NotFound("response_not_found")
    path = rec["area_path"]
    if rec["team"] is None:
        allowed = rec["account"] == account_id
    else:
        allowed = policy.allows(grants, "response.dispatch", path)
    if not allowed:
        if policy.allows(grants, "report.read", path):
            raise Forbidden("only the responder (or a dispatcher, for a team) records steps")
        raise NotFound("response_not_found")
    target = STEP_TO[data.step]
    current = rec["status"]
    if ORDER.index(target) <= ORDER.index(current):
        return await _read_record(response_id)  # a repeated step (a phone's retry)
    if ORDER.index(target) != ORDER.index(current) + 1:
        needed = NEXT_STEP[current]
        raise Conflict(
            "response_step_out_of_order",
            detail=f"the response is {current}: the next step is {needed}, not {data.step}",
            detail_zh=f"当前状态为 {current}，下一步应为 {needed}",
        )
    now = clock.now()
    previous = rec[f"{current}_at"]
    # the phone's time (it may sync late), never before the previous step nor after receipt
    at = now if data.device_time is None else min(now, max(data.device_time, previous))
    changes: dict[Any, Any] = {
        ResponseRecord.status: target,
        TIME_COLUMN[target]: at,
        ResponseRecord.updated_at: now,
    }
    lat = lng = distance = None
    loc = data.location
    if loc is not None:
        lng, lat = to_wgs84(loc.lat, loc.lng, loc.datum)
        distance = round(geo.distance_m(rec["case_lng"], rec["case_lat"], lng, lat), 1)
    if data.step == "arrive":
        changes[ResponseRecord.arrival_distance_m] = distance
        changes[ResponseRecord.arrival_verified] = (
            loc is not None
            and not loc.is_mock
            and distance is not None
            and distance <= get_settings().response_arrival_radius_m
        )
    try:
        async with write_transaction():
            updated = (
                await ResponseRecord.update(changes)
                .where((ResponseRecord.id == response_id) & (ResponseRecord.status == current))
                .returning(ResponseRecord.id)
                .run()
            )
            if not updated:
                raise _Raced()
            await ResponseStep.insert(
                ResponseStep(
                    record=response_id,
                    step=data.step,
                    actor=account_id,
                    at=at,
                    received_at=now,
                    device_time=data.device_time,
                    lat=lat,
                    lng=lng,
                    sent_lat=loc.lat if loc else None,
                    sent_lng=loc.lng if loc else None,
                    sent_datum=loc.datum if loc else None,
                    accuracy_m=loc.accuracy_m if loc else None,
                    is_mock=loc.is_mock if loc else False,
                    distance_m=distance,
                    note=data.note.strip(),
                )
            ).run()
            await timeline.record_event(
                report_id,
                from_status=rec["case_status"],
                to_status=rec["case_status"],
                action=f"response_{data.step}",
                actor_id=account_id,
                duty=policy.duty_covering(grants, path),
                data={
                    "response_id": response_id,
                    "team_id": rec["team"],
                    "account_id": rec["account"],
                    "distance_m": distance,
                    "arrival_verified": changes.get(ResponseRecord.arrival_verified),
                },
                lat=lat,
                lng=lng,
                public=data.step == "arrive",
                note=data.note.strip(),
            )
    except _Raced:
        again = await _record(response_id)
        if ORDER.index(again["status"]) >= ORDER.index(target):
            return await _read_record(response_id)
        raise Conflict(
            "response_step_out_of_order", detail=f"the response is {again['status']}"
        ) from None
    return await _read_record(response_id)


# --- rescue teams --------------------------------------------------------------------------


async def _team_areas(team_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not team_ids:
        return found
    rows = (
        await RescueTeamArea.select(
            RescueTeamArea.team,
            RescueTeamArea.area,
            RescueTeamArea.area_path,
            RescueTeamArea.area.code.as_alias("code"),
            RescueTeamArea.area.name.as_alias("name"),
        )
        .where(RescueTeamArea.team.is_in(team_ids))
        .order_by(RescueTeamArea.area_path)
        .run()
    )
    for r in rows:
        found[r["team"]].append(r)
    return found


def _team_read(
    t: dict[str, Any], areas: list[dict[str, Any]], grants: list[policy.Grant], datum: str
) -> TeamRead:
    lat, lng = t["lat"], t["lng"]
    if datum != "wgs84":
        lng, lat = geo.convert(lng, lat, "wgs84", datum)  # type: ignore[arg-type]
    return TeamRead(
        id=t["id"],
        name=t["name"],
        type=t["type"],
        tier=t["tier"],
        lat=lat,
        lng=lng,
        datum=datum,
        contact_name=t["contact_name"],
        contact_phone=t["contact_phone"],
        note=t["note"],
        active=t["active"],
        areas=[AreaRef(id=a["area"], code=a["code"], name=a["name"]) for a in areas],
        created_at=t["created_at"],
        updated_at=t["updated_at"],
        manageable=_manages(grants, areas),
    )


def _manages(grants: list[policy.Grant], areas: list[dict[str, Any]]) -> bool:
    """Managers change a team only when they cover every area it serves."""
    return bool(areas) and all(
        policy.allows(grants, "rescue_team.manage", a["area_path"]) for a in areas
    )


async def _team(team_id: int, grants: list[policy.Grant]) -> tuple[dict[str, Any], list[dict]]:
    row = await RescueTeam.select().where(RescueTeam.id == team_id).first().run()
    areas = (await _team_areas([team_id]))[team_id] if row else []
    if row is None or not _overlaps(
        [a["area_path"] for a in areas], policy.scopes(grants, "rescue_team.read")
    ):
        raise NotFound("team_not_found")
    return row, areas


async def _served_areas(area_ids: list[int], grants: list[policy.Grant]) -> list[dict[str, Any]]:
    if len(set(area_ids)) != len(area_ids):
        raise invalid("area_ids", "an area is listed twice", detail_zh="区域重复")
    rows = await Area.select(Area.id, Area.path).where(Area.id.is_in(area_ids)).run()
    missing = sorted(set(area_ids) - {r["id"] for r in rows})
    if missing:
        raise invalid(
            "area_ids", f"unknown areas {missing}", code="area_not_found", detail_zh="区域不存在"
        )
    for r in rows:
        policy.require(grants, "rescue_team.manage", r["path"])
    return rows


async def read_team(*, team_id: int, grants: list[policy.Grant], datum: str = "wgs84") -> TeamRead:
    """One rescue team, for staff whose area it serves (or who serve inside its area)."""
    row, areas = await _team(team_id, grants)
    return _team_read(row, areas, grants, datum)


async def create_team(*, data: TeamCreate, account_id: int, grants: list[policy.Grant]) -> TeamRead:
    """Register a rescue team serving areas the caller manages."""
    served = await _served_areas(data.area_ids, grants)
    lng, lat = to_wgs84(data.base.lat, data.base.lng, data.base.datum)
    now = clock.now()
    async with write_transaction():
        row = (
            await RescueTeam.insert(
                RescueTeam(
                    name=data.name.strip(),
                    type=data.type,
                    tier=data.tier,
                    lat=lat,
                    lng=lng,
                    sent_lat=data.base.lat,
                    sent_lng=data.base.lng,
                    sent_datum=data.base.datum,
                    contact_name=data.contact_name.strip(),
                    contact_phone=data.contact_phone.strip(),
                    note=data.note.strip(),
                    created_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(RescueTeam.id)
            .run()
        )[0]
        await RescueTeamArea.insert(
            *[RescueTeamArea(team=row["id"], area=a["id"], area_path=a["path"]) for a in served]
        ).run()
        await audit.record(
            actor_id=account_id,
            action="rescue_team.create",
            object_type="rescue_team",
            object_id=row["id"],
            area_path=min(a["path"] for a in served),
            detail={"name": data.name, "tier": data.tier, "area_ids": data.area_ids},
        )
    return await read_team(team_id=row["id"], grants=grants)


async def update_team(
    *, team_id: int, data: TeamUpdate, account_id: int, grants: list[policy.Grant]
) -> TeamRead:
    """Change a team (the caller manages every area it serves, before and after)."""
    _, areas = await _team(team_id, grants)
    if not _manages(grants, areas):
        raise Forbidden("the team serves areas outside yours")
    changes: dict[Any, Any] = {RescueTeam.updated_at: clock.now()}
    served = None
    if data.area_ids is not msgspec.UNSET:
        served = await _served_areas(data.area_ids, grants)
    for name in ("name", "type", "tier", "contact_name", "contact_phone", "note"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            changes[getattr(RescueTeam, name)] = value.strip() if isinstance(value, str) else value
    if data.base is not msgspec.UNSET:
        lng, lat = to_wgs84(data.base.lat, data.base.lng, data.base.datum)
        changes.update(
            {
                RescueTeam.lat: lat,
                RescueTeam.lng: lng,
                RescueTeam.sent_lat: data.base.lat,
                RescueTeam.sent_lng: data.base.lng,
                RescueTeam.sent_datum: data.base.datum,
            }
        )
    if data.active is not msgspec.UNSET:
        changes[RescueTeam.active] = data.active
        changes[RescueTeam.retired_at] = None if data.active else clock.now()
    async with write_transaction():
        await RescueTeam.update(changes).where(RescueTeam.id == team_id).run()
        if served is not None:
            await RescueTeamArea.delete().where(RescueTeamArea.team == team_id).run()
            await RescueTeamArea.insert(
                *[RescueTeamArea(team=team_id, area=a["id"], area_path=a["path"]) for a in served]
            ).run()
        await audit.record(
            actor_id=account_id,
            action="rescue_team.update",
            object_type="rescue_team",
            object_id=team_id,
            area_path=min(a["area_path"] for a in areas),
            detail=msgspec.to_builtins(data),
        )
    return await read_team(team_id=team_id, grants=grants)


async def retire_team(*, team_id: int, account_id: int, grants: list[policy.Grant]) -> TeamRead:
    """Retire a team: it is no longer suggested or dispatched; its past responses stay."""
    return await update_team(
        team_id=team_id, data=TeamUpdate(active=False), account_id=account_id, grants=grants
    )


async def list_teams(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    tier: str | None = None,
    team_type: str | None = None,
    active: bool | None = True,
    limit: int = 50,
    cursor: str | None = None,
    datum: str = "wgs84",
) -> TeamPage:
    """Teams serving the caller's areas (or areas above them), by id; `area_path` narrows to
    teams serving that area, inside it or above it."""
    scopes = policy.scopes(grants, "rescue_team.read")
    if area_path is not None:
        if not _overlaps([area_path], scopes):
            raise Forbidden()
        scopes = [area_path]
    if not scopes:
        raise Forbidden()
    seen = None
    for p in scopes:
        clause = RescueTeamArea.area_path.like(p + "%") | RescueTeamArea.area_path.is_in(
            ancestors_and_self(p)
        )
        seen = clause if seen is None else seen | clause
    team_ids = sorted(
        {r["team"] for r in await RescueTeamArea.select(RescueTeamArea.team).where(seen).run()}
    )
    if not team_ids:
        return TeamPage(items=[], next_cursor=None)
    query = RescueTeam.select().where(RescueTeam.id.is_in(team_ids))
    if tier is not None:
        query = query.where(RescueTeam.tier == tier)
    if team_type is not None:
        query = query.where(RescueTeam.type == team_type)
    if active is not None:
        query = query.where(RescueTeam.active.eq(active))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(RescueTeam.id > after)
    rows = await query.order_by(RescueTeam.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    areas = await _team_areas([r["id"] for r in rows])
    return TeamPage(
        items=[_team_read(r, areas[r["id"]], grants, datum) for r in rows], next_cursor=cursor_out
    )


async def suggest_teams(
    *, report_id: int, grants: list[policy.Grant], per_tier: int = 3, datum: str = "wgs84"
) -> SuggestionsRead:
    """The nearest active teams of each tier serving the case's area (its grid or anything
    above it), by straight-line distance from their base to the case."""
    case = await _case(report_id)
    _require_dispatcher(case, grants)
    served = (
        await RescueTeamArea.select(RescueTeamArea.team)
        .where(RescueTeamArea.area_path.is_in(ancestors_and_self(case["area_path"])))
        .run()
    )
    team_ids = sorted({r["team"] for r in served})
    rows = (
        await RescueTeam.select()
        .where(RescueTeam.id.is_in(team_ids) & RescueTeam.active.eq(True))
        .run()
        if team_ids
        else []
    )
    dispatched = {
        r["team"]
        for r in await ResponseRecord.select(ResponseRecord.team)
        .where((ResponseRecord.report == report_id) & ResponseRecord.team.is_not_null())
        .run()
    }
    by_tier: dict[str, list[tuple[float, dict[str, Any]]]] = {t: [] for t in TIERS}
    for r in rows:
        d = geo.distance_m(case["lng"], case["lat"], r["lng"], r["lat"])
        by_tier[r["tier"]].append((round(d, 1), r))
    chosen = {t: sorted(v, key=lambda x: (x[0], x[1]["id"]))[:per_tier] for t, v in by_tier.items()}
    areas = await _team_areas([r["id"] for v in chosen.values() for _, r in v])
    out = {
        t: [
            TeamSuggestion(
                team=_team_read(r, areas[r["id"]], grants, datum),
                distance_m=d,
                already_dispatched=r["id"] in dispatched,
            )
            for d, r in v
        ]
        for t, v in chosen.items()
    }
    return SuggestionsRead(report_id=report_id, **out)


def _require_dispatcher(case: dict[str, Any], grants: list[policy.Grant]) -> None:
    if not policy.allows(grants, "report.read", case["area_path"]):
        raise NotFound("report_not_found")
    policy.require(grants, "response.dispatch", case["area_path"])


async def dispatch_team(
    *, report_id: int, data: DispatchIn, account_id: int, grants: list[policy.Grant]
) -> tuple[ResponseRead, bool]:
    """Send a rescue team to an open urgent case: a response record with the dispatch as its
    alert time. Dispatching the same team again returns its record; True if it is new."""
    case = await _case(report_id)
    _require_dispatcher(case, grants)
    if not case["urgent"]:
        raise Conflict(
            "report_not_urgent",
            detail="teams are dispatched to urgent cases",
            detail_zh="仅紧急险情可派遣救援队伍",
        )
    if case["status"] not in workflow.OPEN:
        raise Conflict("report_not_open", detail=f"the case is {case['status']}")
    team, _ = await _team(data.team_id, grants)
    if not team["active"]:
        raise Conflict("team_retired", detail="the team is retired")
    now = clock.now()
    async with write_transaction():
        added = (
            await ResponseRecord.insert(
                ResponseRecord(
                    report=report_id,
                    team=team["id"],
                    tier=team["tier"],
                    status="alerted",
                    alerted_at=now,
                    dispatched_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .on_conflict(target=(ResponseRecord.report, ResponseRecord.team), action="DO NOTHING")
            .returning(ResponseRecord.id)
            .run()
        )
        if added:
            await timeline.record_event(
                report_id,
                from_status=case["status"],
                to_status=case["status"],
                action="response_dispatch",
                actor_id=account_id,
                duty=policy.duty_covering(grants, case["area_path"]),
                data={
                    "response_id": added[0]["id"],
                    "team_id": team["id"],
                    "team_name": team["name"],
                    "tier": team["tier"],
                },
                public=True,
                note=data.note.strip(),
            )
    if added:
        return await _read_record(added[0]["id"]), True
    existing = (
        await ResponseRecord.select(ResponseRecord.id)
        .where((ResponseRecord.report == report_id) & (ResponseRecord.team == team["id"]))
        .first()
        .run()
    )
    return await _read_record(existing["id"]), False


# --- metrics (docs/metrics.md) -------------------------------------------------------------


def median(values: list[float]) -> float | None:
    """The middle value; the mean of the two middle values for an even count."""
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    v = sorted(values)
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]


def _measure(values: list[float], target: int | None) -> Measure:
    within = None if target is None else sum(1 for x in values if x <= target)
    mid, p90 = median(values), percentile(values, 90)
    return Measure(
        count=len(values),
        target_minutes=target,
        within_target=within,
        share_within_target=round(within / len(values), 4)
        if within is not None and values
        else None,
        median_minutes=None if mid is None else round(mid, 2),
        p90_minutes=None if p90 is None else round(p90, 2),
    )


def figures(cases: list[dict[str, Any]], records: list[dict[str, Any]]) -> ResponseFigures:
    """The response figures of these urgent cases and their records (docs/metrics.md)."""
    s = get_settings()
    reaction_target = {"community": s.response_reaction_target_minutes}
    arrival_target = {
        "ground": s.response_ground_target_minutes,
        "air": s.response_air_target_minutes,
    }
    reaction: dict[str, list[float]] = {t: [] for t in TIERS}
    arrival: dict[str, list[float]] = {t: [] for t in TIERS}
    by_case: dict[int, list[dict[str, Any]]] = defaultdict(list)
    unacknowledged = not_arrived = unverified = 0
    for r in records:
        by_case[r["report"]].append(r)
        minutes = (
            (r["acknowledged_at"] - r["alerted_at"]).total_seconds() / 60
            if r["acknowledged_at"]
            else None
        )
        if minutes is not None:
            reaction[r["tier"]].append(minutes)
        if r["arrived_at"] is not None and r["arrival_verified"]:
            arrival[r["tier"]].append((r["arrived_at"] - r["alerted_at"]).total_seconds() / 60)
        elif r["arrived_at"] is not None:
            unverified += 1
        if r["status"] == "alerted":
            unacknowledged += 1
        elif r["status"] in ("acknowledged", "set_off"):
            not_arrived += 1
    return ResponseFigures(
        cases=len(cases),
        records=len(records),
        reaction=ByTier(**{t: _measure(reaction[t], reaction_target.get(t)) for t in TIERS}),
        arrival=ByTier(**{t: _measure(arrival[t], arrival_target.get(t)) for t in TIERS}),
        waiting_cases=sum(1 for c in cases if _waiting(c, by_case[c["id"]])),
        unacknowledged=unacknowledged,
        not_arrived=not_arrived,
        unverified_arrivals=unverified,
    )


def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=get_settings().zone).astimezone(UTC)


async def response_times(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    group_by: str = "township",
) -> ResponseStatsRead:
    """Reaction and arrival times of the urgent cases reported in the period (local dates,
    both included) inside the caller's areas, in total and by township or district."""
    if area_path is not None:
        policy.require(grants, "response.stats", area_path)
        paths = [area_path]
    else:
        paths = policy.scopes(grants, "response.stats")
        if not paths:
            raise Forbidden()
    date_to = date_to or clock.today()
    date_from = date_from or date_to - timedelta(days=DEFAULT_STATS_DAYS - 1)
    if date_from > date_to:
        raise invalid("from", "from is after to", detail_zh="开始日期晚于结束日期")
    if (date_to - date_from).days >= MAX_STATS_DAYS:
        raise invalid("from", f"at most {MAX_STATS_DAYS} days", detail_zh="统计期间过长")
    start, end = _local_day_start(date_from), _local_day_start(date_to + timedelta(days=1))
    cases = (
        await HazardReport.select(
            HazardReport.id,
            HazardReport.status,
            HazardReport.township,
            HazardReport.district,
        )
        .where(
            HazardReport.urgent.eq(True)
            & (HazardReport.created_at >= start)
            & (HazardReport.created_at < end)
            & under(HazardReport.area_path, paths)
        )
        .run()
    )
    records = (
        await ResponseRecord.select(
            ResponseRecord.report,
            ResponseRecord.tier,
            ResponseRecord.status,
            ResponseRecord.alerted_at,
            ResponseRecord.acknowledged_at,
            ResponseRecord.arrived_at,
            ResponseRecord.arrival_verified,
        )
        .where(
            ResponseRecord.report.urgent.eq(True)
            & (ResponseRecord.report.created_at >= start)
            & (ResponseRecord.report.created_at < end)
            & under(ResponseRecord.report.area_path, paths)
        )
        .run()
    )
    key = "district" if group_by == "district" else "township"
    group_of = {c["id"]: c[key] for c in cases}
    cases_by: dict[int, list[dict[str, Any]]] = defaultdict(list)
    records_by: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in cases:
        if c[key] is not None:
            cases_by[c[key]].append(c)
    for r in records:
        if group_of.get(r["report"]) is not None:
            records_by[group_of[r["report"]]].append(r)
    areas = (
        await Area.select(Area.id, Area.code, Area.name).where(Area.id.is_in(list(cases_by))).run()
        if cases_by
        else []
    )
    groups = [
        ResponseGroup(
            area=AreaRef(id=a["id"], code=a["code"], name=a["name"]),
            figures=figures(cases_by[a["id"]], records_by[a["id"]]),
        )
        for a in sorted(areas, key=lambda a: a["code"])
    ]
    return ResponseStatsRead(
        date_from=date_from,
        date_to=date_to,
        timezone=get_settings().timezone,
        group_by=key,
        total=figures(cases, records),
        groups=groups,
    )
