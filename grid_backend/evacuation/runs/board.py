"""An evacuation's board and its shelters: people checked in at a shelter (by household or
as a headcount) against its capacity, and the counts by area, helper and shelter that the
console shows live (docs/evacuation.md defines each figure).

The board counts only the households inside the caller's area (a township's dispatcher sees
their township of a district's evacuation); its queries group the task table once by grid
and status, and the rest is summed here, so a district's 3,846 grids cost one scan."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from grid_backend.areas.services.serving import overlaps
from grid_backend.areas.tables import Area
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound, invalid
from grid_backend.core.i18n import N_
from grid_backend.core.idempotency import Idempotent, digest
from grid_backend.core.policy import ancestor_path
from grid_backend.core.sql import in_, q, under
from grid_backend.core.types import AreaRef
from grid_backend.evacuation.runs import common, statuses
from grid_backend.evacuation.runs_schemas import (
    AreaCounts,
    ArrivalIn,
    ArrivalRead,
    Board,
    Counts,
    HelperProgress,
    ShelterLoad,
    StatusIn,
)
from grid_backend.evacuation.tables import EvacuationArrival, Shelter, ShelterArea
from grid_backend.people.tables import Account

NEAR = 0.9  # a shelter at 90 % of its capacity is flagged
HELPERS = 500  # helpers listed on a board, least progress first


async def _occupancy(evacuation_id: int, shelter_ids: list[int]) -> dict[int, int]:
    if not shelter_ids:
        return {}
    rows = await fetch(
        q(
            "SELECT shelter, SUM(people) AS n FROM evacuation_arrival WHERE evacuation = {}"
            " AND {} GROUP BY shelter",
            evacuation_id,
            in_("shelter", shelter_ids),
        )
    )
    return {r["shelter"]: int(r["n"]) for r in rows}


async def check_in(
    *,
    evacuation_id: int,
    shelter_id: int,
    data: ArrivalIn,
    account_id: int,
    grants: list[policy.Grant],
    idempotency_key: str | None = None,
) -> tuple[ArrivalRead, bool]:
    """Check people in at a shelter: a household of the evacuation (it is then moved there)
    or a headcount. Over capacity is accepted (people are not turned away) and flagged."""
    row, _ = await common._seen(evacuation_id, grants)
    shelter = await Shelter.select().where(Shelter.id == shelter_id).first().run()
    served = (
        [
            r["area_path"]
            for r in await ShelterArea.select(ShelterArea.area_path).where(
                ShelterArea.shelter == shelter_id
            )
        ]
        if shelter
        else []
    )
    if shelter is None or not overlaps(served, policy.scopes(grants, "evacuation.read")):
        raise NotFound("shelter_not_found")
    if not (
        overlaps(served, policy.scopes(grants, "evacuation.record"))
        or any(policy.allows(grants, "shelter.manage", p) for p in served)
    ):
        raise Forbidden()
    if (data.household_id is None) == (data.people is None):
        raise invalid(
            "household_id",
            "give a household or a headcount, not both",
            code="evacuation_arrival_invalid",
        )
    key = idempotency_key or data.client_id
    once = Idempotent(
        key,
        digest(data),
        find=lambda k: _earlier(evacuation_id, shelter_id, k),
        answer=lambda r: _answer(r, shelter),
        conflict=N_("this Idempotency-Key was used for a different arrival"),
    )
    if (earlier := await once.earlier()) is not None:
        return earlier, True
    if row["status"] != "active":
        raise Conflict("evacuation_not_active")
    if shelter["retired_at"] is not None:
        raise Conflict("shelter_retired")
    task = None
    if data.household_id is not None:
        task = await statuses._task(
            evacuation_id, q("t.household = {}", data.household_id), account_id, grants
        )
        if task["arrived_at"] is not None and task["shelter"] == shelter_id:
            raise Conflict("evacuation_already_arrived")
    now = clock.now()
    live: common.Live = []

    async def create() -> dict[str, Any]:
        async with write_transaction():
            await once.guard()
            if task is not None:
                # a check-in is the move itself, seen at the door: from any status
                change = StatusIn(
                    status="moved", destination="shelter", shelter_id=shelter_id, note=data.note
                )
                if task["arrived_at"] is not None and task["shelter"] is not None:
                    await _departure(task, account_id, now)  # moved on from another shelter
                try:
                    event = await statuses.apply_change(
                        task, change, account_id=account_id, now=now, arrived=True
                    )
                except Conflict:
                    await once.guard()  # a retry with this key checked it in meanwhile
                    raise
                live.extend(await common.task_live(task, event))
            made = (
                await EvacuationArrival.insert(
                    EvacuationArrival(
                        evacuation=evacuation_id,
                        shelter=shelter_id,
                        task=task["id"] if task else None,
                        people=task["people"] if task else data.people,
                        note=data.note,
                        recorded_by=account_id,
                        at=now,
                        client_key=key,
                        request_digest=once.digest,
                    )
                )
                .returning(*EvacuationArrival.all_columns())
                .run()
            )[0]
            await audit.record(
                actor_id=account_id,
                action="evacuation.arrival",
                object_type="evacuation",
                object_id=evacuation_id,
                area_path=shelter["area_path"],
                detail={
                    "shelter_id": shelter_id,
                    "household_id": data.household_id,
                    "people": made["people"],
                },
            )
        return made

    made, replayed = await once.run(create)
    if replayed:
        return made, True  # type: ignore[return-value]  # the winner's answer
    common.publish(live)
    return await _answer(made, shelter), False  # type: ignore[arg-type]


async def _departure(task: dict[str, Any], account_id: int, now: Any) -> None:
    """A household checked in at one shelter and now at another leaves the first: a row of
    minus its people there, so each shelter's occupancy stays the sum of its rows."""
    await EvacuationArrival.insert(
        EvacuationArrival(
            evacuation=task["evacuation"],
            shelter=task["shelter"],
            task=task["id"],
            people=-task["people"],
            recorded_by=account_id,
            at=now,
        )
    ).run()


async def _earlier(evacuation_id: int, shelter_id: int, key: str) -> dict[str, Any] | None:
    return (
        await EvacuationArrival.select()
        .where(
            (EvacuationArrival.evacuation == evacuation_id)
            & (EvacuationArrival.shelter == shelter_id)
            & (EvacuationArrival.client_key == key)
        )
        .first()
        .run()
    )


async def _answer(made: dict[str, Any], shelter: dict[str, Any]) -> ArrivalRead:
    """The arrival with the shelter's occupancy up to and including it (the same on a
    replay)."""
    rows = await fetch(
        q(
            "SELECT COALESCE(SUM(people), 0) AS n FROM evacuation_arrival WHERE evacuation = {}"
            " AND shelter = {} AND id <= {}",
            made["evacuation"],
            made["shelter"],
            made["id"],
        )
    )
    occupancy = int(rows[0]["n"])
    capacity = shelter["capacity"]
    household = None
    if made["task"] is not None:
        found = await fetch(q("SELECT household FROM evacuation_task WHERE id = {}", made["task"]))
        household = found[0]["household"] if found else None
    return ArrivalRead(
        id=made["id"],
        evacuation_id=made["evacuation"],
        shelter_id=made["shelter"],
        household_id=household,
        people=made["people"],
        at=made["at"],
        occupancy=occupancy,
        capacity=capacity,
        over_capacity=occupancy > capacity,
        near_capacity=occupancy >= NEAR * capacity,
    )


# --- the board -----------------------------------------------------------------------------

_BY_GRID = (
    "SELECT area_path, status, COUNT(*) AS h, SUM(people) AS p, SUM(vulnerable) AS v,"
    " COUNT(returned_at) AS r FROM evacuation_task WHERE evacuation = {} AND {}"
    " GROUP BY area_path, status"
)
_BY_HELPER = (
    "SELECT helper, COUNT(*) AS n,"
    " SUM(CASE WHEN status IN ('moved', 'already_safe') THEN 1 ELSE 0 END) AS done,"
    " SUM(CASE WHEN status <> 'pending' THEN 1 ELSE 0 END) AS started"
    " FROM evacuation_task WHERE evacuation = {} AND {} GROUP BY helper"
)
_SHELTERS = (
    "SELECT DISTINCT s FROM (SELECT shelter AS s FROM evacuation_task WHERE evacuation = {}"
    " AND shelter IS NOT NULL AND {} UNION SELECT h.shelter AS s FROM evacuation_task t"
    " JOIN evacuation_household h ON h.id = t.household WHERE t.evacuation = {}"
    " AND h.shelter IS NOT NULL AND {} UNION SELECT shelter AS s FROM evacuation_arrival"
    " WHERE evacuation = {}) x"
)


def _add(c: Counts, status: str, h: int, p: int, v: int, r: int) -> None:
    c.households += h
    c.people += p
    c.vulnerable_to_move += v
    if status in common.DONE:
        c.vulnerable_moved += v
    if status in ("pending", "not_at_home"):
        c.vulnerable_pending += v
    setattr(c, f"h_{status}", getattr(c, f"h_{status}") + h)
    setattr(c, f"p_{status}", getattr(c, f"p_{status}") + p)
    c.h_returned += r


def _rate(c: Counts) -> Counts:
    c.rate = round((c.p_moved + c.p_already_safe) / c.people, 4) if c.people else 0.0
    return c


async def board(*, evacuation_id: int, level: str, grants: list[policy.Grant]) -> Board:
    """The board of an evacuation inside the caller's area, by areas of `level`."""
    row, _ = await common._seen(evacuation_id, grants)
    scopes = policy.scopes(grants, "evacuation.read")
    inside = under("area_path", scopes)
    total = Counts()
    by_area: dict[str, Counts] = defaultdict(Counts)
    for r in await fetch(q(_BY_GRID, evacuation_id, inside)):
        args = (r["status"], int(r["h"]), int(r["p"] or 0), int(r["v"] or 0), int(r["r"]))
        _add(total, *args)
        _add(by_area[ancestor_path(r["area_path"], level)], *args)
    refs = (
        {
            a["path"]: AreaRef(id=a["id"], code=a["code"], name=a["name"])
            for a in await Area.select(Area.id, Area.code, Area.name, Area.path)
            .where(Area.path.is_in(sorted(by_area)))
            .run()
        }
        if by_area
        else {}
    )
    areas = [
        AreaCounts(area=refs[p], counts=_rate(c), path=p)
        for p, c in sorted(by_area.items())
        if p in refs
    ]
    helpers = await _helpers(evacuation_id, inside)
    shelters = await _shelters(evacuation_id, scopes)
    now = clock.now()
    started = row["started_at"]
    return Board(
        evacuation_id=evacuation_id,
        status=row["status"],
        level=level,
        started_at=started,
        seconds_since_start=int(((row["ended_at"] or now) - started).total_seconds())
        if started
        else None,
        total=_rate(total),
        areas=areas,
        helpers=helpers,
        shelters=shelters,
    )


async def _helpers(evacuation_id: int, inside: Any) -> list[HelperProgress]:
    rows = await fetch(q(_BY_HELPER, evacuation_id, inside))
    rows.sort(key=lambda r: (int(r["done"]) / int(r["n"]), int(r["started"]), r["helper"]))
    rows = rows[:HELPERS]
    names = (
        {
            a["id"]: a["name"]
            for a in await Account.select(Account.id, Account.name)
            .where(Account.id.is_in([r["helper"] for r in rows]))
            .run()
        }
        if rows
        else {}
    )
    return [
        HelperProgress(
            helper_id=r["helper"],
            name=names.get(r["helper"], ""),
            households=int(r["n"]),
            done=int(r["done"]),
            started=int(r["started"]),
        )
        for r in rows
    ]


async def _shelters(evacuation_id: int, scopes: list[str]) -> list[ShelterLoad]:
    """The shelters of the households inside the scopes (planned or moved to) and those
    anyone was checked in at."""
    query = q(
        _SHELTERS,
        evacuation_id,
        under("area_path", scopes),
        evacuation_id,
        under("t.area_path", scopes),
        evacuation_id,
    )
    ids = [r["s"] for r in await fetch(query)]
    if not ids:
        return []
    rows = await Shelter.select(Shelter.id, Shelter.name, Shelter.capacity).where(
        Shelter.id.is_in(ids)
    )
    occupancy = await _occupancy(evacuation_id, ids)
    loads = []
    for s in sorted(rows, key=lambda s: s["id"]):
        n = occupancy.get(s["id"], 0)
        ratio = n / s["capacity"] if s["capacity"] else 0.0
        loads.append(
            ShelterLoad(
                shelter_id=s["id"],
                name=s["name"],
                capacity=s["capacity"],
                occupancy=n,
                ratio=round(ratio, 4),
                near_capacity=ratio >= NEAR,
                over_capacity=n > s["capacity"],
            )
        )
    return loads


_RATES = (
    "SELECT evacuation, SUM(people) AS p,"
    " SUM(CASE WHEN status IN ('moved', 'already_safe') THEN people ELSE 0 END) AS done"
    " FROM evacuation_task WHERE {} AND {} GROUP BY evacuation"
)


async def rates(*, evacuation_ids: list[int], grants: list[policy.Grant]) -> dict[int, float]:
    """The Everyone-moved rate (应转尽转) of each evacuation inside the caller's area (a list's column): the
    board's `total.rate`, in one grouped query for the page."""
    scopes = policy.scopes(grants, "evacuation.read")
    if not evacuation_ids or not scopes:
        return {}
    rows = await fetch(q(_RATES, in_("evacuation", evacuation_ids), under("area_path", scopes)))
    return {
        r["evacuation"]: round(int(r["done"] or 0) / int(r["p"]), 4) if r["p"] else 0.0
        for r in rows
    }
