"""Starting an evacuation (by hand, or confirming a proposal), and ending it: the tasks made
set-based, the helpers told, the households that moved returned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from grid_backend.alerts.services import watchers
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import Conflict, Forbidden, invalid
from grid_backend.core.i18n import N_
from grid_backend.core.idempotency import Idempotent, digest
from grid_backend.core.sql import QueryString, all_of, any_of, in_, postgres, q, typed, under
from grid_backend.evacuation.runs import notices
from grid_backend.evacuation.runs.common import (
    Live,
    _manages,
    _narrowest,
    _owners,
    _seen,
    board_live,
    covered_by,
    publish,
)
from grid_backend.evacuation.runs.reading import read_evacuation
from grid_backend.evacuation.runs_schemas import (
    EvacuationEnd,
    EvacuationRead,
    EvacuationStart,
)
from grid_backend.evacuation.services import common_ancestor
from grid_backend.evacuation.tables import (
    Evacuation,
    EvacuationArea,
    EvacuationTask,
)
from grid_backend.notify.services import webhooks
from grid_backend.settings import get_settings


@dataclass(frozen=True, slots=True)
class Cover:
    """What an evacuation covers: rows for evacuation_run_area, and the household filter."""

    rows: list[dict[str, Any]]  # area, risk_point, area_path

    @property
    def area_paths(self) -> list[str]:
        return [r["area_path"] for r in self.rows if r["risk_point"] is None]

    @property
    def risk_points(self) -> list[int]:
        return [r["risk_point"] for r in self.rows if r["risk_point"] is not None]

    def households(self, alias: str = "h") -> QueryString:
        """The condition on the household table (under `alias`) of the households covered."""
        return all_of(
            q(f"{alias}.retired_at IS NULL"),
            any_of(
                under(f"{alias}.area_path", self.area_paths) if self.area_paths else None,
                in_(f"{alias}.risk_point", self.risk_points) if self.risk_points else None,
            ),
        )


_HOLDS = "SELECT COUNT(*) AS n, COALESCE(SUM(people), 0) AS p FROM evacuation_household h WHERE {}"


async def proposal_holds(evacuation_ids: list[int]) -> dict[int, tuple[int, int]]:
    """The households and people each proposal would move if confirmed now (a proposal's
    own counts are made at its start): what the console's confirm button says it covers."""
    found: dict[int, tuple[int, int]] = {}
    for evacuation_id, rows in (await covered_by(evacuation_ids)).items():
        cover = Cover([{k: r[k] for k in ("area", "risk_point", "area_path")} for r in rows])
        held = (await fetch(q(_HOLDS, cover.households())))[0]
        found[evacuation_id] = (int(held["n"]), int(held["p"]))
    return found


async def resolve_cover(area_ids: list[int], risk_point_ids: list[int]) -> Cover:
    """The areas and risk points named (422 naming the unknown ones)."""
    area_ids, risk_point_ids = list(dict.fromkeys(area_ids)), list(dict.fromkeys(risk_point_ids))
    if not area_ids and not risk_point_ids:
        raise invalid(
            "area_ids",
            "name the areas or risk points to evacuate",
            code="evacuation_scope_required",
        )
    areas = (
        await Area.select(Area.id, Area.path).where(Area.id.is_in(area_ids)).run()
        if area_ids
        else []
    )
    missing = sorted(set(area_ids) - {a["id"] for a in areas})
    if missing:
        raise invalid(
            "area_ids",
            "no such areas: %(missing)s",
            code="area_not_found",
            params={"missing": missing},
        )
    points = (
        await RiskPoint.select(RiskPoint.id, RiskPoint.grid, RiskPoint.area_path)
        .where(RiskPoint.id.is_in(risk_point_ids))
        .run()
        if risk_point_ids
        else []
    )
    missing = sorted(set(risk_point_ids) - {p["id"] for p in points})
    if missing:
        raise invalid(
            "risk_point_ids",
            "no such risk points: %(missing)s",
            code="risk_point_not_found",
            params={"missing": missing},
        )
    rows = [{"area": a["id"], "risk_point": None, "area_path": a["path"]} for a in areas]
    rows += [
        {"area": p["grid"], "risk_point": p["id"], "area_path": p["area_path"]} for p in points
    ]
    return Cover(rows)


async def start_evacuation(
    *,
    data: EvacuationStart,
    account_id: int,
    grants: list[policy.Grant],
    idempotency_key: str | None = None,
) -> tuple[EvacuationRead, bool]:
    """Start an evacuation by hand over areas or risk points the caller commands: one task
    per household, its helper told at once. True if it is a replay."""
    once = Idempotent(
        idempotency_key,
        digest(data, ignore=""),
        find=lambda k: _earlier_start(account_id, k),
        answer=lambda row: read_evacuation(evacuation_id=row["id"], grants=grants),
        conflict=N_("this Idempotency-Key was used for a different evacuation"),
    )
    if (earlier := await once.earlier()) is not None:
        return earlier, True
    cover = await resolve_cover(list(data.area_ids), list(data.risk_point_ids))
    for r in cover.rows:
        policy.require(grants, "evacuation.start", r["area_path"])
    now = clock.now()
    live: Live = []

    async def create() -> int:
        async with write_transaction():
            await once.guard()
            evacuation_id = await insert_run(
                cover,
                status="active",
                source="manual",
                warning_id=None,
                note=data.note,
                account_id=account_id,
                now=now,
                key=idempotency_key,
                request_digest=once.digest,
            )
            await activate(evacuation_id, cover, account_id=account_id, now=now, live=live)
            await audit.record(
                actor_id=account_id,
                action="evacuation.start",
                object_type="evacuation",
                object_id=evacuation_id,
                area_path=common_ancestor([r["area_path"] for r in cover.rows]),
                detail={
                    "area_ids": list(data.area_ids),
                    "risk_point_ids": list(data.risk_point_ids),
                },
            )
        return evacuation_id

    made, replayed = await once.run(create)
    if replayed:
        return made, True  # type: ignore[return-value]  # the winner's answer
    publish(live)
    return await read_evacuation(evacuation_id=made, grants=grants), False  # type: ignore[arg-type]


async def _earlier_start(account_id: int, key: str) -> dict[str, Any] | None:
    return (
        await Evacuation.select(Evacuation.id, Evacuation.request_digest)
        .where((Evacuation.created_by == account_id) & (Evacuation.client_key == key))
        .first()
        .run()
    )


async def insert_run(
    cover: Cover,
    *,
    status: str,
    source: str,
    warning_id: int | None,
    note: str,
    account_id: int | None,
    now: datetime,
    key: str | None = None,
    request_digest: str | None = None,
) -> int:
    """The evacuation's row and what it covers (in the caller's transaction); its id."""
    row = (
        await Evacuation.insert(
            Evacuation(
                status=status,
                source=source,
                warning=warning_id,
                area_path=common_ancestor([r["area_path"] for r in cover.rows]),
                note=note,
                created_by=account_id,
                created_at=now,
                client_key=key,
                request_digest=request_digest,
            )
        )
        .returning(Evacuation.id)
        .run()
    )
    evacuation_id = row[0]["id"]
    await EvacuationArea.insert(
        *[EvacuationArea(evacuation=evacuation_id, **r) for r in cover.rows]
    ).run()
    return evacuation_id


_TASKS = (
    "INSERT INTO evacuation_task (evacuation, household, helper, grid, area_path, people,"
    " vulnerable, status, destination, shelter, note, reason, lat, lng, arrived_at,"
    " returned_at, updated_by, updated_at)"
    " SELECT {}, h.id, h.helper, h.grid, h.area_path, h.people,"
    " h.elderly_alone + h.disabled + h.children + h.pregnant, 'pending', '', NULL, '', '',"
    " NULL, NULL, NULL, NULL, NULL, NULL FROM evacuation_household h WHERE {}"
    " ON CONFLICT (evacuation, household) DO NOTHING RETURNING people"
)
_COUNTED = "WITH added AS ({}) SELECT COUNT(*) AS n, COALESCE(SUM(people), 0) AS p FROM added"


async def activate(
    evacuation_id: int, cover: Cover, *, account_id: int | None, now: datetime, live: Live
) -> int:
    """Make the tasks of an evacuation and tell its helpers (in the caller's transaction);
    how many households it holds."""
    insert = q(_TASKS, typed(evacuation_id, "int"), cover.households())
    if postgres():
        counted = (await fetch(q(_COUNTED, insert)))[0]
        households, people = int(counted["n"]), int(counted["p"])
    else:
        rows = await fetch(insert)
        households, people = len(rows), sum(r["people"] for r in rows)
    minutes = get_settings().evacuation_escalate_minutes
    await (
        Evacuation.update(
            {
                Evacuation.status: "active",
                Evacuation.households: households,
                Evacuation.people: people,
                Evacuation.started_by: account_id,
                Evacuation.started_at: now,
                Evacuation.escalate_at: now + timedelta(minutes=minutes),
            }
        )
        .where(Evacuation.id == evacuation_id)
        .run()
    )
    area_name = await _area_name(cover)
    await webhooks.emit(
        kind="evacuation.started",
        key=f"evacuation.started:{evacuation_id}",
        data={
            "evacuation": {
                "id": evacuation_id,
                "area_name": area_name,
                "households": households,
                "people": people,
                "started_at": now.isoformat(),
            }
        },
        urgent=True,
    )
    live += await notices.tell_helpers(evacuation_id, area_name, now)
    await notices.tell_residents(evacuation_id, area_name)
    for path in _narrowest(cover.rows):
        live += [
            (a, {"type": "evacuation.started", "evacuation_id": evacuation_id})
            for a in await watchers(path)
        ]
    return households


async def _area_name(cover: Cover) -> str:
    names = await _owners({common_ancestor([r["area_path"] for r in cover.rows])})
    area = next(iter(names.values()), None)
    return area.name if area else ""


async def confirm_evacuation(
    *, evacuation_id: int, account_id: int, grants: list[policy.Grant]
) -> EvacuationRead:
    """Confirm a proposed evacuation: its tasks are made and the helpers told."""
    row, covered = await _seen(evacuation_id, grants)
    if not _manages(grants, covered):
        raise Forbidden()
    if row["status"] != "proposed":
        raise Conflict("evacuation_not_proposed")
    now = clock.now()
    live: Live = []
    async with write_transaction():
        taken = (
            await Evacuation.update({Evacuation.status: "active"})
            .where((Evacuation.id == evacuation_id) & (Evacuation.status == "proposed"))
            .returning(Evacuation.id)
            .run()
        )
        if not taken:
            raise Conflict("evacuation_not_proposed")
        await activate(evacuation_id, Cover(covered), account_id=account_id, now=now, live=live)
        await audit.record(
            actor_id=account_id,
            action="evacuation.confirm",
            object_type="evacuation",
            object_id=evacuation_id,
            area_path=row["area_path"],
            detail={"warning_id": row["warning"]},
        )
    publish(live)
    return await read_evacuation(evacuation_id=evacuation_id, grants=grants)


# --- ending --------------------------------------------------------------------------------

_RETURNED = (
    "INSERT INTO evacuation_event (evacuation, task, from_status, to_status, destination,"
    " shelter, note, reason, lat, lng, sent_lat, sent_lng, sent_datum, accuracy_m, actor,"
    " device_time, at, client_key, request_digest)"
    " SELECT evacuation, id, status, 'returned', destination, shelter, {}, '', NULL, NULL, NULL,"
    " NULL, 'wgs84', NULL, {}, NULL, {}, NULL, NULL FROM evacuation_task"
    " WHERE evacuation = {} AND status = 'moved' AND returned_at IS NULL"
)


async def close_run(
    row: dict[str, Any], *, account_id: int | None, now: datetime, reason: str, note: str
) -> bool:
    """End an evacuation (dismiss a proposal) in the caller's transaction: the households
    that moved are marked returned, each on its timeline. False if it was already over, or
    is no longer as read (a proposal confirmed meanwhile is not dismissed)."""
    status = "ended" if row["status"] == "active" else "dismissed"
    taken = (
        await Evacuation.update(
            {
                Evacuation.status: status,
                Evacuation.ended_at: now,
                Evacuation.ended_by: account_id,
                Evacuation.end_reason: reason,
                Evacuation.escalate_at: None,
            }
        )
        .where((Evacuation.id == row["id"]) & (Evacuation.status == row["status"]))
        .returning(Evacuation.id)
        .run()
    )
    if not taken:
        return False
    if status == "ended":
        await webhooks.emit(
            kind="evacuation.ended",
            key=f"evacuation.ended:{row['id']}",
            data={
                "evacuation": {"id": row["id"], "ended_at": now.isoformat()},
                "reason": reason,
            },
        )
        await fetch(
            q(
                _RETURNED,
                typed(note, "text"),
                typed(account_id, "int"),
                typed(now, "timestamptz"),
                row["id"],
            )
        )
        await (
            EvacuationTask.update({EvacuationTask.returned_at: now})
            .where(
                (EvacuationTask.evacuation == row["id"])
                & (EvacuationTask.status == "moved")
                & EvacuationTask.returned_at.is_null()
            )
            .run()
        )
    await audit.record(
        actor_id=account_id,
        action="evacuation.end",
        object_type="evacuation",
        object_id=row["id"],
        area_path=row["area_path"],
        detail={"reason": reason, "status": status, "note": note},
    )
    return True


async def end_evacuation(
    *, evacuation_id: int, data: EvacuationEnd, account_id: int, grants: list[policy.Grant]
) -> EvacuationRead:
    """End an evacuation by hand (or dismiss a proposal): households that moved return."""
    row, covered = await _seen(evacuation_id, grants)
    if not _manages(grants, covered):
        raise Forbidden()
    if row["status"] not in ("proposed", "active"):
        raise Conflict("evacuation_not_active")
    async with write_transaction():
        if not await close_run(
            row, account_id=account_id, now=clock.now(), reason="by_hand", note=data.note
        ):
            raise Conflict("evacuation_not_active")
    publish(await board_live(covered, {"type": "evacuation.ended", "evacuation_id": row["id"]}))
    return await read_evacuation(evacuation_id=evacuation_id, grants=grants)
