"""Threatened households (受威胁户): kept by the managers of their grid (and its leader), read
in full by the staff covering the grid, masked for the staff of a micro-grid inside it; every
change and every read of the list audited. The checks here are shared with the ledger import
(`evacuation.ledger`), which reports them row by row instead of raising on the first."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw

from grid_backend.areas.services import to_wgs84
from grid_backend.areas.services.serving import overlaps
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import audit, clock, geo, policy, sql
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound, filled, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.types import Datum
from grid_backend.evacuation.schemas import (
    VULNERABLE_KINDS,
    GridRef,
    HouseholdCreate,
    HouseholdPage,
    HouseholdRead,
    HouseholdUpdate,
    Position,
    Ref,
)
from grid_backend.evacuation.tables import Household, Shelter, ShelterArea
from grid_backend.people import phones
from grid_backend.people.duty import grants_of
from grid_backend.people.phones import mask_phone
from grid_backend.people.tables import Account

# --- checks shared with the ledger -----------------------------------------------------------

# 0 + area code (010, 02x, else three digits) + a 7- or 8-digit number
_LANDLINE = re.compile(r"0(?:10|2\d|[3-9]\d{2})\d{7,8}")


def normalise_head_phone(raw: str) -> str | None:
    """A mainland mobile as 11 digits, a landline as area code, dash, number
    ('(023) 6386 1234' → '023-63861234'); None when it is neither."""
    digits = phones.national_digits(raw)
    if phones.is_mobile(digits):
        return digits
    if _LANDLINE.fullmatch(digits):
        split = 3 if digits[1] in "12" else 4
        return f"{digits[:split]}-{digits[split:]}"
    return None


PHONE_MESSAGE = (
    "expected a mobile number (138 1234 5678) or a landline with its area code (023-6386 1234)"
)


def count_problems(people: int, counts: dict[str, int]) -> list[str]:
    """The vulnerable counts that exceed the household's people."""
    return [kind for kind in VULNERABLE_KINDS if counts.get(kind, 0) > people]


def helper_on_duty(grants: list[policy.Grant], grid_path: str) -> bool:
    """The helper holds a duty in the grid (a micro-grid of it) or over it."""
    return overlaps([grid_path], [g.area_path for g in grants])


def shelter_serves(served_paths: list[str], grid_path: str) -> bool:
    """A shelter serves the grid, an area above it or one inside it."""
    return overlaps([grid_path], served_paths)


async def served_paths(shelter_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in shelter_ids}
    if shelter_ids:
        for r in await ShelterArea.select(ShelterArea.shelter, ShelterArea.area_path).where(
            ShelterArea.shelter.is_in(shelter_ids)
        ):
            found[r["shelter"]].append(r["area_path"])
    return found


# --- reading ---------------------------------------------------------------------------------

_SELECT = (
    *Household.all_columns(),
    Household.grid.code.as_alias("grid_code"),
    Household.grid.name.as_alias("grid_name"),
    Household.helper.name.as_alias("helper_name"),
    Household.shelter.name.as_alias("shelter_name"),
    Household.risk_point.name.as_alias("risk_point_name"),
    Household.risk_point.lat.as_alias("risk_point_lat"),
    Household.risk_point.lng.as_alias("risk_point_lng"),
)


def helps(grants: list[policy.Grant], account_id: int, row: dict[str, Any]) -> bool:
    """The caller is the household's (or task's) helper and still holds a duty in, over or
    inside its grid: a helper whose duties there ended sees it no more."""
    return row["helper"] == account_id and helper_on_duty(grants, row["area_path"])


def helping(grants: list[policy.Grant], account_id: int) -> Any:
    """`helps` as a condition on Household rows."""
    own, above = policy.on_duty_paths([g.area_path for g in grants])
    standing = under(Household.area_path, own) if own else Household.id < 0
    if above:
        standing = standing | Household.area_path.is_in(above)
    return (Household.helper == account_id) & standing


def sees_in_full(grants: list[policy.Grant], account_id: int, row: dict[str, Any]) -> bool:
    """Staff covering the grid, and the household's own helper, see its details."""
    return helps(grants, account_id, row) or policy.allows(
        grants, "household.read", row["area_path"]
    )


def sees(grants: list[policy.Grant], account_id: int, row: dict[str, Any]) -> bool:
    """Those who see it in full, and the staff of a micro-grid inside its grid (masked)."""
    return sees_in_full(grants, account_id, row) or row["area_path"] in policy.inner_scopes(
        grants, "household.read", "grid"
    )


async def _grid_paths(area_paths: set[str]) -> dict[str, str]:
    """Each grid's place as names, from the district down ('渝中区/解放碑街道/…/第一网格')."""
    wanted = {p for path in area_paths for p in policy.ancestors_and_self(path)}
    if not wanted:
        return {}
    names = {
        r["path"]: (r["level"], r["name"])
        for r in await Area.select(Area.path, Area.level, Area.name).where(
            Area.path.is_in(sorted(wanted))
        )
    }
    return {
        path: "/".join(
            names[p][1]
            for p in policy.ancestors_and_self(path)
            if p in names and names[p][0] != "city"
        )
        for path in area_paths
    }


def _position(r: dict[str, Any], datum: Datum) -> Position | None:
    if r["lat"] is not None and r["lng"] is not None:
        lat, lng, source = r["lat"], r["lng"], "household"
    elif r["risk_point_lat"] is not None and r["risk_point_lng"] is not None:
        lat, lng, source = r["risk_point_lat"], r["risk_point_lng"], "risk_point"
    else:
        return None
    if datum != "wgs84":
        lng, lat = geo.convert(lng, lat, "wgs84", datum)
    return Position(lat=lat, lng=lng, datum=datum, source=source)  # type: ignore[arg-type]  # one of the two literals


def vulnerable_total(r: dict[str, Any]) -> int:
    """People needing help to move: the counts added up, at most everyone."""
    return min(sum(r[k] for k in VULNERABLE_KINDS), r["people"])


def household_read(
    r: dict[str, Any],
    *,
    grants: list[policy.Grant],
    account_id: int,
    grid_path: str,
    datum: Datum = "wgs84",
) -> HouseholdRead:
    """One household as this caller may see it (masked unless they cover its grid)."""
    full = sees_in_full(grants, account_id, r)
    return HouseholdRead(
        id=r["id"],
        grid=GridRef(
            id=r["grid"],
            code=r["grid_code"],
            name=r["grid_name"],
            path=grid_path,
            area_path=r["area_path"],
        ),
        address=r["address"],
        head_name=r["head_name"],
        head_phone=r["head_phone"] if full else mask_phone(r["head_phone"]),
        people=r["people"],
        elderly_alone=r["elderly_alone"],
        disabled=r["disabled"],
        children=r["children"],
        pregnant=r["pregnant"],
        vulnerable=vulnerable_total(r),
        vulnerable_flags=[k for k in VULNERABLE_KINDS if r[k] > 0],
        helper=Ref(id=r["helper"], name=r["helper_name"]),
        shelter=None if r["shelter"] is None else Ref(id=r["shelter"], name=r["shelter_name"]),
        risk_point=None
        if r["risk_point"] is None
        else Ref(id=r["risk_point"], name=r["risk_point_name"]),
        watch_group=r["watch_group"],
        resident_id=r["resident"] if full else None,
        position=_position(r, datum),
        note=r["note"],
        retired=r["retired_at"] is not None,
        retired_at=r["retired_at"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        created_by=r["created_by"],
        updated_by=r["updated_by"],
        masked=not full,
        manageable=r["retired_at"] is None
        and policy.allows(grants, "household.manage", r["area_path"]),
    )


async def _household(household_id: int, grants: list[policy.Grant], account_id: int) -> dict:
    row = await Household.select(*_SELECT).where(Household.id == household_id).first().run()
    if row is None or not sees(grants, account_id, row):
        raise NotFound("household_not_found")
    return row


async def _answer(
    household_id: int, grants: list[policy.Grant], account_id: int, datum: Datum = "wgs84"
) -> HouseholdRead:
    row = await _household(household_id, grants, account_id)
    paths = await _grid_paths({row["area_path"]})
    return household_read(
        row, grants=grants, account_id=account_id, grid_path=paths[row["area_path"]], datum=datum
    )


async def read_household(
    *, household_id: int, grants: list[policy.Grant], account_id: int, datum: Datum = "wgs84"
) -> HouseholdRead:
    """One household, for the staff of its grid (the details for those covering it); each
    read is audited."""
    found = await _answer(household_id, grants, account_id, datum)
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="household.view",
            object_type="household",
            object_id=household_id,
            area_path=found.grid.area_path,
            detail={"masked": found.masked},
        )
    return found


def _escape_like(text: str) -> str:
    # cut before escaping, so an escape is never cut in half (as hazards' listing does)
    return text[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_households(
    *,
    grants: list[policy.Grant],
    account_id: int,
    area_path: str | None = None,
    risk_point_id: int | None = None,
    helper_id: int | None = None,
    shelter_id: int | None = None,
    vulnerable: bool | None = None,
    q: str | None = None,
    retired: bool | None = False,
    limit: int = 50,
    cursor: str | None = None,
    datum: Datum = "wgs84",
    filters: dict[str, Any] | None = None,
) -> HouseholdPage:
    """Households of the grids the caller's duties are in or over, by id; every call is
    audited (who, the filters, how many were answered)."""
    covered = policy.scopes(grants, "household.read")
    inner = policy.inner_scopes(grants, "household.read", "grid")
    if not covered and not inner:
        raise Forbidden()
    if area_path is not None and not overlaps([area_path], covered + inner):
        raise Forbidden()
    seen: Any = helping(grants, account_id)
    if covered:
        seen = seen | under(Household.area_path, covered)
    if inner:
        seen = seen | Household.area_path.is_in(inner)
    query = Household.select(*_SELECT).where(seen)
    if area_path is not None:
        query = query.where(Household.area_path.like(area_path + "%"))
    for column, value in (
        (Household.risk_point, risk_point_id),
        (Household.helper, helper_id),
        (Household.shelter, shelter_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if vulnerable is not None:
        some = (
            (Household.elderly_alone > 0)
            | (Household.disabled > 0)
            | (Household.children > 0)
            | (Household.pregnant > 0)
        )
        query = query.where(
            some
            if vulnerable
            else (Household.elderly_alone == 0)
            & (Household.disabled == 0)
            & (Household.children == 0)
            & (Household.pregnant == 0)
        )
    text = (q or "").strip()
    if text:
        # raw: SQLite has no default ESCAPE for LIKE; the phone is never searched (masked
        # callers could otherwise probe for numbers)
        pattern = f"%{_escape_like(text)}%"
        query = query.where(
            WhereRaw("{} ESCAPE '\\'", sql.ilike("evacuation_household.address", pattern))
            | WhereRaw("{} ESCAPE '\\'", sql.ilike("evacuation_household.head_name", pattern))
        )
    if retired is True:
        query = query.where(Household.retired_at.is_not_null())
    elif retired is False:
        query = query.where(Household.retired_at.is_null())
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Household.id > after)
    rows = await query.order_by(Household.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    paths = await _grid_paths({r["area_path"] for r in rows})
    items = [
        household_read(
            r, grants=grants, account_id=account_id, grid_path=paths[r["area_path"]], datum=datum
        )
        for r in rows
    ]
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="household.list",
            object_type="household",
            area_path=area_path,
            detail={
                "filters": filters or {},
                "count": len(items),
                "masked": sum(1 for i in items if i.masked),
                "ids": [i.id for i in items],
            },
        )
    return HouseholdPage(items=items, next_cursor=cursor_out)


# --- writing ---------------------------------------------------------------------------------


async def _grid(grid_id: int, grants: list[policy.Grant]) -> dict[str, Any]:
    row = await Area.select(Area.id, Area.path, Area.level).where(Area.id == grid_id).first()
    if row is None:
        raise invalid(
            "grid_id", "unknown area %(id)s", code="area_not_found", params={"id": grid_id}
        )
    if row["level"] != "grid":
        raise invalid(
            "grid_id",
            "a household belongs to a grid, not to a %(level)s",
            code="household_grid_invalid",
            params={"level": row["level"]},
        )
    policy.require(grants, "household.manage", row["path"])
    return row


async def _check_helper(helper_id: int, grid_path: str) -> None:
    account = await Account.select(Account.is_active).where(Account.id == helper_id).first().run()
    if (
        account is None
        or not account["is_active"]
        or not helper_on_duty(await grants_of(helper_id), grid_path)
    ):
        raise invalid(
            "helper_id",
            "the helper holds no duty in or over the household's grid",
            code="helper_not_on_duty",
        )


async def _check_shelter(shelter_id: int, grid_path: str) -> None:
    row = await Shelter.select(Shelter.retired_at).where(Shelter.id == shelter_id).first().run()
    paths = (await served_paths([shelter_id]))[shelter_id]
    if row is None:
        raise invalid("shelter_id", "unknown shelter", code="shelter_not_found")
    if row["retired_at"] is not None:
        raise invalid("shelter_id", "the shelter is retired", code="shelter_retired")
    if not shelter_serves(paths, grid_path):
        raise invalid(
            "shelter_id",
            "the shelter does not serve the household's grid",
            code="shelter_not_serving",
        )


async def _check_risk_point(point_id: int, grants: list[policy.Grant]) -> None:
    row = await RiskPoint.select(RiskPoint.area_path).where(RiskPoint.id == point_id).first()
    if row is None or not policy.allows(grants, "risk_point.read", row["area_path"]):
        raise invalid("risk_point_id", "unknown risk point", code="risk_point_not_found")


async def _check_resident(resident_id: int) -> None:
    if not await Account.exists().where(Account.id == resident_id).run():
        raise invalid("resident_id", "unknown account")


def _phone(raw: str) -> str:
    phone = normalise_head_phone(raw)
    if phone is None:
        raise invalid("head_phone", PHONE_MESSAGE, code="household_phone_invalid")
    return phone


def _counts(values: dict[str, Any]) -> None:
    for kind in count_problems(values["people"], values):
        raise invalid(kind, "more than the household's %(people)s people", params=values)


async def _check_unique(grid_path: str, address: str, phone: str, household_id: int = 0) -> None:
    """The ledger's identity of a household (grid, address, head's phone) is one household's:
    a second would make the export impossible to import again (the import updates by it)."""
    taken = await Household.exists().where(
        (Household.area_path == grid_path)
        & (Household.address == address)
        & (Household.head_phone == phone)
        & Household.retired_at.is_null()
        & (Household.id != household_id)
    )
    if taken:
        raise Conflict(
            "household_exists",
            detail="a household with this address and head's phone is already in the grid",
        )


async def create_household(
    *, data: HouseholdCreate, account_id: int, grants: list[policy.Grant]
) -> HouseholdRead:
    """Register a household in a grid the caller manages."""
    grid = await _grid(data.grid_id, grants)
    address, head_name = filled("address", data.address), filled("head_name", data.head_name)
    values = msgspec.to_builtins(data)
    _counts(values)
    phone = _phone(data.head_phone)
    await _check_unique(grid["path"], address, phone)
    await _check_helper(data.helper_id, grid["path"])
    if data.shelter_id is not None:
        await _check_shelter(data.shelter_id, grid["path"])
    if data.risk_point_id is not None:
        await _check_risk_point(data.risk_point_id, grants)
    if data.resident_id is not None:
        await _check_resident(data.resident_id)
    lat = lng = None
    if data.location is not None:
        lng, lat = to_wgs84(data.location.lat, data.location.lng, data.location.datum)
    now = clock.now()
    async with write_transaction():
        row = (
            await Household.insert(
                Household(
                    grid=grid["id"],
                    area_path=grid["path"],
                    risk_point=data.risk_point_id,
                    address=address,
                    head_name=head_name,
                    head_phone=phone,
                    people=data.people,
                    elderly_alone=data.elderly_alone,
                    disabled=data.disabled,
                    children=data.children,
                    pregnant=data.pregnant,
                    helper=data.helper_id,
                    shelter=data.shelter_id,
                    watch_group=data.watch_group.strip(),
                    resident=data.resident_id,
                    lat=lat,
                    lng=lng,
                    note=data.note.strip(),
                    created_by=account_id,
                    updated_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(Household.id)
            .run()
        )[0]
        await audit.record(
            actor_id=account_id,
            action="household.create",
            object_type="household",
            object_id=row["id"],
            area_path=grid["path"],
            detail=values,
        )
    return await _answer(row["id"], grants, account_id)


_PLAIN = ("people", "elderly_alone", "disabled", "children", "pregnant")
_TEXT = ("address", "head_name", "watch_group", "note")
_REQUIRED_TEXT = ("address", "head_name")
_LINKS = {"risk_point_id": "risk_point", "shelter_id": "shelter", "resident_id": "resident"}


async def _check_update(
    data: HouseholdUpdate, row: dict[str, Any], grants: list[policy.Grant]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns to change (checked) and the grid the household ends up in."""
    changes: dict[str, Any] = {}
    grid = {"id": row["grid"], "path": row["area_path"]}
    if data.grid_id is not msgspec.UNSET and data.grid_id != row["grid"]:
        grid = await _grid(data.grid_id, grants)
        changes.update(grid=grid["id"], area_path=grid["path"])
    merged = {k: row[k] for k in _PLAIN}
    for name in _PLAIN:
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            merged[name] = changes[name] = value
    _counts(merged)
    for name in _TEXT:
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            changes[name] = filled(name, value) if name in _REQUIRED_TEXT else value.strip()
    if data.head_phone is not msgspec.UNSET:
        changes["head_phone"] = _phone(data.head_phone)
    moved = "grid" in changes
    helper = row["helper"] if data.helper_id is msgspec.UNSET else data.helper_id
    if moved or data.helper_id is not msgspec.UNSET:
        await _check_helper(helper, grid["path"])
        changes["helper"] = helper
    shelter = row["shelter"] if data.shelter_id is msgspec.UNSET else data.shelter_id
    if shelter is not None and (moved or data.shelter_id is not msgspec.UNSET):
        await _check_shelter(shelter, grid["path"])
    for name, column in _LINKS.items():
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            changes[column] = value
    if isinstance(data.risk_point_id, int):
        await _check_risk_point(data.risk_point_id, grants)
    if isinstance(data.resident_id, int):
        await _check_resident(data.resident_id)
    if data.location is not msgspec.UNSET:
        changes["lat"] = changes["lng"] = None
        if data.location is not None:
            lng, lat = to_wgs84(data.location.lat, data.location.lng, data.location.datum)
            changes.update(lat=lat, lng=lng)
    return changes, grid


async def update_household(
    *, household_id: int, data: HouseholdUpdate, account_id: int, grants: list[policy.Grant]
) -> HouseholdRead:
    """Change a household (the caller manages its grid, and the new one if it moves)."""
    row = await _household(household_id, grants, account_id)
    policy.require(grants, "household.manage", row["area_path"])
    if row["retired_at"] is not None:
        raise Conflict("household_retired", detail="the household is retired")
    changes, grid = await _check_update(data, row, grants)
    if {"area_path", "address", "head_phone"} & changes.keys():
        await _check_unique(
            grid["path"],
            changes.get("address", row["address"]),
            changes.get("head_phone", row["head_phone"]),
            household_id,
        )
    now = clock.now()
    changes.update(updated_at=now, updated_by=account_id)
    async with write_transaction():
        await (
            Household.update({getattr(Household, k): v for k, v in changes.items()})
            .where(Household.id == household_id)
            .run()
        )
        await audit.record(
            actor_id=account_id,
            action="household.update",
            object_type="household",
            object_id=household_id,
            area_path=changes.get("area_path", row["area_path"]),
            detail=msgspec.to_builtins(data),
        )
    return await _answer(household_id, grants, account_id)


async def retire_household(
    *, household_id: int, account_id: int, grants: list[policy.Grant]
) -> HouseholdRead:
    """Retire a household (moved away, house gone): no longer listed; again: unchanged."""
    row = await _household(household_id, grants, account_id)
    policy.require(grants, "household.manage", row["area_path"])
    if row["retired_at"] is None:
        now = clock.now()
        async with write_transaction():
            await (
                Household.update(
                    {
                        Household.retired_at: now,
                        Household.updated_at: now,
                        Household.updated_by: account_id,
                    }
                )
                .where(Household.id == household_id)
                .run()
            )
            await audit.record(
                actor_id=account_id,
                action="household.retire",
                object_type="household",
                object_id=household_id,
                area_path=row["area_path"],
                detail={"address": row["address"]},
            )
    return await _answer(household_id, grants, account_id)
