"""Rescue teams: their areas, the nearest of them, and dispatching one to a case."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec

from grid_backend.areas.services import to_wgs84
from grid_backend.areas.services.serving import (
    inside_or_above,
    listing_scopes,
    manages_every,
    overlaps,
    served_areas,
)
from grid_backend.core import audit, clock, geo, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.policy import ancestors_and_self
from grid_backend.core.types import AreaRef, Datum
from grid_backend.hazards import timeline, workflow
from grid_backend.response.schemas import (
    TIERS,
    DispatchIn,
    ResponseRead,
    SuggestionsRead,
    TeamCreate,
    TeamPage,
    TeamRead,
    TeamSuggestion,
    TeamUpdate,
)
from grid_backend.response.services.reading import _case
from grid_backend.response.services.steps import _read_record
from grid_backend.response.tables import RescueTeam, RescueTeamArea, ResponseRecord


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
    t: dict[str, Any], areas: list[dict[str, Any]], grants: list[policy.Grant], datum: Datum
) -> TeamRead:
    lat, lng = t["lat"], t["lng"]
    if datum != "wgs84":
        lng, lat = geo.convert(lng, lat, "wgs84", datum)
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
        manageable=manages_every(grants, "rescue_team.manage", areas),
    )


async def _team(team_id: int, grants: list[policy.Grant]) -> tuple[dict[str, Any], list[dict]]:
    row = await RescueTeam.select().where(RescueTeam.id == team_id).first().run()
    areas = (await _team_areas([team_id]))[team_id] if row else []
    if row is None or not overlaps(
        [a["area_path"] for a in areas], policy.scopes(grants, "rescue_team.read")
    ):
        raise NotFound("team_not_found")
    return row, areas


async def read_team(
    *, team_id: int, grants: list[policy.Grant], datum: Datum = "wgs84"
) -> TeamRead:
    """One rescue team, for staff whose area it serves (or who serve inside its area)."""
    row, areas = await _team(team_id, grants)
    return _team_read(row, areas, grants, datum)


async def create_team(*, data: TeamCreate, account_id: int, grants: list[policy.Grant]) -> TeamRead:
    """Register a rescue team serving areas the caller manages."""
    served = await served_areas(data.area_ids, grants, "rescue_team.manage")
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
    if not manages_every(grants, "rescue_team.manage", areas):
        raise Forbidden("the team serves areas outside yours")
    changes: dict[Any, Any] = {RescueTeam.updated_at: clock.now()}
    served = None
    if data.area_ids is not msgspec.UNSET:
        served = await served_areas(data.area_ids, grants, "rescue_team.manage")
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
    datum: Datum = "wgs84",
) -> TeamPage:
    """Teams serving the caller's areas (or areas above them), by id; `area_path` narrows to
    teams serving that area, inside it or above it."""
    scopes = listing_scopes(grants, "rescue_team.read", area_path)
    seen = inside_or_above(RescueTeamArea.area_path, scopes)
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
    *, report_id: int, grants: list[policy.Grant], per_tier: int = 3, datum: Datum = "wgs84"
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
    assert existing is not None  # the record the insert conflicted with; never deleted
    return await _read_record(existing["id"]), False
