"""The households of an evacuation: reading them and their timelines, and recording their
statuses by the workflow table (a refusal escalated to the grid leader and the township)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from grid_backend.areas.services import to_wgs84
from grid_backend.areas.services.serving import overlaps
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound, invalid
from grid_backend.core.i18n import N_
from grid_backend.core.idempotency import Idempotent, digest
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.policy import ancestor_path
from grid_backend.core.sql import QueryString, all_of, any_of, postgres, q, under
from grid_backend.evacuation.households import helps
from grid_backend.evacuation.runs.common import (
    NEXT,
    SKIPS_CONTACT,
    Live,
    _owners,
    _run,
    _utc,
    covered_by,
    helping,
    publish,
    task_live,
)
from grid_backend.evacuation.runs_schemas import (
    EventRead,
    StatusIn,
    TaskPage,
    TaskRead,
)
from grid_backend.evacuation.tables import (
    EvacuationEvent,
    EvacuationTask,
    Shelter,
)
from grid_backend.notify import services as notify
from grid_backend.notify.services import webhooks
from grid_backend.people.duty import holders

_TASK = (
    "SELECT t.*, h.address, h.head_name, h.head_phone, e.status AS run_status,"
    " e.area_path AS run_path FROM evacuation_task t"
    " JOIN evacuation_household h ON h.id = t.household"
    " JOIN evacuation_run e ON e.id = t.evacuation WHERE t.evacuation = {} AND {}"
)
# a status change reads its task and whether its key was used before in one round trip
_TASK_KEYED = (
    "SELECT t.*, h.address, h.head_name, h.head_phone, e.status AS run_status,"
    " e.area_path AS run_path, (SELECT MIN(k.id) FROM evacuation_event k WHERE k.task = t.id"
    " AND k.client_key = {}) AS keyed FROM evacuation_task t"
    " JOIN evacuation_household h ON h.id = t.household"
    " JOIN evacuation_run e ON e.id = t.evacuation WHERE t.evacuation = {} AND {}"
)


async def _task(
    evacuation_id: int,
    where: QueryString,
    account_id: int,
    grants: list[policy.Grant],
    key: str | None = None,
) -> dict[str, Any]:
    """A household's task the caller may see (its helper, or staff covering its grid); with
    a key, `keyed` says whether an event of this task was recorded with it."""
    if key is None:
        rows = await fetch(q(_TASK, evacuation_id, where))
    else:
        rows = await fetch(q(_TASK_KEYED, key, evacuation_id, where))
    task = rows[0] if rows else None
    if task is None or not (
        helps(grants, account_id, task)
        or policy.allows(grants, "evacuation.read", task["area_path"])
    ):
        raise NotFound("evacuation_task_not_found")
    return task


def _task_read(t: dict[str, Any]) -> TaskRead:
    return TaskRead(
        id=t["id"],
        evacuation_id=t["evacuation"],
        household_id=t["household"],
        helper_id=t["helper"],
        grid_id=t["grid"],
        address=t["address"],
        head_name=t["head_name"],
        head_phone=t["head_phone"],
        people=t["people"],
        vulnerable=t["vulnerable"],
        status=t["status"],
        destination=t["destination"],
        shelter_id=t["shelter"],
        note=t["note"],
        arrived_at=_utc(t["arrived_at"]),
        returned_at=_utc(t["returned_at"]),
        updated_at=_utc(t["updated_at"]),
        updated_by=t["updated_by"],
        reason=t.get("reason") or "",
    )


def _event_read(e: dict[str, Any], household_id: int) -> EventRead:
    return EventRead(
        id=e["id"],
        evacuation_id=e["evacuation"],
        task_id=e["task"],
        household_id=household_id,
        from_status=e["from_status"],
        status=e["to_status"],
        destination=e["destination"],
        shelter_id=e["shelter"],
        note=e["note"] if e["to_status"] != "refused" else e["reason"],
        lat=e["lat"],
        lng=e["lng"],
        datum="wgs84",
        accuracy_m=e["accuracy_m"],
        by=e["actor"],
        at=e["at"],
        device_time=e["device_time"],
    )


async def read_task(
    *, evacuation_id: int, household_id: int, account_id: int, grants: list[policy.Grant]
) -> TaskRead:
    """One household of an evacuation, for its helper or staff covering its grid; audited, as
    a read of one household is (it names the head and their phone)."""
    task = await _task(evacuation_id, q("t.household = {}", household_id), account_id, grants)
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="evacuation.household.view",
            object_type="evacuation_task",
            object_id=task["id"],
            area_path=task["area_path"],
            detail={"evacuation_id": evacuation_id, "household_id": household_id},
        )
    return _task_read(task)


async def list_tasks(
    *,
    evacuation_id: int,
    account_id: int,
    grants: list[policy.Grant],
    mine: bool = False,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TaskPage:
    """The households of an evacuation the caller may see (or only theirs), by id; 404 for
    those who neither watch its area nor help one of its households. Each read is audited
    (the list names heads of households and their phones)."""
    run = await _run(evacuation_id)
    covered = (await covered_by([evacuation_id]))[evacuation_id]
    scopes = policy.scopes(grants, "evacuation.read")
    watching = overlaps([c["area_path"] for c in covered], scopes)
    seen = helping(grants, account_id)
    if not watching and not await fetch(
        q(
            "SELECT 1 FROM evacuation_task t WHERE t.evacuation = {} AND {} LIMIT 1",
            evacuation_id,
            seen,
        )
    ):
        # whatever the filters: an empty page would tell an outsider it exists
        raise NotFound("evacuation_not_found")
    if not mine and watching:
        seen = any_of(seen, under("t.area_path", scopes))
    after = decode_cursor(cursor)
    where = all_of(
        seen,
        None if status is None else q("t.status = {}", status),
        None if after is None else q("t.id > {}", after),
    )
    rows = await fetch(q(_TASK + " ORDER BY t.id LIMIT {}", evacuation_id, where, limit + 1))
    cursor_out = next_cursor(rows, limit)
    items = [_task_read(r) for r in rows[:limit]]
    await audit.record(
        actor_id=account_id,
        action="evacuation.households.read",
        object_type="evacuation",
        object_id=evacuation_id,
        area_path=run["area_path"],
        detail={"count": len(items), "mine": mine, "status": status, "cursor": cursor},
    )
    return TaskPage(items=items, next_cursor=cursor_out)


async def timeline(
    *, evacuation_id: int, household_id: int, account_id: int, grants: list[policy.Grant]
) -> list[EventRead]:
    """A household's timeline in an evacuation, oldest first (bounded: a household changes
    status a handful of times)."""
    task = await _task(evacuation_id, q("t.household = {}", household_id), account_id, grants)
    rows = (
        await EvacuationEvent.select()
        .where(EvacuationEvent.task == task["id"])
        .order_by(EvacuationEvent.id)
        .limit(500)
        .run()
    )
    return [_event_read(r, household_id) for r in rows]


def check_change(status: str, data: StatusIn, shelter: dict[str, Any] | None) -> None:
    """The rules of a change from `status` (the table NEXT, the note of a skipped contact,
    the reason of a refusal, the destination of a move)."""
    target = data.status
    if target not in NEXT[status]:
        raise Conflict(
            "evacuation_status_skip",
            detail=N_("a household that is %(from)s cannot become %(to)s"),
            params={"from": status, "to": target},
        )
    if (status, target) in SKIPS_CONTACT and not data.note.strip():
        raise invalid(
            "note",
            "a move or safety without contact needs a note saying how it is known",
            code="evacuation_note_required",
        )
    if target == "refused" and not data.reason.strip():
        raise invalid("reason", "say why the household refuses", code="reason_required")
    if target == "moved":
        if data.destination is None:
            raise invalid(
                "destination", "a move says where to", code="evacuation_destination_invalid"
            )
        if data.destination == "shelter" and shelter is None:
            raise invalid(
                "shelter_id",
                "a move to a shelter names an open shelter",
                code="evacuation_destination_invalid",
            )
    if target != "moved" and (data.destination is not None or data.shelter_id is not None):
        raise invalid(
            "destination",
            "only a move has a destination",
            code="evacuation_destination_invalid",
        )
    if data.destination != "shelter" and data.shelter_id is not None:
        raise invalid(
            "shelter_id",
            "a shelter is named only for a move to a shelter",
            code="evacuation_destination_invalid",
        )


async def _shelter(shelter_id: int | None) -> dict[str, Any] | None:
    if shelter_id is None:
        return None
    return (
        await Shelter.select(Shelter.id, Shelter.name, Shelter.capacity, Shelter.area_path)
        .where((Shelter.id == shelter_id) & Shelter.retired_at.is_null() & Shelter.is_open.eq(True))
        .first()
        .run()
    )


async def record_status(
    *,
    evacuation_id: int,
    household_id: int,
    data: StatusIn,
    account_id: int,
    grants: list[policy.Grant],
    idempotency_key: str | None = None,
) -> tuple[EventRead, bool]:
    """Record a household's new status (its helper, or staff covering its grid): on its
    timeline with time, place and note; a refusal is escalated to the grid leader and the
    township. True if it is a replay of an earlier request."""
    key = idempotency_key or data.client_id
    where = q("t.household = {}", household_id)
    task = await _task(evacuation_id, where, account_id, grants, key)
    if not helps(grants, account_id, task) and not policy.allows(
        grants, "evacuation.record", task["area_path"]
    ):
        raise Forbidden()
    once = Idempotent(
        key,
        digest(data),
        find=lambda k: _earlier_event(task["id"], k),
        answer=lambda row: _answer(row, household_id),
        conflict=N_("this Idempotency-Key was used for a different status"),
    )
    # the task's read said whether the key was used: only then is its event read again
    if task.get("keyed") is not None and (earlier := await once.earlier()) is not None:
        return earlier, True
    if task["run_status"] != "active":
        raise Conflict("evacuation_not_active")
    shelter = await _shelter(data.shelter_id)
    check_change(task["status"], data, shelter)
    now = clock.now()
    live: Live = []

    async def create() -> dict[str, Any]:
        if postgres() and data.status != "refused":  # the phones' flood-day path: one statement
            event = await _change_at_once(
                task, data, account_id=account_id, now=now, key=key, request_digest=once.digest
            )
            if event is None:
                await once.guard()  # a retry with this key changed it meanwhile: its answer
                raise Conflict("evacuation_task_changed")
            live.extend(await task_live(task, event))
            return event
        async with write_transaction():
            # no guard() first: a retry that won the race has changed the task, so the
            # conditional update below fails, and then the guard finds its answer
            try:
                event = await apply_change(
                    task, data, account_id=account_id, now=now, key=key, request_digest=once.digest
                )
            except Conflict:
                await once.guard()  # a retry with this key changed it meanwhile: its answer
                raise
            if data.status == "refused":
                await _escalate_refusal(task, data.reason, event["id"])
            await audit.record(
                actor_id=account_id,
                action="evacuation.status",
                object_type="evacuation_task",
                object_id=task["id"],
                area_path=task["area_path"],
                detail={
                    "evacuation_id": evacuation_id,
                    "household_id": household_id,
                    "from": task["status"],
                    "to": data.status,
                },
            )
        live.extend(await task_live(task, event))
        return event

    made, replayed = await once.run(create)
    if replayed:
        return made, True  # type: ignore[return-value]  # the winner's answer
    publish(live)
    return _event_read(made, household_id), False  # type: ignore[arg-type]


# On PostgreSQL a status change is one statement (its own transaction): the task moves if it
# is still as read, its event is added, the change audited and its webhook event written for
# the subscribers that want it, or nothing happens. Six round trips (BEGIN, UPDATE, INSERT,
# INSERT, INSERT, COMMIT) become one on the path every phone takes.
_CHANGE = (
    "WITH changed AS (UPDATE evacuation_task SET status = {}::varchar, destination = {}::varchar,"
    " shelter = {}::int, note = {}::text, reason = {}::text, updated_by = {}::int,"
    " updated_at = {}::timestamptz, lat = COALESCE({}::float8, lat),"
    " lng = COALESCE({}::float8, lng) WHERE id = {}::int AND status = {}::varchar"
    " RETURNING id, evacuation),"
    " written AS (INSERT INTO evacuation_event (evacuation, task, from_status, to_status,"
    " destination, shelter, note, reason, lat, lng, sent_lat, sent_lng, sent_datum, accuracy_m,"
    " actor, device_time, at, client_key, request_digest)"
    " SELECT evacuation, id, {}::varchar, {}::varchar, {}::varchar, {}::int, {}::text, '',"
    " {}::float8, {}::float8, {}::float8, {}::float8, {}::varchar, {}::float8, {}::int,"
    " {}::timestamptz, {}::timestamptz, {}::varchar, {}::varchar FROM changed RETURNING *),"
    " audited AS (INSERT INTO audit_entry (actor_id, action, object_type, object_id, area_path,"
    " detail, at) SELECT {}::int, 'evacuation.status', 'evacuation_task', CAST(task AS TEXT),"
    " {}::varchar, {}::jsonb, {}::timestamptz FROM written),"
    " hooked AS ({})"
    " SELECT * FROM written"
)


async def _change_at_once(
    task: dict[str, Any],
    data: StatusIn,
    *,
    account_id: int,
    now: datetime,
    key: str | None,
    request_digest: str,
) -> dict[str, Any] | None:
    """The change as `apply_change` and the audit of `record_status` make it, in one
    statement (PostgreSQL; not a refusal, whose escalation writes more); the event's row, or
    None if the task changed meanwhile."""
    lat = lng = None
    loc = data.location
    if loc is not None:
        lng, lat = to_wgs84(loc.lat, loc.lng, loc.datum)
    detail = msgspec.json.encode(
        {
            "evacuation_id": task["evacuation"],
            "household_id": task["household"],
            "from": task["status"],
            "to": data.status,
        }
    ).decode()
    where = data.destination or ""
    args = (
        data.status, where, data.shelter_id, data.note, "", account_id, now, lat, lng,
        task["id"], task["status"],
        task["status"], data.status, where, data.shelter_id, data.note, lat, lng,
        loc.lat if loc else None, loc.lng if loc else None, loc.datum if loc else "wgs84",
        loc.accuracy_m if loc else None, account_id, data.device_time, now, key, request_digest,
        account_id, task["area_path"], detail, now,
        webhooks.emit_if_written(**_hook(task, data, now)),
    )  # fmt: skip
    rows = await fetch(q(_CHANGE, *args))
    return rows[0] if rows else None


async def _earlier_event(task_id: int, key: str) -> dict[str, Any] | None:
    return (
        await EvacuationEvent.select()
        .where((EvacuationEvent.task == task_id) & (EvacuationEvent.client_key == key))
        .first()
        .run()
    )


async def _answer(row: dict[str, Any], household_id: int) -> EventRead:
    return _event_read(row, household_id)


async def apply_change(
    task: dict[str, Any],
    data: StatusIn,
    *,
    account_id: int | None,
    now: datetime,
    key: str | None = None,
    request_digest: str | None = None,
    arrived: bool = False,
) -> dict[str, Any]:
    """Move the task to its new status if it is still as read, and add the event (in the
    caller's transaction); the event's row. 409 if the task changed meanwhile."""
    lat = lng = None
    if data.location is not None:
        lng, lat = to_wgs84(data.location.lat, data.location.lng, data.location.datum)
    changes: dict[Any, Any] = {
        EvacuationTask.status: data.status,
        EvacuationTask.destination: data.destination or "",
        EvacuationTask.shelter: data.shelter_id,
        EvacuationTask.note: data.note,
        EvacuationTask.reason: data.reason if data.status == "refused" else "",
        EvacuationTask.updated_by: account_id,
        EvacuationTask.updated_at: now,
    }
    if lat is not None:
        changes.update({EvacuationTask.lat: lat, EvacuationTask.lng: lng})
    if arrived:
        changes[EvacuationTask.arrived_at] = now
    done = (
        await EvacuationTask.update(changes)
        .where((EvacuationTask.id == task["id"]) & (EvacuationTask.status == task["status"]))
        .returning(EvacuationTask.id)
        .run()
    )
    if not done:
        raise Conflict("evacuation_task_changed")
    loc = data.location
    row = (
        await EvacuationEvent.insert(
            EvacuationEvent(
                evacuation=task["evacuation"],
                task=task["id"],
                from_status=task["status"],
                to_status=data.status,
                destination=data.destination or "",
                shelter=data.shelter_id,
                note=data.note,
                reason=data.reason if data.status == "refused" else "",
                lat=lat,
                lng=lng,
                sent_lat=loc.lat if loc else None,
                sent_lng=loc.lng if loc else None,
                sent_datum=loc.datum if loc else "wgs84",
                accuracy_m=loc.accuracy_m if loc else None,
                actor=account_id,
                device_time=data.device_time,
                at=now,
                client_key=key,
                request_digest=request_digest,
            )
        )
        .returning(*EvacuationEvent.all_columns())
        .run()
    )
    await webhooks.emit(**_hook(task, data, now))
    return row[0]


def _hook(task: dict[str, Any], data: StatusIn, now: datetime) -> dict[str, Any]:
    """The webhook event of a household's change: its key names the task and the moment (one
    change of a task at a time: the conditional update sees to it)."""
    return {
        "kind": "evacuation.household_status",
        "key": f"evacuation.household_status:{task['id']}:{now.isoformat()}",
        "data": {
            "evacuation_id": task["evacuation"],
            "household_id": task["household"],
            "from_status": task["status"],
            "to_status": data.status,
            "destination": data.destination or "",
            "shelter_id": data.shelter_id,
            "people": task["people"],
        },
    }


async def _escalate_refusal(task: dict[str, Any], reason: str, event_id: int) -> None:
    """Tell the grid's leaders and the township's dispatchers (its commanders if it has no
    dispatcher) that a household refuses to move."""
    day = clock.today()
    grid_path = task["area_path"]
    township = ancestor_path(grid_path, "township")
    bosses = (await holders(duties=["grid_leader"], area_paths=[grid_path], day=day)).get(
        grid_path, []
    )
    chiefs = (await holders(duties=["dispatcher"], area_paths=[township], day=day)).get(township)
    if not chiefs:
        chiefs = (await holders(duties=["commander"], area_paths=[township], day=day)).get(
            township, []
        )
    grid = (await _owners({grid_path})).get(grid_path)
    payload = {
        "evacuation_id": task["evacuation"],
        "household_id": task["household"],
        "address": task["address"],
        "people": task["people"],
        "reason": reason,
        "area_name": grid.name if grid else "",
    }
    for boss in sorted(set(bosses) | set(chiefs)):
        await notify.enqueue(
            recipient_id=boss,
            kind="evacuation.refused",
            payload=payload,
            dedupe_key=f"evacuation:{task['evacuation']}:refused:{event_id}:account:{boss}",
        )
