"""Shelters (避险点/安置点): kept by the managers of the areas they serve, read by the staff
of those areas (and of the areas above and below them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from piccolo.columns.combination import Combinable

from grid_backend.areas.services import to_wgs84
from grid_backend.areas.services.serving import (
    inside_or_above,
    listing_scopes,
    manages_every,
    overlaps,
    served_areas,
)
from grid_backend.areas.tables import Area
from grid_backend.core import audit, clock, geo, geojson, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound, filled
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.types import AreaRef, Datum
from grid_backend.evacuation.schemas import (
    ShelterCreate,
    ShelterPage,
    ShelterRead,
    ShelterUpdate,
)
from grid_backend.evacuation.tables import Shelter, ShelterArea


def common_ancestor(paths: list[str]) -> str:
    """The path of the nearest area above (or equal to) every one of these."""
    split = [[c for c in p.split("/") if c] for p in paths]
    shared: list[str] = []
    for codes in zip(*split, strict=False):
        if any(c != codes[0] for c in codes):
            break
        shared.append(codes[0])
    return "/".join(shared) + "/"


async def _served(shelter_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not shelter_ids:
        return found
    rows = (
        await ShelterArea.select(
            ShelterArea.shelter,
            ShelterArea.area,
            ShelterArea.area_path,
            ShelterArea.area.code.as_alias("code"),
            ShelterArea.area.name.as_alias("name"),
        )
        .where(ShelterArea.shelter.is_in(shelter_ids))
        .order_by(ShelterArea.area_path)
        .run()
    )
    for r in rows:
        found[r["shelter"]].append(r)
    return found


async def _owners(paths: set[str]) -> dict[str, AreaRef]:
    if not paths:
        return {}
    rows = await Area.select(Area.id, Area.code, Area.name, Area.path).where(
        Area.path.is_in(sorted(paths))
    )
    return {r["path"]: AreaRef(id=r["id"], code=r["code"], name=r["name"]) for r in rows}


def _read(
    s: dict[str, Any],
    areas: list[dict[str, Any]],
    owner: AreaRef | None,
    grants: list[policy.Grant],
    datum: Datum,
) -> ShelterRead:
    lat, lng = s["lat"], s["lng"]
    if datum != "wgs84":
        lng, lat = geo.convert(lng, lat, "wgs84", datum)
    return ShelterRead(
        id=s["id"],
        name=s["name"],
        kind=s["kind"],
        lat=lat,
        lng=lng,
        datum=datum,
        capacity=s["capacity"],
        contact_name=s["contact_name"],
        contact_phone=s["contact_phone"],
        open=s["is_open"],
        retired=s["retired_at"] is not None,
        retired_at=s["retired_at"],
        retired_by=s["retired_by"],
        areas=[AreaRef(id=a["area"], code=a["code"], name=a["name"]) for a in areas],
        owner_area=owner,
        created_at=s["created_at"],
        updated_at=s["updated_at"],
        created_by=s["created_by"],
        updated_by=s["updated_by"],
        manageable=s["retired_at"] is None and manages_every(grants, "shelter.manage", areas),
    )


async def _shelter(
    shelter_id: int, grants: list[policy.Grant]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = await Shelter.select().where(Shelter.id == shelter_id).first().run()
    areas = (await _served([shelter_id]))[shelter_id] if row else []
    if row is None or not overlaps(
        [a["area_path"] for a in areas], policy.scopes(grants, "shelter.read")
    ):
        raise NotFound("shelter_not_found")
    return row, areas


async def read_shelter(
    *, shelter_id: int, grants: list[policy.Grant], datum: Datum = "wgs84"
) -> ShelterRead:
    """One shelter, for staff of an area it serves (or inside or above one)."""
    row, areas = await _shelter(shelter_id, grants)
    owner = (await _owners({row["area_path"]})).get(row["area_path"])
    return _read(row, areas, owner, grants, datum)


async def create_shelter(
    *, data: ShelterCreate, account_id: int, grants: list[policy.Grant]
) -> ShelterRead:
    """Register a shelter serving areas the caller manages."""
    name = filled("name", data.name)
    served = await served_areas(data.area_ids, grants, "shelter.manage")
    lng, lat = to_wgs84(data.location.lat, data.location.lng, data.location.datum)
    owner = common_ancestor([a["path"] for a in served])
    now = clock.now()
    async with write_transaction():
        row = (
            await Shelter.insert(
                Shelter(
                    name=name,
                    kind=data.kind,
                    lat=lat,
                    lng=lng,
                    sent_lat=data.location.lat,
                    sent_lng=data.location.lng,
                    sent_datum=data.location.datum,
                    capacity=data.capacity,
                    contact_name=data.contact_name.strip(),
                    contact_phone=data.contact_phone.strip(),
                    area_path=owner,
                    is_open=data.open,
                    created_by=account_id,
                    updated_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(Shelter.id)
            .run()
        )[0]
        await ShelterArea.insert(
            *[ShelterArea(shelter=row["id"], area=a["id"], area_path=a["path"]) for a in served]
        ).run()
        await audit.record(
            actor_id=account_id,
            action="shelter.create",
            object_type="shelter",
            object_id=row["id"],
            area_path=owner,
            detail=msgspec.to_builtins(data),
        )
    return await read_shelter(shelter_id=row["id"], grants=grants)


async def update_shelter(
    *, shelter_id: int, data: ShelterUpdate, account_id: int, grants: list[policy.Grant]
) -> ShelterRead:
    """Change a shelter (the caller manages every area it serves, before and after)."""
    row, areas = await _shelter(shelter_id, grants)
    if not manages_every(grants, "shelter.manage", areas):
        raise Forbidden("the shelter serves areas outside yours")
    if row["retired_at"] is not None:
        raise Conflict("shelter_retired", detail="the shelter is retired")
    now = clock.now()
    changes: dict[Any, Any] = {Shelter.updated_at: now, Shelter.updated_by: account_id}
    served = None
    if data.area_ids is not msgspec.UNSET:
        served = await served_areas(data.area_ids, grants, "shelter.manage")
        changes[Shelter.area_path] = common_ancestor([a["path"] for a in served])
    for name in ("name", "kind", "capacity", "contact_name", "contact_phone"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            if name == "name":
                value = filled(name, value)
            changes[getattr(Shelter, name)] = value.strip() if isinstance(value, str) else value
    if data.open is not msgspec.UNSET:
        changes[Shelter.is_open] = data.open
    if data.location is not msgspec.UNSET:
        lng, lat = to_wgs84(data.location.lat, data.location.lng, data.location.datum)
        changes.update(
            {
                Shelter.lat: lat,
                Shelter.lng: lng,
                Shelter.sent_lat: data.location.lat,
                Shelter.sent_lng: data.location.lng,
                Shelter.sent_datum: data.location.datum,
            }
        )
    async with write_transaction():
        await Shelter.update(changes).where(Shelter.id == shelter_id).run()
        if served is not None:
            await ShelterArea.delete().where(ShelterArea.shelter == shelter_id).run()
            await ShelterArea.insert(
                *[
                    ShelterArea(shelter=shelter_id, area=a["id"], area_path=a["path"])
                    for a in served
                ]
            ).run()
        await audit.record(
            actor_id=account_id,
            action="shelter.update",
            object_type="shelter",
            object_id=shelter_id,
            area_path=row["area_path"],
            detail=msgspec.to_builtins(data),
        )
    return await read_shelter(shelter_id=shelter_id, grants=grants)


async def retire_shelter(
    *, shelter_id: int, account_id: int, grants: list[policy.Grant]
) -> ShelterRead:
    """Retire a shelter: it is no longer listed or offered; retiring again changes nothing."""
    row, areas = await _shelter(shelter_id, grants)
    if not manages_every(grants, "shelter.manage", areas):
        raise Forbidden("the shelter serves areas outside yours")
    if row["retired_at"] is None:
        now = clock.now()
        async with write_transaction():
            await (
                Shelter.update(
                    {
                        Shelter.retired_at: now,
                        Shelter.retired_by: account_id,
                        Shelter.is_open: False,
                        Shelter.updated_at: now,
                        Shelter.updated_by: account_id,
                    }
                )
                .where(Shelter.id == shelter_id)
                .run()
            )
            await audit.record(
                actor_id=account_id,
                action="shelter.retire",
                object_type="shelter",
                object_id=shelter_id,
                area_path=row["area_path"],
                detail={"name": row["name"]},
            )
    return await read_shelter(shelter_id=shelter_id, grants=grants)


async def list_shelters(
    *,
    grants: list[policy.Grant],
    area_path: str | None = None,
    kind: str | None = None,
    is_open: bool | None = None,
    retired: bool | None = False,
    limit: int = 50,
    cursor: str | None = None,
    datum: Datum = "wgs84",
) -> ShelterPage:
    """Shelters serving the caller's areas (or areas above them), by id; `area_path` narrows
    to shelters serving that area, inside it or above it."""
    scopes = listing_scopes(grants, "shelter.read", area_path)
    seen = inside_or_above(ShelterArea.area_path, scopes)
    ids = sorted({r["shelter"] for r in await ShelterArea.select(ShelterArea.shelter).where(seen)})
    if not ids:
        return ShelterPage(items=[], next_cursor=None)
    query = Shelter.select().where(Shelter.id.is_in(ids))
    if kind is not None:
        query = query.where(Shelter.kind == kind)
    if is_open is not None:
        query = query.where(Shelter.is_open.eq(is_open))
    if retired is True:
        query = query.where(Shelter.retired_at.is_not_null())
    elif retired is False:
        query = query.where(Shelter.retired_at.is_null())
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Shelter.id > after)
    rows = await query.order_by(Shelter.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    areas = await _served([r["id"] for r in rows])
    owners = await _owners({r["area_path"] for r in rows})
    return ShelterPage(
        items=[_read(r, areas[r["id"]], owners.get(r["area_path"]), grants, datum) for r in rows],
        next_cursor=cursor_out,
    )


async def export_shelters(
    *,
    grants: list[policy.Grant],
    account_id: int,
    area_path: str | None = None,
    kind: str | None = None,
    is_open: bool | None = None,
    retired: bool | None = False,
) -> tuple[int, AsyncIterator[list[geojson.Feature]]]:
    """The shelters the list shows, as GeoJSON points a batch at a time with the names of the
    areas they serve, and their count; audited. No contact phone: a map file travels."""
    scopes = listing_scopes(grants, "shelter.read", area_path)
    seen = inside_or_above(ShelterArea.area_path, scopes)
    ids = sorted({r["shelter"] for r in await ShelterArea.select(ShelterArea.shelter).where(seen)})
    where: Combinable = Shelter.id.is_in(ids or [0])
    if kind is not None:
        where &= Shelter.kind == kind
    if is_open is not None:
        where &= Shelter.is_open.eq(is_open)
    if retired is True:
        where &= Shelter.retired_at.is_not_null()
    elif retired is False:
        where &= Shelter.retired_at.is_null()
    rows = await Shelter.count().where(where).run() if ids else 0
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="shelter.export",
            object_type="shelter",
            area_path=area_path,
            detail={"format": "geojson", "rows": rows, "areas": scopes},
        )

    async def fetch(after: int, size: int) -> list[dict[str, Any]]:
        if not ids:
            return []
        query = Shelter.select().where(where & (Shelter.id > after))
        return list(await query.order_by(Shelter.id).limit(size).run())

    async def features() -> AsyncIterator[list[geojson.Feature]]:
        async for batch in geojson.pages(fetch):
            served = await _served([r["id"] for r in batch])
            yield [_feature(r, served[r["id"]]) for r in batch]

    return rows, features()


def _feature(s: dict[str, Any], areas: list[dict[str, Any]]) -> geojson.Feature:
    properties = {
        "id": s["id"],
        "name": s["name"],
        "kind": s["kind"],
        "capacity": s["capacity"],
        "open": bool(s["is_open"]),
        "retired": s["retired_at"] is not None,
        "contact_name": s["contact_name"],
        "areas": "、".join(a["name"] for a in areas),
        "area_codes": ",".join(a["code"] for a in areas),
        "updated_at": geojson.local_time(s["updated_at"]),
    }
    return geojson.Feature(id=s["id"], lng=s["lng"], lat=s["lat"], properties=properties)
