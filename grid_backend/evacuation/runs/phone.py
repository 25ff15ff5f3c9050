"""The phone's side of an evacuation: a helper's households across the active evacuations
(the field app's page), a linked resident's own household (the card on their home page) and
the resident's answer, "I have moved" or "I am safe".

A resident's answer is an event on the household's timeline (`to_status` `answer_moved` or
`answer_safe`, from and to nothing else: `from_status` is the status it had) and never
changes the household's status: the helper, who sees it, records the status."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from grid_backend.areas.services import to_wgs84
from grid_backend.core import audit, clock
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import Conflict, NotFound, invalid
from grid_backend.core.i18n import N_
from grid_backend.core.idempotency import Idempotent, digest
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.policy import Grant, ancestors_and_self
from grid_backend.core.sql import all_of, in_, q
from grid_backend.evacuation.runs.common import Live, _utc, helping, publish
from grid_backend.evacuation.runs_schemas import (
    AnswerIn,
    AnswerRead,
    MyHousehold,
    MyHouseholdPage,
    ResidentCard,
    ResidentCardPage,
    ShelterBrief,
)
from grid_backend.evacuation.tables import EvacuationEvent, Shelter

ANSWERS = {"moved": "answer_moved", "safe": "answer_safe"}  # answer -> the event's to_status

_TASKS = (
    "SELECT t.id, t.evacuation, t.household, t.helper, t.area_path, t.people, t.vulnerable,"
    " t.status, t.destination, t.shelter AS moved_to, t.note, t.reason, t.updated_at,"
    " h.address, h.head_name, h.head_phone, h.elderly_alone, h.disabled, h.children,"
    " h.pregnant, h.shelter AS planned, COALESCE(h.lat, rp.lat) AS lat,"
    " COALESCE(h.lng, rp.lng) AS lng, e.started_at, e.status AS run_status"
    " FROM evacuation_task t JOIN evacuation_household h ON h.id = t.household"
    " JOIN evacuation_run e ON e.id = t.evacuation"
    " LEFT JOIN risk_point rp ON rp.id = h.risk_point"
    " WHERE {} ORDER BY t.id LIMIT {}"
)


def shelter_brief(s: dict[str, Any]) -> ShelterBrief:
    """A shelter with links to reach it (its name, place and contact from `s`)."""
    lat, lng, name = s["lat"], s["lng"], s["name"]
    return ShelterBrief(
        id=s["id"],
        name=name,
        lat=lat,
        lng=lng,
        contact_phone=s["contact_phone"],
        geo_url=f"geo:{lat:.6f},{lng:.6f}?q={lat:.6f},{lng:.6f}({quote(name)})",
        route_url=(
            f"https://uri.amap.com/navigation?to={lng:.6f},{lat:.6f},{quote(name)}"
            "&mode=walk&coordinate=wgs84&callnative=1"
        ),
    )


async def _shelters(rows: list[dict[str, Any]]) -> dict[int, ShelterBrief]:
    ids = sorted({s for r in rows for s in (r["moved_to"], r["planned"]) if s is not None})
    if not ids:
        return {}
    found = await Shelter.select(
        Shelter.id, Shelter.name, Shelter.lat, Shelter.lng, Shelter.contact_phone
    ).where(Shelter.id.is_in(ids))
    return {s["id"]: shelter_brief(s) for s in found}


async def _answers(task_ids: list[int]) -> dict[int, AnswerRead]:
    """Each task's latest resident answer."""
    if not task_ids:
        return {}
    rows = (
        await EvacuationEvent.select(
            EvacuationEvent.task,
            EvacuationEvent.to_status,
            EvacuationEvent.at,
            EvacuationEvent.device_time,
        )
        .where(
            EvacuationEvent.task.is_in(task_ids)
            & EvacuationEvent.to_status.is_in(list(ANSWERS.values()))
        )
        .order_by(EvacuationEvent.id)
        .run()
    )
    found: dict[int, AnswerRead] = {}
    for r in rows:
        found[r["task"]] = AnswerRead(
            answer=r["to_status"].removeprefix("answer_"),
            at=_utc(r["at"]),
            device_time=_utc(r["device_time"]),
        )
    return found


SERVING = 8  # open shelters offered for a household, its planned one first

_SERVING = (
    "SELECT DISTINCT s.id, s.name, s.lat, s.lng, s.contact_phone, sa.area_path AS served"
    " FROM evacuation_shelter s JOIN evacuation_shelter_area sa ON sa.shelter = s.id"
    " WHERE s.retired_at IS NULL AND s.is_open = {} AND {} ORDER BY s.id"
)


async def _serving(rows: list[dict[str, Any]]) -> dict[str, list[ShelterBrief]]:
    """The open shelters serving each grid of these households (a shelter serving an area
    serves every grid inside it), by grid path."""
    grids = {r["area_path"] for r in rows}
    paths = sorted({p for g in grids for p in ancestors_and_self(g)})
    if not paths:
        return {}
    found = await fetch(q(_SERVING, True, in_("sa.area_path", paths)))
    by_grid: dict[str, dict[int, ShelterBrief]] = {g: {} for g in grids}
    for s in found:
        for grid in grids:
            if grid.startswith(s["served"]):
                by_grid[grid].setdefault(s["id"], shelter_brief(s))
    return {g: list(briefs.values()) for g, briefs in by_grid.items()}


def _choices(
    r: dict[str, Any], serving: dict[str, list[ShelterBrief]], shelters: dict[int, ShelterBrief]
) -> list[ShelterBrief]:
    planned = shelters.get(r["planned"]) if r["planned"] is not None else None
    others = [s for s in serving.get(r["area_path"], []) if planned is None or s.id != planned.id]
    return ([planned] if planned else []) + others[: SERVING - (1 if planned else 0)]


def _shelter_of(r: dict[str, Any], shelters: dict[int, ShelterBrief]) -> ShelterBrief | None:
    chosen = r["moved_to"] if r["destination"] == "shelter" else None
    chosen = chosen or (r["planned"] if r["status"] != "moved" else None)
    return shelters.get(chosen) if chosen is not None else None


async def my_households(
    *, account_id: int, grants: list[Grant], limit: int = 100, cursor: str | None = None
) -> MyHouseholdPage:
    """The households the caller helps in the evacuations now active, by task id (the phone
    sorts them by vulnerability and distance). Each read is audited: it names heads of
    households and their phones."""
    after = decode_cursor(cursor)
    where = all_of(
        helping(grants, account_id),
        q("e.status = {}", "active"),
        None if after is None else q("t.id > {}", after),
    )
    rows = await fetch(q(_TASKS, where, limit + 1))
    cursor_out = next_cursor(rows, limit)
    rows = rows[:limit]
    shelters = await _shelters(rows)
    serving = await _serving(rows)
    answers = await _answers([r["id"] for r in rows])
    items = [
        MyHousehold(
            evacuation_id=r["evacuation"],
            household_id=r["household"],
            address=r["address"],
            head_name=r["head_name"],
            head_phone=r["head_phone"],
            people=r["people"],
            vulnerable=r["vulnerable"],
            elderly_alone=r["elderly_alone"],
            disabled=r["disabled"],
            children=r["children"],
            pregnant=r["pregnant"],
            lat=r["lat"],
            lng=r["lng"],
            status=r["status"],
            destination=r["destination"],
            shelter=_shelter_of(r, shelters),
            note=r["note"],
            reason=r["reason"],
            updated_at=_utc(r["updated_at"]),
            resident_answer=answers.get(r["id"]),
            shelters=_choices(r, serving, shelters),
        )
        for r in rows
    ]
    await audit.record(
        actor_id=account_id,
        action="evacuation.households.read",
        object_type="account",
        object_id=account_id,
        detail={"count": len(items), "mine": True, "active": True, "cursor": cursor},
    )
    return MyHouseholdPage(items=items, next_cursor=cursor_out)


async def my_household(
    *, account_id: int, limit: int = 20, cursor: str | None = None
) -> ResidentCardPage:
    """The caller's own households (linked as their resident) in the evacuations now
    active: where to go and what they answered."""
    after = decode_cursor(cursor)
    where = all_of(
        q("h.resident = {}", account_id),
        q("e.status = {}", "active"),
        None if after is None else q("t.id > {}", after),
    )
    rows = await fetch(q(_TASKS, where, limit + 1))
    cursor_out = next_cursor(rows, limit)
    rows = rows[:limit]
    shelters = await _shelters(rows)
    answers = await _answers([r["id"] for r in rows])
    return ResidentCardPage(
        items=[
            ResidentCard(
                evacuation_id=r["evacuation"],
                household_id=r["household"],
                address=r["address"],
                status=r["status"],
                shelter=_shelter_of(r, shelters),
                answer=answers.get(r["id"]),
                started_at=_utc(r["started_at"]),
            )
            for r in rows
        ],
        next_cursor=cursor_out,
    )


async def _earlier(task_id: int, key: str) -> dict[str, Any] | None:
    return (
        await EvacuationEvent.select()
        .where((EvacuationEvent.task == task_id) & (EvacuationEvent.client_key == key))
        .first()
        .run()
    )


def _answer_read(row: dict[str, Any]) -> AnswerRead:
    return AnswerRead(
        answer=row["to_status"].removeprefix("answer_"),
        at=_utc(row["at"]),
        device_time=_utc(row["device_time"]),
    )


async def answer(
    *,
    evacuation_id: int,
    data: AnswerIn,
    account_id: int,
    idempotency_key: str | None = None,
) -> tuple[AnswerRead, bool]:
    """A linked resident answers "I have moved" or "I am safe" for their household: on its
    timeline, for the helper to see; the status is the helper's to change. True if it is a
    replay. 404 for anyone not linked to a household of this evacuation."""
    rows = await fetch(
        q(
            _TASKS,
            all_of(
                q("t.evacuation = {}", evacuation_id),
                q("h.resident = {}", account_id),
                None if data.household_id is None else q("t.household = {}", data.household_id),
            ),
            2,
        )
    )
    if not rows:
        raise NotFound("evacuation_task_not_found")
    if len(rows) > 1:  # linked to two households moving at once: say which one answers
        raise invalid(
            "household_id",
            "say which of your households this answer is for",
            code="evacuation_household_required",
        )
    task = rows[0]
    key = idempotency_key or data.client_id

    async def _answer(row: dict[str, Any]) -> AnswerRead:
        return _answer_read(row)

    once = Idempotent(
        key,
        digest(data),
        find=lambda k: _earlier(task["id"], k),
        answer=_answer,
        conflict=N_("this Idempotency-Key was used for a different answer"),
    )
    if (earlier := await once.earlier()) is not None:
        return earlier, True
    if task["run_status"] != "active":
        raise Conflict("evacuation_not_active")
    now = clock.now()
    loc = data.location
    lat = lng = None
    if loc is not None:
        lng, lat = to_wgs84(loc.lat, loc.lng, loc.datum)
    live: Live = []

    async def create() -> dict[str, Any]:
        async with write_transaction():
            await once.guard()
            made = (
                await EvacuationEvent.insert(
                    EvacuationEvent(
                        evacuation=evacuation_id,
                        task=task["id"],
                        from_status=task["status"],
                        to_status=ANSWERS[data.answer],
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
                        request_digest=once.digest,
                    )
                )
                .returning(*EvacuationEvent.all_columns())
                .run()
            )[0]
            await audit.record(
                actor_id=account_id,
                action="evacuation.answer",
                object_type="evacuation_task",
                object_id=task["id"],
                area_path=task["area_path"],
                detail={
                    "evacuation_id": evacuation_id,
                    "household_id": task["household"],
                    "answer": data.answer,
                },
            )
        message = {
            "type": "evacuation.answer",
            "evacuation_id": evacuation_id,
            "household_id": task["household"],
            "answer": data.answer,
        }
        live.append((task["helper"], message))
        return made

    made, replayed = await once.run(create)
    if replayed:
        return made, True  # type: ignore[return-value]  # the winner's answer
    publish(live)
    return _answer_read(made), False  # type: ignore[arg-type]
