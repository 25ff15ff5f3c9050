"""The inbox: a caller's notifications, read and unread (with its own cursor codec)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from grid_backend.core import clock, i18n, pagination
from grid_backend.core.errors import NotFound
from grid_backend.notify import kinds
from grid_backend.notify.schemas import (
    NotificationPage,
    NotificationRead,
    ReadAllResult,
)
from grid_backend.notify.services.enqueue import publish
from grid_backend.notify.tables import Notification


def _inbox(account_id: int) -> Any:
    return (
        (Notification.recipient == account_id)
        & (Notification.channel == "inbox")
        & (Notification.status == "sent")
    )


_TEXT = frozenset(kinds.TEXT_FIELDS)


def _read(row: dict[str, Any]) -> NotificationRead:
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    lang = "en" if i18n.english() else "zh"
    return NotificationRead(
        id=row["id"],
        kind=row["kind"],
        title=payload.get(f"title_{lang}", ""),
        body=payload.get(f"body_{lang}", ""),
        urgent=row["urgent"],
        data={k: v for k, v in payload.items() if k not in _TEXT},
        created_at=row["sent_at"],
        read_at=row["read_at"],
    )


_READ_COLUMNS = (
    Notification.id,
    Notification.kind,
    Notification.urgent,
    Notification.payload,
    Notification.sent_at,
    Notification.read_at,
)


async def unread_count(*, account_id: int) -> int:
    return (
        await Notification.count().where(_inbox(account_id) & Notification.read_at.is_null()).run()
    )


async def list_inbox(
    *,
    account_id: int,
    unread_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> NotificationPage:
    """The caller's inbox, newest first, with the number still unread."""
    condition = _inbox(account_id)
    if unread_only:
        condition = condition & Notification.read_at.is_null()
    position = pagination.decode(cursor, "n", "time", "id")
    if position is not None:
        at, before = position
        condition = condition & (
            (Notification.sent_at < at)
            | ((Notification.sent_at == at) & (Notification.id < before))
        )
    rows = (
        await Notification.select(*_READ_COLUMNS)
        .where(condition)
        .order_by(Notification.sent_at, Notification.id, ascending=False)
        .limit(limit + 1)
        .output(load_json=True)
        .run()
    )
    next_cursor = None
    if len(rows) > limit:
        del rows[limit:]
        next_cursor = pagination.encode("n", rows[-1]["sent_at"], rows[-1]["id"])
    return NotificationPage(
        items=[_read(r) for r in rows],
        next_cursor=next_cursor,
        unread_count=await unread_count(account_id=account_id),
    )


async def mark_read(*, account_id: int, notification_id: int) -> NotificationRead:
    """Mark one of the caller's inbox notifications read (again is harmless)."""
    mine = _inbox(account_id) & (Notification.id == notification_id)
    await (
        Notification.update({Notification.read_at: clock.now().astimezone(UTC)})
        .where(mine & Notification.read_at.is_null())
        .run()
    )
    row = await Notification.select(*_READ_COLUMNS).where(mine).output(load_json=True).first().run()
    if row is None:  # someone else's, not in an inbox, or no such id: all look the same
        raise NotFound("notification_not_found")
    publish([account_id], {"type": "inbox.read", "id": notification_id})
    return _read(row)


async def mark_all_read(*, account_id: int) -> ReadAllResult:
    """Mark every inbox notification of the caller read."""
    marked = (
        await Notification.update({Notification.read_at: clock.now().astimezone(UTC)})
        .where(_inbox(account_id) & Notification.read_at.is_null())
        .returning(Notification.id)
        .run()
    )
    if marked:
        publish([account_id], {"type": "inbox.read_all"})
    return ReadAllResult(marked=len(marked), unread_count=await unread_count(account_id=account_id))
