"""Acknowledgements and the live board: a recipient's one tap, who has answered (per area and
person, limited to the watcher's own area), and the callouts sent to the caller."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from grid_backend.alerts.schemas import (
    AckRead,
    BoardArea,
    BoardPerson,
    BoardRead,
    BoardTotals,
    CalloutRead,
    MyCallout,
    MyCalloutPage,
)
from grid_backend.alerts.services.callouts import _callout_reads, _seen_callout
from grid_backend.alerts.services.common import BOARD_AREAS, _utc
from grid_backend.alerts.services.watchers import _watchers_of_callout
from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import Forbidden, NotFound
from grid_backend.core.pagination import decode_cursor, encode_cursor
from grid_backend.core.sql import QueryString, all_of, postgres, q, under
from grid_backend.core.types import AreaRef
from grid_backend.notify import services as notify
from grid_backend.people.tables import Account

_ACK = (
    "UPDATE callout_recipient SET acked_at = {} WHERE callout = {} AND account = {}"
    " AND acked_at IS NULL RETURNING acked_at, grid, area_path"
)
_ACKED = (
    "SELECT acked_at, grid, area_path FROM callout_recipient WHERE callout = {} AND account = {}"
)


async def acknowledge(*, callout_id: int, account_id: int) -> AckRead:
    """The recipient's one tap: the first records the time, later ones return it."""
    now = clock.now()
    ack = q(_ACK, now, callout_id, account_id)
    if postgres():  # one statement: atomic without a transaction, straight from the pool
        rows = await fetch(ack)
    else:
        async with write_transaction():
            rows = await fetch(ack)
    already = not rows
    if already:
        rows = await fetch(q(_ACKED, callout_id, account_id))
        if not rows:  # not sent to the caller (or no such callout): the same answer
            raise NotFound("callout_not_found")
    r = rows[0]
    acked_at = _utc(r["acked_at"])
    if not already:
        event = {
            "type": "callout.ack",
            "callout_id": callout_id,
            "account_id": account_id,
            "grid_id": r["grid"],
            "acked_at": acked_at.isoformat(),
        }
        watching = await _watchers_of_callout(callout_id, r["area_path"])
        notify.publish({account_id, *watching}, event)
    return AckRead(callout_id=callout_id, account_id=account_id, acked_at=acked_at, already=already)


_BOARD_COUNTS = (
    "SELECT r.area_path, COUNT(*) AS total, COUNT(r.acked_at) AS acked,"
    " SUM(CASE WHEN r.acked_at IS NULL AND r.step >= 2 THEN 1 ELSE 0 END) AS escalated"
    " FROM callout_recipient r WHERE r.callout = {} AND {} GROUP BY r.area_path"
)
# the page of recipients first, then their names: joining before the LIMIT made PostgreSQL
# join every recipient of a district (11,500 of a 48,000 callout, 127 ms against 11 ms) while
# the table's statistics still predated the fan-out that had just filled it
_BOARD_PEOPLE = (
    "WITH page AS (SELECT r.id, r.account, r.duty, r.grid, r.acked_at, r.step"
    " FROM callout_recipient r WHERE r.callout = {} AND {} ORDER BY r.id LIMIT {})"
    " SELECT p.id, p.account, c.name, c.phone, p.duty, p.grid, g.code AS grid_code,"
    " g.name AS grid_name, u.name AS community_name, p.acked_at, p.step"
    " FROM page p JOIN account c ON c.id = p.account"
    " LEFT JOIN area g ON g.id = p.grid LEFT JOIN area u ON u.id = g.parent ORDER BY p.id"
)
_PENDING = QueryString("r.acked_at IS NULL")
_ACKED_ONLY = QueryString("r.acked_at IS NOT NULL")


def _person_status(acked_at: Any, step: int) -> str:
    if acked_at is not None:
        return "acked"
    return "pending" if step == 0 else "reminded" if step == 1 else "escalated"


def _board_scopes(grants: list[policy.Grant], area_path: str | None) -> list[str]:
    """The caller's board areas, narrowed to `area_path` if given."""
    scopes = policy.scopes(grants, "callout.board")
    if area_path is not None:
        scopes = [area_path if area_path.startswith(s) else s for s in scopes]
        scopes = [s for s in scopes if s.startswith(area_path)]
    return scopes


async def _board_areas(
    callout_id: int, scope: QueryString, level: str
) -> tuple[list[int], list[BoardArea], bool]:
    """The totals (recipients, acknowledged, escalated), the counts of the areas at `level`
    with the most still waiting (up to BOARD_AREAS), and whether there were more areas."""
    grouped = await fetch(q(_BOARD_COUNTS, callout_id, scope))
    per_area: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for g in grouped:
        counts = per_area[policy.ancestor_path(g["area_path"], level)]
        counts[0] += int(g["total"])
        counts[1] += int(g["acked"])
        counts[2] += int(g["escalated"] or 0)
    totals = [sum(c[i] for c in per_area.values()) for i in range(3)]
    ordered = sorted(per_area.items(), key=lambda kv: (-(kv[1][0] - kv[1][1]), kv[0]))
    shown = ordered[:BOARD_AREAS]
    names: dict[str, dict[str, Any]] = {}
    paths = [p for p, _ in shown]
    for i in range(0, len(paths), 500):
        for a in (
            await Area.select(
                Area.id, Area.code, Area.name, Area.path, Area.parent.name.as_alias("parent_name")
            )
            .where(Area.path.is_in(paths[i : i + 500]))
            .run()
        ):
            names[a["path"]] = a
    areas = [
        BoardArea(
            area=AreaRef(id=names[p]["id"], code=names[p]["code"], name=names[p]["name"]),
            recipients=c[0],
            acked=c[1],
            pending=c[0] - c[1],
            escalated=c[2],
            parent_name=names[p]["parent_name"],
        )
        for p, c in shown
        if p in names
    ]
    return totals, areas, len(ordered) > BOARD_AREAS


def _board_person(p: dict[str, Any]) -> BoardPerson:
    return BoardPerson(
        account_id=p["account"],
        name=p["name"],
        phone=p["phone"],
        duty=p["duty"],
        grid=AreaRef(id=p["grid"], code=p["grid_code"], name=p["grid_name"]) if p["grid"] else None,
        community=p["community_name"],
        acked_at=_utc(p["acked_at"]),
        step=p["step"],
        status=_person_status(p["acked_at"], p["step"]),  # type: ignore[arg-type]  # one of the status Literal's values, as str
    )


async def board(
    *,
    callout_id: int,
    account_id: int,
    grants: list[policy.Grant],
    level: str = "grid",
    area_path: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> BoardRead:
    """Who has acknowledged and who has not: counts per area at `level`, and the people, both
    limited to the caller's own area (and to `area_path` if given)."""
    row, _, may_watch = await _seen_callout(callout_id, account_id, grants)
    if not may_watch:
        raise Forbidden()
    scopes = _board_scopes(grants, area_path)
    read: CalloutRead = (await _callout_reads([row], account_id, grants))[0]
    empty = BoardTotals(recipients=0, acked=0, pending=0, escalated=0)
    if not scopes:
        return BoardRead(read, level, empty, [], False, [], None)
    scope = under("r.area_path", scopes)
    totals, areas, truncated = await _board_areas(callout_id, scope, level)
    after = decode_cursor(cursor)
    who = all_of(
        scope,
        _PENDING if status == "pending" else _ACKED_ONLY if status == "acked" else None,
        None if after is None else q("r.id > {}", after),
    )
    people = await fetch(q(_BOARD_PEOPLE, callout_id, who, limit + 1))
    next_cursor = encode_cursor(people[limit - 1]["id"]) if len(people) > limit else None
    return BoardRead(
        callout=read,
        level=level,
        totals=BoardTotals(
            recipients=totals[0],
            acked=totals[1],
            pending=totals[0] - totals[1],
            escalated=totals[2],
        ),
        areas=areas,
        areas_truncated=truncated,
        people=[_board_person(p) for p in people[:limit]],
        next_cursor=next_cursor,
    )


_MY_CALLOUTS = (
    "SELECT r.id, r.callout, r.acked_at, r.step, r.grid, g.code AS grid_code,"
    " g.name AS grid_name, c.warning, c.level, c.message, c.message_en, c.status,"
    " c.created_at FROM callout_recipient r JOIN callout c ON c.id = r.callout"
    " LEFT JOIN area g ON g.id = r.grid WHERE r.account = {} AND {}"
    " ORDER BY r.id DESC LIMIT {}"
)
_WAITING = QueryString("r.acked_at IS NULL AND c.status = 'active'")


async def my_callouts(
    *, account_id: int, status: str = "pending", limit: int = 50, cursor: str | None = None
) -> MyCalloutPage:
    """The callouts sent to the caller, newest first: by default those still waiting for
    their tap (not cancelled)."""
    before = decode_cursor(cursor)
    where = all_of(
        _WAITING if status == "pending" else _ACKED_ONLY if status == "acked" else None,
        None if before is None else q("r.id < {}", before),
    )
    rows = await fetch(q(_MY_CALLOUTS, account_id, where, limit + 1))
    next_cursor = encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
    return MyCalloutPage(
        items=[
            MyCallout(
                id=r["callout"],
                warning_id=r["warning"],
                level=r["level"],
                message=r["message"],
                message_en=r["message_en"],
                status=r["status"],
                created_at=_utc(r["created_at"]),
                acked_at=_utc(r["acked_at"]),
                step=r["step"],
                grid=AreaRef(id=r["grid"], code=r["grid_code"], name=r["grid_name"])
                if r["grid"]
                else None,
            )
            for r in rows[:limit]
        ],
        next_cursor=next_cursor,
    )


async def names_of(account_ids: list[int]) -> dict[int, str]:
    if not account_ids:
        return {}
    rows = await Account.select(Account.id, Account.name).where(Account.id.is_in(account_ids)).run()
    return {r["id"]: r["name"] for r in rows}
