"""Reading response records: a case's responses, the urgent list, my responses."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from piccolo.columns.combination import WhereRaw

from grid_backend.core import geo, policy
from grid_backend.core.db import under
from grid_backend.core.errors import Forbidden, NotFound
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.types import AreaRef, Datum
from grid_backend.hazards import workflow
from grid_backend.hazards.tables import HazardReport
from grid_backend.response.schemas import (
    MyResponse,
    MyResponsePage,
    ResponseList,
    ResponseRead,
    StepRead,
    UrgentCase,
    UrgentCasePage,
)
from grid_backend.response.services.common import NEXT_STEP, _minutes
from grid_backend.response.tables import ResponseRecord, ResponseStep

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


async def _steps(record_ids: list[int], datum: Datum) -> dict[int, list[StepRead]]:
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
            lng, lat = geo.convert(lng, lat, "wgs84", datum)
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
    *, report_id: int, account_id: int, grants: list[policy.Grant], datum: Datum = "wgs84"
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
