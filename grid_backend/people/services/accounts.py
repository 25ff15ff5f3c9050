"""Accounts: creating one, and finding people as the caller may see them."""

from __future__ import annotations

from typing import Any

from grid_backend.areas.tables import Area
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import Conflict, DomainError, Forbidden, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.security import (
    hash_password,
)
from grid_backend.people import duty, passwords, ties
from grid_backend.people.duty import on_duty
from grid_backend.people.phones import mask_name, mask_phone, normalise_phone
from grid_backend.people.schemas import (
    AccountBrief,
    AccountPage,
    AccountRead,
    DutyBrief,
)
from grid_backend.people.tables import Account, Assignment

_ACCOUNT_COLUMNS = (Account.id, Account.phone, Account.name, Account.is_active, Account.created_at)


def check_password_strength(password: str, phone: str) -> None:
    """At least 8 characters with letters and digits, not built from the phone number."""
    reason = passwords.basic_reason(password, phone)
    if reason:
        raise passwords.weak_password(reason)


def _account_read(row: dict[str, Any]) -> AccountRead:
    return AccountRead(
        id=row["id"],
        phone=row["phone"],
        name=row["name"],
        is_active=row["is_active"],
        created_at=row["created_at"],
    )


async def create_account(
    *, phone: str, password: str, name: str, actor_id: int | None = None
) -> AccountRead:
    """Create an account (a resident until given an assignment)."""
    phone = normalise_phone(phone)
    name = name.strip()
    if not name:
        raise invalid("name", "name must not be blank")
    check_password_strength(password, phone)
    password_hash = await hash_password(password)
    async with write_transaction():
        if await Account.exists().where(Account.phone == phone).run():
            raise Conflict(
                "phone_taken",
                field="phone",
                errors=[{"field": "phone", "code": "phone_taken", "message": "already registered"}],
            )
        row = (
            await Account.insert(Account(phone=phone, name=name, password_hash=password_hash))
            .returning(*_ACCOUNT_COLUMNS)
            .run()
        )[0]
        await audit.record(
            actor_id=actor_id or row["id"],
            action="account.create",
            object_type="account",
            object_id=row["id"],
        )
    return _account_read(row)


async def _phone_owner_in_area(
    *, phone: str, paths: list[str], today: Any
) -> dict[str, Any] | None:
    """The account with this full phone number as the caller may see it (docs/security.md,
    "Account lookup"): with its name if it belongs to the caller's area (a current duty in or
    under `paths`, or a case it reported there; the city's admins: everyone); with its name
    masked if it belongs to no area at all (a new resident, to be appointed); else None, so that
    a number from elsewhere in the city never turns into a name."""
    row = await Account.select(*_ACCOUNT_COLUMNS).where(Account.phone == phone).first().run()
    if row is None:
        return None
    if any(p.count("/") == 1 for p in paths):  # the whole city
        return row
    duty = (Assignment.account == row["id"]) & on_duty(today)
    if await Assignment.exists().where(duty & under(Assignment.area_path, paths)):
        return row
    if await ties.tied(row["id"], paths):  # a case it reported there (hazards.hooks)
        return row
    if await Assignment.exists().where(duty) or await ties.tied(row["id"], None):
        return None  # someone else's area's
    return {**row, "name": mask_name(row["name"]), "name_masked": True}


async def find_accounts(
    *,
    grants: list[policy.Grant],
    q: str | None = None,
    area_id: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AccountPage:
    """People on duty inside the caller's area, by name or phone; anyone else only by their
    full phone number (to appoint a resident), with that number masked, and only if they
    belong to the caller's area (see _phone_owner_in_area): elsewhere, nothing is found."""
    paths = await _lookup_paths(grants, area_id)
    today = clock.today()
    query = Account.select(*_ACCOUNT_COLUMNS).where(
        Account.id.is_in(duty.on_duty_under(paths, today))
    )
    text = (q or "").strip()[:64]
    exact: dict[str, Any] | None = None
    if text:
        digits = "".join(c for c in text if c.isdigit())
        if digits and len(digits) == len(text.replace(" ", "").replace("-", "")):
            query = query.where(Account.phone.like(f"%{digits}%"))
            try:
                phone = normalise_phone(text)
            except DomainError:
                phone = None
            if phone is not None and not cursor:
                exact = await _phone_owner_in_area(phone=phone, paths=paths, today=today)
        else:
            query = query.where(Account.name.like(f"%{text.replace('%', '')}%"))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Account.id > after)
    rows = await query.order_by(Account.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    staff_ids = {r["id"] for r in rows}
    if exact is not None and exact["id"] not in staff_ids:
        rows.insert(0, exact)
    return AccountPage(items=await _briefs(rows, staff_ids, paths, today), next_cursor=cursor_out)


async def _lookup_paths(grants: list[policy.Grant], area_id: int | None) -> list[str]:
    """The area paths a lookup searches: the caller's, narrowed to an area if one is named."""
    paths = policy.scopes(grants, "account.read")
    if not paths:
        raise Forbidden()
    if area_id is not None:
        area = await Area.select(Area.path).where(Area.id == area_id).first().run()
        if area is None:
            raise NotFound("area_not_found")
        inside = [p for p in paths if p.startswith(area["path"])]
        paths = [area["path"]] if any(area["path"].startswith(p) for p in paths) else inside
        if not paths:
            raise Forbidden()
    return paths


async def _briefs(
    rows: list[dict[str, Any]], staff_ids: set[int], paths: list[str], today: Any
) -> list[AccountBrief]:
    """The accounts found, with their duties in the area; phones masked but for the staff."""
    duties: dict[int, list[DutyBrief]] = {}
    for a in await duty.duties_of([r["id"] for r in rows], paths=paths, day=today):
        duties.setdefault(a["account"], []).append(
            DutyBrief(duty=a["duty"], area_id=a["area"], area_name=a["area.name"])
        )
    return [
        AccountBrief(
            id=r["id"],
            name=r["name"],
            phone=r["phone"] if r["id"] in staff_ids else mask_phone(r["phone"]),
            phone_masked=r["id"] not in staff_ids,
            name_masked=r.get("name_masked", False),
            is_active=r["is_active"],
            duties=duties.get(r["id"], []),
        )
        for r in rows
    ]
