"""Warnings (预警): issue, change and cancel warnings over areas, and the extra patrol rounds
they add. A warning is seen by staff whose area overlaps one of its areas."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from grid_backend.alerts import fanout
from grid_backend.alerts.schemas import (
    DEFAULT_DUTIES,
    PersonRef,
    WarningCreate,
    WarningPage,
    WarningRead,
    WarningUpdate,
)
from grid_backend.alerts.services.callouts import _new_callout, callout_ended
from grid_backend.alerts.services.common import (
    CALLING,
    LEVEL_EN,
    LEVEL_ZH,
    MAX_LEAD,
    MAX_PERIOD,
    RANK,
    TYPE_EN,
    TYPE_ZH,
    Live,
    _areas,
    _names,
    _names_en,
    _narrowest,
    _require_issue,
    _status,
    publish_live,
)
from grid_backend.alerts.services.watchers import board_event
from grid_backend.alerts.tables import Callout, EarlyWarning, WarningArea, WarningRound
from grid_backend.areas.services.serving import overlaps
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import Conflict, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, encode_cursor
from grid_backend.core.sql import QueryString, all_of, postgres, q
from grid_backend.core.types import AreaRef
from grid_backend.notify.services import webhooks
from grid_backend.patrols import rounds as patrol_rounds


def _check_period(starts: datetime, expires: datetime, now: datetime) -> None:
    problem = None
    if expires <= starts:
        problem = "expires_at must be after starts_at"
    elif expires <= now:
        problem = "expires_at is in the past"
    elif expires - starts > MAX_PERIOD:
        problem = "a warning lasts at most 30 days"
    elif starts > now + MAX_LEAD:
        problem = "a warning starts at most 7 days ahead"
    if problem:
        raise invalid("expires_at", problem, code="warning_period_invalid")


async def _webhook(kind: str, w: dict[str, Any], areas: list[dict[str, Any]]) -> None:
    """A warning's event for webhook subscribers (docs/webhooks.md, `Warning`), keyed by its
    revision so each change is one event."""
    data = {
        "warning": {
            "id": w["id"],
            "level": w["level"],
            "type": w["type"],
            "message": w["message"],
            "status": w["status"],
            "starts_at": w["starts_at"],
            "expires_at": w["expires_at"],
            "revision": w["revision"],
            "areas": [{"id": a["id"], "path": a["path"]} for a in areas],
        }
    }
    await webhooks.emit(kind=kind, key=f"{kind}:{w['id']}:{w['revision']}", data=data)


EXPIRED_LOOKBACK = timedelta(hours=1)  # an expiry older than this when first seen: not sent


async def announce_expired(now: datetime) -> dict[str, Any]:
    """`warning.expired` for webhook subscribers: each warning that ran out at its end time
    (not lifted) within the last hour, once (the event's key is its revision's; a warning
    extended after it expired and expiring again is a new revision, a new event)."""
    rows = (
        await EarlyWarning.select()
        .where(
            (EarlyWarning.status == "issued")
            & (EarlyWarning.expires_at <= now)
            & (EarlyWarning.expires_at > now - EXPIRED_LOOKBACK)
        )
        .order_by(EarlyWarning.id)
        .run()
    )
    for w in rows:
        await _webhook("warning.expired", {**w, "status": "expired"}, await _warning_paths(w["id"]))
    return {"warnings": len(rows)}


async def _warning_row(warning_id: int) -> dict[str, Any]:
    row = await EarlyWarning.select().where(EarlyWarning.id == warning_id).first().run()
    if row is None:
        raise NotFound("warning_not_found")
    return row


async def _warning_paths(warning_id: int) -> list[dict[str, Any]]:
    return (
        await WarningArea.select(
            WarningArea.area.as_alias("id"),
            WarningArea.area_path.as_alias("path"),
            WarningArea.area.code.as_alias("code"),
            WarningArea.area.name.as_alias("name"),
            WarningArea.area.level.as_alias("level"),
        )
        .where(WarningArea.warning == warning_id)
        .order_by(WarningArea.id)
        .run()
    )


def _seen_warning(areas: list[dict[str, Any]], grants: list[policy.Grant]) -> None:
    """Warnings outside the caller's area do not exist for them."""
    if not overlaps([a["path"] for a in areas], policy.scopes(grants, "warning.read")):
        raise NotFound("warning_not_found")


async def _warning_reads(ids: list[int]) -> list[WarningRead]:
    if not ids:
        return []
    now = clock.now()
    rows = (
        await EarlyWarning.select(
            *EarlyWarning.all_columns(), EarlyWarning.issued_by.name.as_alias("issuer_name")
        )
        .where(EarlyWarning.id.is_in(ids))
        .run()
    )
    areas = (
        await WarningArea.select(
            WarningArea.warning,
            WarningArea.area,
            WarningArea.area.code.as_alias("code"),
            WarningArea.area.name.as_alias("name"),
        )
        .where(WarningArea.warning.is_in(ids))
        .order_by(WarningArea.id)
        .run()
    )
    callouts = (
        await Callout.select(Callout.id, Callout.warning)
        .where(Callout.warning.is_in(ids))
        .order_by(Callout.id)
        .run()
    )
    tasks = (
        await WarningRound.select(
            WarningRound.warning, WarningRound.task.status.as_alias("task_status")
        )
        .where(WarningRound.warning.is_in(ids) & WarningRound.task.is_not_null())
        .run()
    )
    by_area: dict[int, list[AreaRef]] = defaultdict(list)
    for a in areas:
        by_area[a["warning"]].append(AreaRef(id=a["area"], code=a["code"], name=a["name"]))
    by_callout: dict[int, list[int]] = defaultdict(list)
    for c in callouts:
        by_callout[c["warning"]].append(c["id"])
    live_tasks: dict[int, int] = defaultdict(int)
    for t in tasks:
        live_tasks[t["warning"]] += t["task_status"] != "cancelled"
    order = {w: i for i, w in enumerate(ids)}
    return [
        WarningRead(
            id=w["id"],
            level=w["level"],
            type=w["type"],
            message=w["message"],
            areas=by_area[w["id"]],
            starts_at=w["starts_at"],
            expires_at=w["expires_at"],
            status=_status(w, now),  # type: ignore[arg-type]  # one of the status Literal's values, as str
            issued_by=PersonRef(id=w["issued_by"], name=w["issuer_name"])
            if w["issued_by"]
            else None,
            revision=w["revision"],
            callout_ids=by_callout[w["id"]],
            extra_tasks=live_tasks[w["id"]],
            created_at=w["created_at"],
            updated_at=w["updated_at"],
            cancelled_at=w["cancelled_at"],
            cancel_reason=w["cancel_reason"],
        )
        for w in sorted(rows, key=lambda r: order[r["id"]])
    ]


async def read_warning(*, warning_id: int, grants: list[policy.Grant]) -> WarningRead:
    """One warning the caller's area overlaps."""
    await _warning_row(warning_id)
    _seen_warning(await _warning_paths(warning_id), grants)
    return (await _warning_reads([warning_id]))[0]


_WARNINGS = (
    "SELECT w.id FROM early_warning w WHERE EXISTS (SELECT 1 FROM early_warning_area wa"
    " WHERE wa.warning = w.id AND {}) AND {} ORDER BY w.id DESC LIMIT {}"
)
_WARNINGS_IN = "EXISTS (SELECT 1 FROM early_warning_area wb WHERE wb.warning = w.id AND {})"
_IN_FORCE = "w.status = 'issued' AND w.starts_at <= {} AND w.expires_at > {}"
_NOT_IN_FORCE = "(w.status = 'cancelled' OR w.starts_at > {} OR w.expires_at <= {})"


def _warning_filters(
    active: bool | None, level: str | None, area_path: str | None, before: int | None
) -> QueryString:
    """The list's conditions on the warning `w` beyond the caller's area."""
    now = clock.now()
    return all_of(
        None if area_path is None else q(_WARNINGS_IN, fanout.overlap("wb.area_path", [area_path])),
        q(_IN_FORCE, now, now) if active is True else None,
        q(_NOT_IN_FORCE, now, now) if active is False else None,
        None if level is None else q("w.level = {}", level),
        None if before is None else q("w.id < {}", before),
    )


async def list_warnings(
    *,
    grants: list[policy.Grant],
    active: bool | None = None,
    level: str | None = None,
    area_path: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> WarningPage:
    """Warnings overlapping the caller's area, newest first; `active`: in force now."""
    scopes = policy.scopes(grants, "warning.read")
    if not scopes:
        return WarningPage(items=[], next_cursor=None)
    filters = _warning_filters(active, level, area_path, decode_cursor(cursor))
    rows = await fetch(q(_WARNINGS, fanout.overlap("wa.area_path", scopes), filters, limit + 1))
    ids = [r["id"] for r in rows]
    next_cursor = encode_cursor(ids[limit - 1]) if len(ids) > limit else None
    return WarningPage(items=await _warning_reads(ids[:limit]), next_cursor=next_cursor)


def _callout_texts(w: dict[str, Any], areas: list[dict[str, Any]]) -> dict[str, Any]:
    level, kind = w["level"], w["type"]
    return {
        "title_zh": f"{LEVEL_ZH[level]}{TYPE_ZH[kind]}预警叫应",
        "title_en": f"{LEVEL_EN[level]} {TYPE_EN[kind]} warning: callout".replace("  ", " "),
        "text_zh": f"{_names(areas)}：{w['message']}",
        "text_en": f"{_names_en(areas)}: {w['message']}",
    }


async def issue_warning(
    *, data: WarningCreate, account_id: int, grants: list[policy.Grant]
) -> WarningRead:
    """Issue a warning; yellow and above add patrol rounds and call out the affected grids."""
    now = clock.now()
    starts = data.starts_at.astimezone(UTC) if data.starts_at else now
    expires = data.expires_at.astimezone(UTC)
    _check_period(starts, expires, now)
    areas = await _areas(data.area_ids)
    _require_issue(grants, areas)
    live: Live = []
    async with write_transaction():
        row = (
            await EarlyWarning.insert(
                EarlyWarning(
                    level=data.level,
                    type=data.type,
                    message=data.message,
                    starts_at=starts,
                    expires_at=expires,
                    status="issued",
                    issued_by=account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(EarlyWarning.id)
            .run()
        )
        warning_id = row[0]["id"]
        await WarningArea.insert(
            *[WarningArea(warning=warning_id, area=a["id"], area_path=a["path"]) for a in areas]
        ).run()
        w = await _warning_row(warning_id)
        await _sync_rounds(w, [a["path"] for a in areas], now, reason="warning_changed")
        await _webhook("warning.issued", w, areas)
        calling = data.callout if data.callout is not None else data.level in CALLING
        if calling:
            await _warning_callout(
                w, areas, data.escalate_minutes, account_id, now, live, required=False
            )
        await audit.record(
            actor_id=account_id,
            action="warning.issue",
            object_type="warning",
            object_id=warning_id,
            area_path=areas[0]["path"],
            detail={"level": data.level, "type": data.type, "areas": [a["id"] for a in areas]},
        )
    publish_live(live)
    return (await _warning_reads([warning_id]))[0]


async def _warning_callout(
    w: dict[str, Any],
    areas: list[dict[str, Any]],
    escalate_minutes: int | None,
    account_id: int,
    now: datetime,
    live: Live,
    *,
    required: bool,
) -> int | None:
    return await _new_callout(
        areas=areas,
        texts=_callout_texts(w, areas),
        message=w["message"],
        warning=w,
        duties=list(DEFAULT_DUTIES),
        account_ids=None,
        escalate_minutes=escalate_minutes,
        account_id=account_id,
        now=now,
        live=live,
        required=required,
    )


def _warning_changes(w: dict[str, Any], data: WarningUpdate, now: datetime) -> dict[Any, Any]:
    """The columns the update changes (a new end is checked like the period of a new one)."""
    changes: dict[Any, Any] = {}
    for name in ("level", "type", "message"):
        value = getattr(data, name)
        if value is not msgspec.UNSET and value != w[name]:
            changes[getattr(EarlyWarning, name)] = value
    if data.expires_at is not msgspec.UNSET:
        expires = data.expires_at.astimezone(UTC)
        if expires != w["expires_at"]:
            _check_period(w["starts_at"], expires, now)
            changes[EarlyWarning.expires_at] = expires
    return changes


async def _store_update(
    w: dict[str, Any],
    changes: dict[Any, Any],
    new_areas: list[dict[str, Any]] | None,
    now: datetime,
) -> None:
    """Write the changed columns (if the warning is as read and still issued) and the new
    areas, in the caller's transaction."""
    done = (
        await EarlyWarning.update(
            {
                **changes,
                EarlyWarning.revision: EarlyWarning.revision + 1,
                EarlyWarning.updated_at: now,
            }
        )
        .where(
            (EarlyWarning.id == w["id"])
            & (EarlyWarning.revision == w["revision"])
            & (EarlyWarning.status == "issued")
        )
        .returning(EarlyWarning.id)
        .run()
    )
    if not done:
        raise Conflict("warning_closed", detail="the warning changed meanwhile")
    if new_areas is not None:
        await WarningArea.delete().where(WarningArea.warning == w["id"]).run()
        await WarningArea.insert(
            *[WarningArea(warning=w["id"], area=a["id"], area_path=a["path"]) for a in new_areas]
        ).run()


async def update_warning(
    *, warning_id: int, data: WarningUpdate, account_id: int, grants: list[policy.Grant]
) -> WarningRead:
    """Change a warning in force or to come; its rounds follow, and a raised level (or new
    areas) calls people out again."""
    now = clock.now()
    w = await _warning_row(warning_id)
    old_areas = await _warning_paths(warning_id)
    _seen_warning(old_areas, grants)
    _require_issue(grants, old_areas)
    if _status(w, now) in ("cancelled", "expired"):
        raise Conflict("warning_closed")
    new_areas = old_areas
    if data.area_ids is not msgspec.UNSET:
        new_areas = await _areas(list(data.area_ids))
        _require_issue(grants, new_areas)
    changes = _warning_changes(w, data, now)
    old_ids = {a["id"] for a in old_areas}
    added = [a for a in new_areas if a["id"] not in old_ids]
    areas_changed = {a["id"] for a in new_areas} != old_ids
    if not changes and not areas_changed:
        return (await _warning_reads([warning_id]))[0]
    live: Live = []
    async with write_transaction():
        await _store_update(w, changes, new_areas if areas_changed else None, now)
        fresh = await _warning_row(warning_id)
        await _sync_rounds(fresh, [a["path"] for a in new_areas], now, reason="warning_changed")
        await _webhook("warning.changed", fresh, new_areas)
        has_callouts = await Callout.exists().where(Callout.warning == warning_id).run()
        raised = fresh["level"] in CALLING and RANK[fresh["level"]] > RANK[w["level"]]
        if raised:
            await _warning_callout(fresh, new_areas, None, account_id, now, live, required=False)
        elif added and fresh["level"] in CALLING and has_callouts:
            await _warning_callout(fresh, added, None, account_id, now, live, required=False)
        await audit.record(
            actor_id=account_id,
            action="warning.update",
            object_type="warning",
            object_id=warning_id,
            area_path=new_areas[0]["path"],
            detail={
                "changed": sorted(c._meta.name for c in changes)
                + (["area_ids"] if areas_changed else []),
                "level": fresh["level"],
            },
        )
    publish_live(live)
    return (await _warning_reads([warning_id]))[0]


async def cancel_warning(
    *, warning_id: int, reason: str, account_id: int, grants: list[policy.Grant]
) -> WarningRead:
    """Lift a warning: its rounds nobody has started are cancelled, its callouts stop
    escalating, and the people called out are told in their inbox."""
    now = clock.now()
    w = await _warning_row(warning_id)
    areas = await _warning_paths(warning_id)
    _seen_warning(areas, grants)
    _require_issue(grants, areas)
    if _status(w, now) in ("cancelled", "expired"):
        raise Conflict("warning_closed")
    live: Live = []
    async with write_transaction():
        done = (
            await EarlyWarning.update(
                {
                    EarlyWarning.status: "cancelled",
                    EarlyWarning.cancelled_at: now,
                    EarlyWarning.cancelled_by: account_id,
                    EarlyWarning.cancel_reason: reason,
                    EarlyWarning.updated_at: now,
                    EarlyWarning.revision: EarlyWarning.revision + 1,
                }
            )
            .where((EarlyWarning.id == warning_id) & (EarlyWarning.status == "issued"))
            .returning(EarlyWarning.id)
            .run()
        )
        if not done:
            raise Conflict("warning_closed")
        fresh = await _warning_row(warning_id)
        await _sync_rounds(fresh, [a["path"] for a in areas], now, reason="warning_cancelled")
        await _webhook("warning.lifted", fresh, areas)
        callouts = (
            await Callout.update(
                {Callout.status: "cancelled", Callout.cancelled_at: now, Callout.next_step_at: None}
            )
            .where((Callout.warning == warning_id) & (Callout.status == "active"))
            .returning(Callout.id)
            .run()
        )
        payload = {
            "warning_id": warning_id,
            "level_zh": LEVEL_ZH[w["level"]],
            "level_en": LEVEL_EN[w["level"]],
            "area_name": _names(areas),
            "text_zh": f"{TYPE_ZH[w['type']]}预警已解除。{reason}",
            "text_en": f"The {TYPE_EN[w['type']]} warning is lifted. {reason}".replace("  ", " "),
        }
        for c in callouts:
            live += await fanout.notify_recipients(
                callout_id=c["id"],
                kind="warning.cancelled",
                payload=payload,
                dedupe_key=f"warning:{warning_id}:cancelled",
                now=now,
                channels_wanted=("inbox",),
            )
            live += await board_event(
                c["id"], [a["path"] for a in areas], {"type": "callout.cancelled"}
            )
            await callout_ended(c["id"], warning_id, "warning_lifted")
        await audit.record(
            actor_id=account_id,
            action="warning.cancel",
            object_type="warning",
            object_id=warning_id,
            area_path=areas[0]["path"] if areas else None,
            detail={"reason": reason},
        )
    publish_live(live)
    return (await _warning_reads([warning_id]))[0]


async def _sync_rounds(w: dict[str, Any], paths: list[str], now: datetime, *, reason: str) -> None:
    """Make the warning's extra patrol rounds what its level, areas and period ask for: add
    the missing ones, cancel (if not started) those no longer wanted or starting after it
    ends. Keyed by (warning, plan, round), so a re-run changes nothing."""
    links = (
        await WarningRound.select(
            WarningRound.id,
            WarningRound.plan,
            WarningRound.round,
            WarningRound.task,
            WarningRound.window_start,
            WarningRound.task.status.as_alias("task_status"),
            WarningRound.task.cancel_reason.as_alias("cancel_reason"),
        )
        .where(WarningRound.warning == w["id"])
        .run()
    )
    calling = w["status"] == "issued" and w["level"] in CALLING and w["expires_at"] > now
    plans = (
        await patrol_rounds.plans_with_rounds(area_paths=_narrowest(paths), level=w["level"])
        if calling
        else []
    )
    wanted = {(p["id"], k) for p in plans for k in range(1, p["rounds"] + 1)}
    dropped, ended = [], []
    for link in links:
        if link["task"] is None or link["task_status"] != "scheduled":
            continue
        if (link["plan"], link["round"]) not in wanted:
            dropped.append(link["task"])
        elif link["window_start"] >= w["expires_at"]:
            ended.append(link["task"])
    if dropped:
        await patrol_rounds.cancel_round_tasks(dropped, now=now, reason=reason)
    if ended:
        await patrol_rounds.cancel_round_tasks(ended, now=now, reason="warning_ended")
    gone = {*dropped, *ended}
    # a round cut off by an earlier end stays so: it is not squeezed into the shorter period
    alive = {
        (link["plan"], link["round"])
        for link in links
        if link["task"] is not None
        and (
            link["task"] in ended
            or link["cancel_reason"] == "warning_ended"
            or (link["task_status"] not in (None, "cancelled") and link["task"] not in gone)
        )
    }
    todo = []
    base = max(w["starts_at"], now)
    for p in plans:
        starts = patrol_rounds.round_starts(base, w["expires_at"], p["rounds"])
        for k in range(1, p["rounds"] + 1):
            if (p["id"], k) not in alive and starts[k - 1] < w["expires_at"]:
                todo.append(patrol_rounds.Round(plan=p, number=k, window_start=starts[k - 1]))
    if not todo:
        return
    made = await patrol_rounds.add_round_tasks(todo, now=now)
    rows = [
        (w["id"], r.plan["id"], r.number, made.get((r.plan["id"], r.number)), r.window_start, now)
        for r in todo
    ]
    await _link_rounds(rows)


async def _link_rounds(rows: list[tuple[Any, ...]]) -> None:
    """Record (warning, plan, round) → task, replacing an earlier link of the same round."""
    if postgres():  # one statement of arrays; SQLite takes VALUES lists, a chunk at a time
        columns = [list(c) for c in zip(*rows, strict=True)]
        await fetch(q(_LINK, q(_LINK_UNNEST, *columns)))
        return
    for i in range(0, len(rows), 150):  # 6 values a row, under SQLite's variable limit
        chunk = rows[i : i + 150]
        values = "VALUES " + ", ".join(["({}, {}, {}, {}, {}, {})"] * len(chunk))
        await fetch(q(_LINK, q(values, *[v for row in chunk for v in row])))


_LINK = (
    "INSERT INTO early_warning_round (warning, plan, round, task, window_start, created_at)"
    " {} ON CONFLICT (warning, plan, round)"
    " DO UPDATE SET task = excluded.task, window_start = excluded.window_start"
)
_LINK_UNNEST = (
    "SELECT * FROM unnest({}::int[], {}::int[], {}::int[], {}::int[], {}::timestamptz[],"
    " {}::timestamptz[])"
)
