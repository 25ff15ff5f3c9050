"""Assignments of duties to areas: the caller's own, listing, creating, ending."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import DomainError, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.people.duty import on_duty
from grid_backend.people.phones import normalise_phone
from grid_backend.people.schemas import (
    AssignmentCreate,
    AssignmentPage,
    AssignmentRead,
    MeRead,
)
from grid_backend.people.services.accounts import _ACCOUNT_COLUMNS, _account_read
from grid_backend.people.tables import Account, Assignment

_ASSIGNMENT_COLUMNS = (
    Assignment.id,
    Assignment.account,
    Assignment.account.name.as_alias("account_name"),
    Assignment.area,
    Assignment.area.code.as_alias("area_code"),
    Assignment.area.name.as_alias("area_name"),
    Assignment.area.level.as_alias("area_level"),
    Assignment.duty,
    Assignment.valid_from,
    Assignment.valid_to,
    Assignment.employment,
    Assignment.board,
    Assignment.risk_point,
)


def _assignment_read(r: dict[str, Any]) -> AssignmentRead:
    return AssignmentRead(
        id=r["id"],
        account_id=r["account"],
        account_name=r["account_name"],
        area_id=r["area"],
        area_code=r["area_code"],
        area_name=r["area_name"],
        area_level=r["area_level"],
        duty=r["duty"],
        valid_from=r["valid_from"],
        valid_to=r["valid_to"],
        employment=r["employment"],
        board=r["board"],
        risk_point_id=r["risk_point"],
    )


async def me(*, account_id: int) -> MeRead:
    """The caller's account and the assignments valid today."""
    row = await Account.select(*_ACCOUNT_COLUMNS).where(Account.id == account_id).first().run()
    if row is None:
        raise DomainError("token_invalid", status=401)
    rows = (
        await Assignment.select(*_ASSIGNMENT_COLUMNS)
        .where((Assignment.account == account_id) & on_duty(clock.today()))
        .order_by(Assignment.id)
        .run()
    )
    items = [_assignment_read(r) for r in rows]
    return MeRead(account=_account_read(row), assignments=items, is_staff=bool(items))


async def list_assignments(
    *,
    grants: list[policy.Grant],
    caller_id: int,
    area_id: int | None = None,
    duty: str | None = None,
    account_id: int | None = None,
    active_on: date | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AssignmentPage:
    """Assignments inside the caller's scope (and always the caller's own)."""
    paths = policy.scopes(grants, "assignment.read")
    scope = under(Assignment.area_path, paths)
    own = Assignment.account == caller_id
    query = Assignment.select(*_ASSIGNMENT_COLUMNS).where(own if scope is None else scope | own)
    if area_id is not None:
        area = await Area.select(Area.path).where(Area.id == area_id).first().run()
        if area is None:
            raise NotFound("area_not_found")
        query = query.where(Assignment.area_path.like(area["path"] + "%"))
    if duty is not None:
        query = query.where(Assignment.duty == duty)
    if account_id is not None:
        query = query.where(Assignment.account == account_id)
    if active_on is not None:
        query = query.where(on_duty(active_on))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Assignment.id > after)
    rows = await query.order_by(Assignment.id).limit(limit + 1).run()
    cursor_out = next_cursor(rows, limit)
    return AssignmentPage(items=[_assignment_read(r) for r in rows], next_cursor=cursor_out)


async def _resolve_area(data: AssignmentCreate) -> tuple[dict[str, Any], str]:
    """The area and the field that named it, so errors point at what the client sent."""
    if data.area_id is not None:
        area = (
            await Area.select(Area.id, Area.path, Area.level)
            .where(Area.id == data.area_id)
            .first()
            .run()
        )
        field = "area_id"
    elif data.area_code is not None:
        area = (
            await Area.select(Area.id, Area.path, Area.level)
            .where(Area.code == data.area_code)
            .first()
            .run()
        )
        field = "area_code"
    else:
        raise invalid("area_id", "give area_id or area_code")
    if area is None:
        raise invalid(field, "no such area", code="area_code_unknown")
    return area, field


async def _resolve_account(data: AssignmentCreate) -> int:
    if data.account_id is not None:
        found = await Account.exists().where(Account.id == data.account_id).run()
        if not found:
            raise invalid("account_id", "no such account")
        return data.account_id
    if data.phone is not None:
        phone = normalise_phone(data.phone)
        row = await Account.select(Account.id).where(Account.phone == phone).first().run()
        if row is None:
            raise invalid("phone", "no account with this phone")
        return row["id"]
    raise invalid("account_id", "give account_id or phone")


async def validate_assignment(
    data: AssignmentCreate, grants: list[policy.Grant] | None = None
) -> tuple[int, dict[str, Any]]:
    """Check an assignment's fields against the duty table; return (account id, area)."""
    if data.duty not in policy.DUTY_LEVELS:
        raise invalid(
            "duty",
            "duty must be one of %(duties)s",
            code="duty_unknown",
            params={"duties": ", ".join(policy.DUTIES)},
        )
    area, area_field = await _resolve_area(data)
    # before any lookup of the person: a refused caller must not learn which phones exist
    if grants is not None:
        policy.require_appoint(grants, data.duty, area["path"])
    if area["level"] not in policy.DUTY_LEVELS[data.duty]:
        allowed = "/".join(sorted(policy.DUTY_LEVELS[data.duty]))
        raise invalid(
            area_field,
            "%(duty)s is held at %(allowed)s level, not %(level)s",
            code="duty_area_mismatch",
            params={"duty": data.duty, "allowed": allowed, "level": area["level"]},
        )
    if data.duty == "board_handler" and data.board not in policy.BOARDS:
        raise invalid(
            "board",
            "board_handler needs a board: %(boards)s",
            params={"boards": ", ".join(policy.BOARDS)},
        )
    if data.duty != "board_handler" and data.board is not None:
        raise invalid("board", "only board_handler has a board")
    if data.employment is not None and (
        data.duty != "grid_worker" or data.employment not in policy.EMPLOYMENTS
    ):
        raise invalid(
            "employment",
            "employment is full_time or part_time, for grid_worker only",
        )
    if data.duty == "site_monitor":
        if data.risk_point_id is None:
            raise invalid("risk_point_id", "a site monitor watches a risk point")
        point = (
            await RiskPoint.select(RiskPoint.grid)
            .where(RiskPoint.id == data.risk_point_id)
            .first()
            .run()
        )
        if point is None or point["grid"] != area["id"]:
            raise invalid(
                "risk_point_id",
                "the risk point must lie in the assignment's grid",
            )
    elif data.risk_point_id is not None:
        raise invalid(
            "risk_point_id",
            "only site_monitor has a risk point",
        )
    start = data.valid_from or clock.today()
    if data.valid_to is not None and data.valid_to < start:
        raise invalid("valid_to", "valid_to is before valid_from")
    return await _resolve_account(data), area


async def create_assignment(
    *, data: AssignmentCreate, grants: list[policy.Grant] | None, actor_id: int | None
) -> AssignmentRead:
    """Give a person a duty in an area; grants None means a trusted caller (the CLI, seeds)."""
    account_id, area = await validate_assignment(data, grants)
    async with write_transaction():
        row = (
            await Assignment.insert(
                Assignment(
                    account=account_id,
                    area=area["id"],
                    area_path=area["path"],
                    duty=data.duty,
                    employment=data.employment,
                    board=data.board,
                    risk_point=data.risk_point_id,
                    valid_from=data.valid_from or clock.today(),
                    valid_to=data.valid_to,
                    created_by=actor_id,
                )
            )
            .returning(Assignment.id)
            .run()
        )[0]
        await audit.record(
            actor_id=actor_id,
            action="assignment.create",
            object_type="assignment",
            object_id=row["id"],
            area_path=area["path"],
            detail={"account_id": account_id, "duty": data.duty, "area_id": area["id"]},
        )
        await audit.bump_revision("assignments")
    return await get_assignment(assignment_id=row["id"])


async def get_assignment(*, assignment_id: int) -> AssignmentRead:
    row = (
        await Assignment.select(*_ASSIGNMENT_COLUMNS)
        .where(Assignment.id == assignment_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound("assignment_not_found")
    return _assignment_read(row)


async def read_assignment(
    *, assignment_id: int, grants: list[policy.Grant], caller_id: int
) -> AssignmentRead:
    """One assignment, if it is the caller's own or inside the caller's scope."""
    row = (
        await Assignment.select(Assignment.area_path, Assignment.account)
        .where(Assignment.id == assignment_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound("assignment_not_found")
    if row["account"] != caller_id:
        policy.require(grants, "assignment.read", row["area_path"])
    return await get_assignment(assignment_id=assignment_id)


async def end_assignment(
    *, assignment_id: int, valid_to: date | None, grants: list[policy.Grant], actor_id: int
) -> AssignmentRead:
    """Set the last day of an assignment (yesterday by default: off duty from today)."""
    row = await Assignment.select().where(Assignment.id == assignment_id).first().run()
    if row is None:
        raise NotFound("assignment_not_found")
    policy.require_appoint(grants, row["duty"], row["area_path"])
    today = clock.today()
    if valid_to is None and row["valid_to"] is not None and row["valid_to"] < today:
        return await get_assignment(assignment_id=assignment_id)  # already over: keep its end
    # ending one that has not started yet cancels it: it ends the day before its first day
    last_day = (
        valid_to
        if valid_to is not None
        else max(today - timedelta(days=1), row["valid_from"] - timedelta(days=1))
    )
    if last_day < row["valid_from"] - timedelta(days=1):
        raise invalid("valid_to", "valid_to is before valid_from")
    async with write_transaction():
        await (
            Assignment.update({Assignment.valid_to: last_day})
            .where(Assignment.id == assignment_id)
            .run()
        )
        await audit.record(
            actor_id=actor_id,
            action="assignment.end",
            object_type="assignment",
            object_id=assignment_id,
            area_path=row["area_path"],
            detail={
                "valid_to": last_day.isoformat(),
                "previous_valid_to": row["valid_to"].isoformat() if row["valid_to"] else None,
            },
        )
        await audit.bump_revision("assignments")
    return await get_assignment(assignment_id=assignment_id)
