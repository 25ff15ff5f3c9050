"""Callouts (叫应): the people of some areas (by duty) or a named list of them are called out
and notified. A callout is seen by those who may watch its board (managers and grid leaders
whose area overlaps it) and by the people it was sent to."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from grid_backend.alerts import fanout
from grid_backend.alerts.schemas import (
    DEFAULT_DUTIES,
    CalloutCreate,
    CalloutPage,
    CalloutRead,
    MyAck,
    PersonRef,
)
from grid_backend.alerts.services.common import (
    Live,
    _areas,
    _narrowest,
    _require_issue,
    publish_live,
)
from grid_backend.alerts.services.watchers import board_event
from grid_backend.alerts.tables import Callout, CalloutArea, CalloutRecipient
from grid_backend.areas.services.serving import overlaps
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import Conflict, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, encode_cursor
from grid_backend.core.sql import FALSE, all_of, in_, q, under
from grid_backend.core.types import AreaRef
from grid_backend.notify.services import webhooks
from grid_backend.settings import get_settings


async def _new_callout(
    *,
    areas: list[dict[str, Any]],
    texts: dict[str, Any],
    message: str,
    warning: dict[str, Any] | None,
    duties: list[str],
    account_ids: list[int] | None,
    escalate_minutes: int | None,
    account_id: int,
    now: datetime,
    live: Live,
    required: bool,
    message_en: str = "",
) -> int | None:
    """Create a callout and its recipients and notifications (in the caller's transaction);
    its id, or None when nobody holds those duties there (422 if `required`)."""
    callout_id = await _insert_callout(
        areas, warning, message, message_en, escalate_minutes, account_id, now
    )
    added, named = await fanout.add_recipients(
        callout_id=callout_id,
        area_paths=_narrowest([a["path"] for a in areas]),
        duties=duties,
        day=clock.today(),
        now=now,
        account_ids=account_ids,
    )
    _check_recipients(account_ids, named, added, required)
    if not added:
        await Callout.delete().where(Callout.id == callout_id).run()
        return None
    await Callout.update({Callout.recipients: added}).where(Callout.id == callout_id).run()
    payload = {
        "callout_id": callout_id,
        "warning_id": warning["id"] if warning else None,
        "level": warning["level"] if warning else None,
        **texts,
    }
    live += await fanout.notify_recipients(
        callout_id=callout_id,
        kind="callout",
        payload=payload,
        dedupe_key=f"callout:{callout_id}",
        now=now,
    )
    live += await board_event(
        callout_id,
        [a["path"] for a in areas],
        {"type": "callout.created", "recipients": added},
    )
    await webhooks.emit(
        kind="callout.started",
        key=f"callout.started:{callout_id}",
        data={
            "callout": {
                "id": callout_id,
                "warning_id": warning["id"] if warning else None,
                "message": message,
                "recipients": added,
                "areas": [{"id": a["id"], "path": a["path"]} for a in areas],
            }
        },
        urgent=True,
    )
    return callout_id


async def callout_ended(callout_id: int, warning_id: int | None, reason: str) -> None:
    """callout.ended for webhook subscribers (cancelled, or its warning lifted)."""
    await webhooks.emit(
        kind="callout.ended",
        key=f"callout.ended:{callout_id}",
        data={"callout": {"id": callout_id, "warning_id": warning_id}, "reason": reason},
    )


async def _insert_callout(
    areas: list[dict[str, Any]],
    warning: dict[str, Any] | None,
    message: str,
    message_en: str,
    escalate_minutes: int | None,
    account_id: int,
    now: datetime,
) -> int:
    """The callout's row and its areas; its id."""
    minutes = escalate_minutes or get_settings().callout_escalate_minutes
    row = (
        await Callout.insert(
            Callout(
                warning=warning["id"] if warning else None,
                level=warning["level"] if warning else None,
                message=message,
                message_en=message_en,
                escalate_minutes=minutes,
                status="active",
                step=0,
                next_step_at=now + timedelta(minutes=minutes),
                created_by=account_id,
                created_at=now,
            )
        )
        .returning(Callout.id)
        .run()
    )
    callout_id = row[0]["id"]
    await CalloutArea.insert(
        *[CalloutArea(callout=callout_id, area=a["id"], area_path=a["path"]) for a in areas]
    ).run()
    return callout_id


def _check_recipients(
    account_ids: list[int] | None, named: list[int], added: int, required: bool
) -> None:
    """422 when a named account holds none of the duties there, or (if `required`) nobody
    was called out."""
    if account_ids is not None:
        missing = sorted(set(account_ids) - set(named))
        if missing:
            raise invalid(
                "account_ids",
                "these accounts hold none of the duties in these areas today: %(missing)s",
                code="callout_recipient_invalid",
                params={"missing": missing},
            )
    if not added and required:
        raise invalid(
            "area_ids",
            "nobody holds the duties in these areas today",
            code="callout_no_recipients",
        )


async def create_callout(
    *, data: CalloutCreate, account_id: int, grants: list[policy.Grant]
) -> CalloutRead:
    """Call out the people of some areas (by duty) or a named list of them."""
    areas = await _areas(data.area_ids)
    _require_issue(grants, areas)
    if data.duties is not None and data.account_ids is not None:
        raise invalid(
            "account_ids",
            "give either duties or account_ids",
        )
    now = clock.now()
    live: Live = []
    async with write_transaction():
        callout_id = await _new_callout(
            areas=areas,
            texts={"text_zh": data.message, "text_en": data.message_en or data.message},
            message=data.message,
            message_en=data.message_en,
            warning=None,
            duties=list(data.duties or DEFAULT_DUTIES)
            if data.account_ids is None
            else list(policy.DUTY_LEVELS),
            account_ids=list(dict.fromkeys(data.account_ids)) if data.account_ids else None,
            escalate_minutes=data.escalate_minutes,
            account_id=account_id,
            now=now,
            live=live,
            required=True,
        )
        assert callout_id is not None
        await audit.record(
            actor_id=account_id,
            action="callout.create",
            object_type="callout",
            object_id=callout_id,
            area_path=areas[0]["path"],
            detail={"areas": [a["id"] for a in areas]},
        )
    publish_live(live)
    return await read_callout(callout_id=callout_id, account_id=account_id, grants=grants)


async def _callout_row(callout_id: int) -> dict[str, Any]:
    row = (
        await Callout.select(*Callout.all_columns(), Callout.created_by.name.as_alias("by_name"))
        .where(Callout.id == callout_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound("callout_not_found")
    return row


async def _callout_areas(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    rows = (
        await CalloutArea.select(
            CalloutArea.callout,
            CalloutArea.area.as_alias("id"),
            CalloutArea.area_path.as_alias("path"),
            CalloutArea.area.code.as_alias("code"),
            CalloutArea.area.name.as_alias("name"),
        )
        .where(CalloutArea.callout.is_in(ids))
        .order_by(CalloutArea.id)
        .run()
    )
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        found[r["callout"]].append(r)
    return found


_COUNTS = (
    "SELECT callout, COUNT(*) AS total, COUNT(acked_at) AS acked FROM callout_recipient"
    " WHERE {} AND {} GROUP BY callout"
)


async def _counts(ids: list[int], scopes: list[str]) -> dict[int, tuple[int, int]]:
    """(recipients, acknowledged) of each callout, inside these scopes."""
    if not ids or not scopes:
        return {}
    rows = await fetch(q(_COUNTS, in_("callout", ids), under("area_path", scopes)))
    return {r["callout"]: (int(r["total"]), int(r["acked"])) for r in rows}


async def _mine(ids: list[int], account_id: int) -> dict[int, dict[str, Any]]:
    rows = (
        await CalloutRecipient.select(
            CalloutRecipient.callout, CalloutRecipient.acked_at, CalloutRecipient.step
        )
        .where(CalloutRecipient.callout.is_in(ids) & (CalloutRecipient.account == account_id))
        .run()
    )
    return {r["callout"]: r for r in rows}


async def _callout_reads(
    rows: list[dict[str, Any]], account_id: int, grants: list[policy.Grant]
) -> list[CalloutRead]:
    ids = [r["id"] for r in rows]
    if not ids:
        return []
    areas = await _callout_areas(ids)
    scopes = policy.scopes(grants, "callout.board")
    watched = [i for i in ids if overlaps([a["path"] for a in areas[i]], scopes)]
    counts = await _counts(watched, scopes)
    mine = await _mine(ids, account_id)
    reads = []
    for r in rows:
        board = r["id"] in watched
        total, acked = counts.get(r["id"], (0, 0))
        me = mine.get(r["id"])
        reads.append(
            CalloutRead(
                id=r["id"],
                warning_id=r["warning"],
                level=r["level"],
                message=r["message"],
                message_en=r["message_en"],
                areas=[AreaRef(id=a["id"], code=a["code"], name=a["name"]) for a in areas[r["id"]]],
                status=r["status"],
                escalate_minutes=r["escalate_minutes"],
                step=r["step"],
                next_step_at=r["next_step_at"],
                created_by=PersonRef(id=r["created_by"], name=r["by_name"])
                if r["created_by"]
                else None,
                created_at=r["created_at"],
                cancelled_at=r["cancelled_at"],
                recipients=total if board else None,
                acked=acked if board else None,
                mine=MyAck(acked_at=me["acked_at"], step=me["step"]) if me else None,
            )
        )
    return reads


async def _seen_callout(
    callout_id: int, account_id: int, grants: list[policy.Grant]
) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """The callout, its areas, and whether the caller may watch its board; 404 for those who
    may neither watch it nor were called."""
    row = await _callout_row(callout_id)
    areas = (await _callout_areas([callout_id]))[callout_id]
    board = overlaps([a["path"] for a in areas], policy.scopes(grants, "callout.board"))
    if not board and not await _mine([callout_id], account_id):
        raise NotFound("callout_not_found")
    return row, areas, board


async def read_callout(
    *, callout_id: int, account_id: int, grants: list[policy.Grant]
) -> CalloutRead:
    """One callout the caller watches or was sent."""
    row, _, _ = await _seen_callout(callout_id, account_id, grants)
    return (await _callout_reads([row], account_id, grants))[0]


_CALLOUTS = (
    "SELECT c.id FROM callout c WHERE (EXISTS (SELECT 1 FROM callout_recipient r"
    " WHERE r.callout = c.id AND r.account = {}) OR EXISTS (SELECT 1 FROM callout_area ca"
    " WHERE ca.callout = c.id AND {})) AND {} ORDER BY c.id DESC LIMIT {}"
)


async def list_callouts(
    *,
    account_id: int,
    grants: list[policy.Grant],
    warning_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> CalloutPage:
    """Callouts the caller watches (inside their area) or was sent, newest first."""
    scopes = policy.scopes(grants, "callout.board")
    watched = fanout.overlap("ca.area_path", scopes) if scopes else FALSE
    before = decode_cursor(cursor)
    filters = all_of(
        None if warning_id is None else q("c.warning = {}", warning_id),
        None if status is None else q("c.status = {}", status),
        None if before is None else q("c.id < {}", before),
    )
    ids = [r["id"] for r in await fetch(q(_CALLOUTS, account_id, watched, filters, limit + 1))]
    next_cursor = encode_cursor(ids[limit - 1]) if len(ids) > limit else None
    ids = ids[:limit]
    rows = (
        await Callout.select(*Callout.all_columns(), Callout.created_by.name.as_alias("by_name"))
        .where(Callout.id.is_in(ids))
        .run()
        if ids
        else []
    )
    rows.sort(key=lambda r: -r["id"])
    return CalloutPage(
        items=await _callout_reads(rows, account_id, grants), next_cursor=next_cursor
    )


async def cancel_callout(
    *, callout_id: int, account_id: int, grants: list[policy.Grant]
) -> CalloutRead:
    """Stop a callout: no more escalation (acknowledgements are still recorded)."""
    _, areas, _ = await _seen_callout(callout_id, account_id, grants)
    _require_issue(grants, areas)
    now = clock.now()
    live: Live = []
    async with write_transaction():
        done = (
            await Callout.update(
                {Callout.status: "cancelled", Callout.cancelled_at: now, Callout.next_step_at: None}
            )
            .where((Callout.id == callout_id) & (Callout.status == "active"))
            .returning(Callout.id)
            .run()
        )
        if not done:
            raise Conflict("callout_closed")
        live += await board_event(
            callout_id, [a["path"] for a in areas], {"type": "callout.cancelled"}
        )
        await callout_ended(callout_id, None, "cancelled")
        await audit.record(
            actor_id=account_id,
            action="callout.cancel",
            object_type="callout",
            object_id=callout_id,
            area_path=areas[0]["path"] if areas else None,
        )
    publish_live(live)
    return await read_callout(callout_id=callout_id, account_id=account_id, grants=grants)
