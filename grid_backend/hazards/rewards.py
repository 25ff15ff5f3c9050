"""The points ledger: append-only entries, each award at most once (a unique key), positive
awards capped per person per calendar month (local time). The balance is the sum."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from grid_backend.core import clock
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.hazards.schemas import PointsEntryRead, PointsRead
from grid_backend.hazards.tables import PointsEntry
from grid_backend.settings import get_settings


def _month_start() -> datetime:
    local = clock.now().astimezone(get_settings().zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def month_awarded(account_id: int) -> int:
    rows = (
        await PointsEntry.select(PointsEntry.delta)
        .where(
            (PointsEntry.account == account_id)
            & (PointsEntry.delta > 0)
            & (PointsEntry.created_at >= _month_start())
        )
        .run()
    )
    return sum(r["delta"] for r in rows)


async def award(
    *, account_id: int | None, delta: int, reason: str, report_id: int, key: str, note: str = ""
) -> int:
    """Write one entry unless its key exists; returns the points actually given (the monthly
    cap can cut a positive award, to zero if reached). Call inside the case's transaction."""
    if account_id is None or delta == 0:
        return 0
    if await PointsEntry.exists().where(PointsEntry.key == key).run():
        return 0
    if delta > 0:
        room = get_settings().points_monthly_cap - await month_awarded(account_id)
        if room <= 0:
            return 0
        if delta > room:
            delta, note = room, (note + " (monthly cap)").strip()
    await PointsEntry.insert(
        PointsEntry(
            account=account_id,
            delta=delta,
            reason=reason,
            report=report_id,
            key=key,
            note=note,
            created_at=clock.now(),
        )
    ).run()
    return delta


async def statement(*, account_id: int, limit: int, cursor: str | None) -> PointsRead:
    """Balance, this month's awards and the entries, newest first."""
    all_rows = (
        await PointsEntry.select(PointsEntry.delta).where(PointsEntry.account == account_id).run()
    )
    query = PointsEntry.select().where(PointsEntry.account == account_id)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(PointsEntry.id < before)
    rows: list[dict[str, Any]] = (
        await query.order_by(PointsEntry.id, ascending=False).limit(limit + 1).run()
    )
    cursor_out = next_cursor(rows, limit)
    return PointsRead(
        balance=sum(r["delta"] for r in all_rows),
        month_awarded=await month_awarded(account_id),
        monthly_cap=get_settings().points_monthly_cap,
        entries=[
            PointsEntryRead(
                id=r["id"],
                delta=r["delta"],
                reason=r["reason"],
                report_id=r["report"],
                created_at=r["created_at"],
                note=r["note"],
            )
            for r in rows
        ],
        next_cursor=cursor_out,
    )
