"""Check-ins at the checkpoints of a started patrol, idempotent by the client's key: a retry
with the same key and body gets the first answer back, with another body a conflict."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from grid_backend.areas.services import to_wgs84
from grid_backend.core import clock, geo, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict, invalid
from grid_backend.core.i18n import N_
from grid_backend.core.idempotency import Idempotent, digest
from grid_backend.media.services import uploaded_by
from grid_backend.patrols.schemas import CheckInCreate, CheckInRead
from grid_backend.patrols.services.checkpoints import _checkpoints
from grid_backend.patrols.services.tasks import (
    _check_in_photos,
    _check_in_read,
    _closes,
    _own_task,
    _task,
)
from grid_backend.patrols.tables import CheckIn, CheckInPhoto
from grid_backend.settings import get_settings


async def _earlier_check_in(task_id: int, key: str) -> dict[str, Any] | None:
    return (
        await CheckIn.select()
        .where((CheckIn.task == task_id) & (CheckIn.client_id == key))
        .first()
        .run()
    )


async def _answer(earlier: dict[str, Any]) -> CheckInRead:
    return _check_in_read(earlier, (await _check_in_photos([earlier["id"]])).get(earlier["id"], []))


async def _check_photos(ids: list[int], account_id: int) -> None:
    limit = get_settings().media_max_photos
    if len(ids) > limit:
        raise invalid(
            "photo_ids",
            "at most %(max_photos)s photos",  # its own msgid: zh-CN says 照片过多 here
            code="photo_count_exceeded",
            params={"max_photos": limit},
        )
    if len(set(ids)) != len(ids):
        raise invalid("photo_ids", "a photo is listed twice")
    mine = await uploaded_by(ids, account_id) if ids else set()
    missing = [i for i in ids if i not in mine]
    if missing:
        raise invalid(
            "photo_ids",
            "photos %(missing)s were not uploaded by you",
            code="photo_not_yours",
            params={"missing": missing},
        )


async def check_in(
    *,
    task_id: int,
    data: CheckInCreate,
    account_id: int,
    grants: list[policy.Grant],
    idempotency_key: str | None = None,
) -> tuple[CheckInRead, bool]:
    """Record a check-in at a checkpoint of a started task; flagged, never refused, when it is
    outside the radius, from a mock position or out of order. True if it is a replay."""
    task = await _task(task_id)
    _own_task(task, account_id, grants)
    key = idempotency_key or data.client_id
    once = Idempotent(
        key,
        digest(data),
        find=lambda k: _earlier_check_in(task_id, k),
        answer=_answer,
        conflict=N_("this Idempotency-Key was used for a different check-in"),
    )
    if (earlier := await once.earlier()) is not None:
        return earlier, True
    if task["status"] != "in_progress":
        raise Conflict("task_state_conflict", detail=f"the task is {task['status']}")
    now = clock.now()
    if now > _closes(task):
        raise Conflict("task_window_closed", detail="the patrol's time is over")
    points, point = await _checkpoint_of(task, data.checkpoint_id)
    await _check_photos(data.photo_ids, account_id)
    place = _place(data, point)

    async def create() -> dict[str, Any]:
        async with write_transaction():
            await once.guard()
            return await _insert_check_in(
                task,
                points,
                point,
                data,
                place,
                account_id=account_id,
                now=now,
                key=key,
                digest=once.digest,
            )

    made, _ = await once.run(create)
    if isinstance(made, CheckInRead):  # a parallel retry won the race: its answer
        return made, True
    return _check_in_read(made, list(data.photo_ids)), False


async def _checkpoint_of(
    task: dict[str, Any], checkpoint_id: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The task's checkpoints, and the one checked in at (422 if it is not one of them)."""
    points = (await _checkpoints({(task["plan"], task["plan_revision"])}))[
        (task["plan"], task["plan_revision"])
    ]
    point = next((p for p in points if p["id"] == checkpoint_id), None)
    if point is None:
        raise invalid(
            "checkpoint_id",
            "not a checkpoint of this task",
            code="checkpoint_unknown",
        )
    return points, point


def _place(data: CheckInCreate, point: dict[str, Any]) -> tuple[float, float, float]:
    """(lat, lng) of the check-in in WGS-84, and its distance in metres from the checkpoint."""
    loc = data.location
    lng, lat = to_wgs84(loc.lat, loc.lng, loc.datum)
    return lat, lng, round(geo.distance_m(point["lng"], point["lat"], lng, lat), 1)


async def _out_of_order(task: dict[str, Any], points: list[dict[str, Any]], point: dict) -> bool:
    """In an ordered plan: an earlier checkpoint has no check-in yet."""
    if not task["ordered"]:
        return False
    done = {
        r["checkpoint"]
        for r in await CheckIn.select(CheckIn.checkpoint).where(CheckIn.task == task["id"]).run()
    }
    return any(p["seq"] < point["seq"] and p["id"] not in done for p in points)


async def _insert_check_in(
    task: dict[str, Any],
    points: list[dict[str, Any]],
    point: dict[str, Any],
    data: CheckInCreate,
    place: tuple[float, float, float],
    *,
    account_id: int,
    now: datetime,
    key: str | None,
    digest: str,
) -> dict[str, Any]:
    """Store the check-in and its photos (in the caller's transaction); the row stored."""
    loc = data.location
    lat, lng, distance = place
    out_of_order = await _out_of_order(task, points, point)
    inserted = (
        await CheckIn.insert(
            CheckIn(
                task=task["id"],
                checkpoint=point["id"],
                account=account_id,
                lat=lat,
                lng=lng,
                sent_lat=loc.lat,
                sent_lng=loc.lng,
                sent_datum=loc.datum,
                accuracy_m=loc.accuracy_m,
                location_source=loc.source,
                is_mock=loc.is_mock,
                distance_m=distance,
                within_radius=distance <= point["radius_m"],
                out_of_order=out_of_order,
                note=data.note.strip(),
                device_time=data.device_time,
                at=now,
                client_id=key,
                request_digest=digest,
            )
        )
        .returning(CheckIn.id)
        .run()
    )[0]
    row = await CheckIn.select().where(CheckIn.id == inserted["id"]).first().run()
    assert row is not None  # inserted just above, in this transaction
    if data.photo_ids:
        await CheckInPhoto.insert(
            *[
                CheckInPhoto(check_in=row["id"], photo=pid, position=i)
                for i, pid in enumerate(data.photo_ids)
            ]
        ).run()
    return row
