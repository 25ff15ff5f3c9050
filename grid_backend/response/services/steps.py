"""Recording a responder's steps: acknowledge, set off, arrive, finish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grid_backend.areas.services import to_wgs84
from grid_backend.core import clock, geo, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound
from grid_backend.core.types import Datum
from grid_backend.hazards import timeline
from grid_backend.response.schemas import ResponseRead, StepIn
from grid_backend.response.services.common import NEXT_STEP, ORDER, STEP_TO, TIME_COLUMN
from grid_backend.response.services.reading import _RECORD_COLUMNS, _record_read, _steps
from grid_backend.response.tables import ResponseRecord, ResponseStep
from grid_backend.settings import get_settings


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


async def _read_record(response_id: int, datum: Datum = "wgs84") -> ResponseRead:
    row = await _record(response_id)
    return _record_read(row, (await _steps([response_id], datum)).get(response_id))


class _Raced(Exception):
    """The record moved on between reading and writing it."""


@dataclass(slots=True)
class _Planned:
    """A step as it will be written: the record's changes, when, and where."""

    changes: dict[Any, Any]
    at: datetime
    now: datetime
    lat: float | None = None
    lng: float | None = None
    distance: float | None = None


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
    _may_record(rec, account_id, grants)
    target = STEP_TO[data.step]
    current = rec["status"]
    if ORDER.index(target) <= ORDER.index(current):
        return await _read_record(response_id)  # a repeated step (a phone's retry)
    if ORDER.index(target) != ORDER.index(current) + 1:
        needed = NEXT_STEP[current]
        raise Conflict(
            "response_step_out_of_order",
            detail="the response is %(current)s: the next step is %(needed)s, not %(step)s",
            params={"current": current, "needed": needed, "step": data.step},
        )
    planned = _plan(rec, data, target)
    try:
        async with write_transaction():
            await _write(rec, data, planned, account_id, grants)
    except _Raced:
        again = await _record(response_id)
        if ORDER.index(again["status"]) >= ORDER.index(target):
            return await _read_record(response_id)
        raise Conflict(
            "response_step_out_of_order", detail=f"the response is {again['status']}"
        ) from None
    return await _read_record(response_id)


def _may_record(rec: dict[str, Any], account_id: int, grants: list[policy.Grant]) -> None:
    """The responder records their own steps; a dispatcher covering the case a team's."""
    path = rec["area_path"]
    if rec["team"] is None:
        allowed = rec["account"] == account_id
    else:
        allowed = policy.allows(grants, "response.dispatch", path)
    if not allowed:
        if policy.allows(grants, "report.read", path):
            raise Forbidden("only the responder (or a dispatcher, for a team) records steps")
        raise NotFound("response_not_found")


def _plan(rec: dict[str, Any], data: StepIn, target: str) -> _Planned:
    now = clock.now()
    previous = rec[f"{rec['status']}_at"]
    # the phone's time (it may sync late), never before the previous step nor after receipt
    at = now if data.device_time is None else min(now, max(data.device_time, previous))
    changes: dict[Any, Any] = {
        ResponseRecord.status: target,
        TIME_COLUMN[target]: at,
        ResponseRecord.updated_at: now,
    }
    planned = _Planned(changes, at, now)
    loc = data.location
    if loc is not None:
        planned.lng, planned.lat = to_wgs84(loc.lat, loc.lng, loc.datum)
        planned.distance = round(
            geo.distance_m(rec["case_lng"], rec["case_lat"], planned.lng, planned.lat), 1
        )
    if data.step == "arrive":
        distance = planned.distance
        changes[ResponseRecord.arrival_distance_m] = distance
        changes[ResponseRecord.arrival_verified] = (
            loc is not None
            and not loc.is_mock
            and distance is not None
            and distance <= get_settings().response_arrival_radius_m
        )
    return planned


async def _write(
    rec: dict[str, Any],
    data: StepIn,
    planned: _Planned,
    account_id: int,
    grants: list[policy.Grant],
) -> None:
    """The record moved on, its step, and the case's timeline event; in one transaction."""
    response_id, loc = rec["id"], data.location
    updated = (
        await ResponseRecord.update(planned.changes)
        .where((ResponseRecord.id == response_id) & (ResponseRecord.status == rec["status"]))
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
            at=planned.at,
            received_at=planned.now,
            device_time=data.device_time,
            lat=planned.lat,
            lng=planned.lng,
            sent_lat=loc.lat if loc else None,
            sent_lng=loc.lng if loc else None,
            sent_datum=loc.datum if loc else None,
            accuracy_m=loc.accuracy_m if loc else None,
            is_mock=loc.is_mock if loc else False,
            distance_m=planned.distance,
            note=data.note.strip(),
        )
    ).run()
    await timeline.record_event(
        rec["report"],
        from_status=rec["case_status"],
        to_status=rec["case_status"],
        action=f"response_{data.step}",
        actor_id=account_id,
        duty=policy.duty_covering(grants, rec["area_path"]),
        data={
            "response_id": response_id,
            "team_id": rec["team"],
            "account_id": rec["account"],
            "distance_m": planned.distance,
            "arrival_verified": planned.changes.get(ResponseRecord.arrival_verified),
        },
        lat=planned.lat,
        lng=planned.lng,
        public=data.step == "arrive",
        note=data.note.strip(),
    )
