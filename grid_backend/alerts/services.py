"""Warnings (预警) and callouts (叫应): issue, change and cancel warnings over areas; the extra
patrol rounds they add; callouts to the people of the affected grids (or a named list), their
one-tap acknowledgements, and the live board of who has answered.

Visibility: a warning is seen by staff whose area overlaps one of its areas; a callout by those
who may watch its board (managers and grid leaders whose area overlaps it, each seeing the part
inside their own area) and by the people it was sent to, who see nothing else."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from grid_backend.alerts import fanout
from grid_backend.alerts.schemas import (
    DEFAULT_DUTIES,
    AckRead,
    BoardArea,
    BoardPerson,
    BoardRead,
    BoardTotals,
    CalloutCreate,
    CalloutPage,
    CalloutRead,
    MyAck,
    MyCallout,
    MyCalloutPage,
    PersonRef,
    WarningCreate,
    WarningPage,
    WarningRead,
    WarningUpdate,
)
from grid_backend.alerts.tables import (
    Callout,
    CalloutArea,
    CalloutRecipient,
    EarlyWarning,
    WarningArea,
    WarningRound,
)
from grid_backend.areas.tables import Area
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import fetch, is_postgres, write_transaction
from grid_backend.core.errors import Conflict, Forbidden, NotFound, invalid
from grid_backend.core.pagination import decode_cursor, encode_cursor
from grid_backend.core.revisions import RevisionCache
from grid_backend.core.types import AreaRef
from grid_backend.notify import services as notify
from grid_backend.patrols import rounds as patrol_rounds
from grid_backend.people.tables import Account, Assignment
from grid_backend.settings import get_settings

LEVEL_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
LEVEL_EN = {"blue": "Blue", "yellow": "Yellow", "orange": "Orange", "red": "Red"}
TYPE_ZH = {
    "heavy_rain": "暴雨",
    "geological": "地质灾害",
    "flood": "洪水",
    "forest_fire": "森林火险",
    "other": "",
}
TYPE_EN = {
    "heavy_rain": "heavy rain",
    "geological": "geological hazard",
    "flood": "flood",
    "forest_fire": "forest fire",
    "other": "",
}
RANK = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
CALLING = frozenset({"yellow", "orange", "red"})  # levels that call out and add rounds
MAX_PERIOD = timedelta(days=30)
MAX_LEAD = timedelta(days=7)  # how far ahead a warning may start
BOARD_AREAS = 500

Live = list[tuple[int, dict[str, Any]]]


INLINE_EVENTS = 1000  # more are published by a task, a thousand at a time
_publishing: set[asyncio.Task[None]] = set()


def publish_live(live: Live) -> None:
    """Live events of a committed change (best effort). A district's callout has 100,000:
    they go out from a task that yields between thousands, so the issuer's answer and other
    requests do not wait for them."""
    by_event: dict[int, list[int]] = defaultdict(list)
    events: dict[int, dict[str, Any]] = {}
    for account, event in live:
        by_event[id(event)].append(account)
        events[id(event)] = event
    batches = [(accounts, events[key]) for key, accounts in by_event.items()]
    if len(batches) <= INLINE_EVENTS:
        for accounts, event in batches:
            notify.publish(accounts, event)
        return
    task = asyncio.get_running_loop().create_task(_publish_slowly(batches))
    _publishing.add(task)
    task.add_done_callback(_publishing.discard)


async def _publish_slowly(batches: list[tuple[list[int], dict[str, Any]]]) -> None:
    for i, (accounts, event) in enumerate(batches):
        notify.publish(accounts, event)
        if i % INLINE_EVENTS == INLINE_EVENTS - 1:
            await asyncio.sleep(0)


def _utc(value: Any) -> Any:
    """Timestamps from hand-written SQLite queries may come back as text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _covers(path: str, scopes: list[str]) -> bool:
    return any(path.startswith(s) for s in scopes)


def _overlaps(paths: list[str], scopes: list[str]) -> bool:
    return any(p.startswith(s) or s.startswith(p) for p in paths for s in scopes)


def _narrowest(paths: list[str]) -> list[str]:
    """Paths without those lying under another in the list."""
    kept: list[str] = []
    for p in sorted(set(paths)):
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return kept


async def _areas(area_ids: list[int], field: str = "area_ids") -> list[dict[str, Any]]:
    ids = list(dict.fromkeys(area_ids))
    rows = (
        await Area.select(Area.id, Area.code, Area.name, Area.level, Area.path)
        .where(Area.id.is_in(ids))
        .run()
    )
    found = {r["id"]: r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise invalid(
            field,
            f"no such areas: {missing}",
            code="warning_area_invalid",
            detail_zh=f"区域不存在：{missing}",
        )
    return [found[i] for i in ids]


def _require_issue(grants: list[policy.Grant], areas: list[dict[str, Any]]) -> None:
    for a in areas:
        policy.require(grants, "alert.issue", a["path"])


def _names(areas: list[dict[str, Any]]) -> str:
    names = [a["name"] for a in areas]
    return "、".join(names[:3]) + (f"等{len(names)}个区域" if len(names) > 3 else "")


def _names_en(areas: list[dict[str, Any]]) -> str:
    names = [a["name"] for a in areas]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _status(w: dict[str, Any], now: datetime) -> str:
    if w["status"] == "cancelled":
        return "cancelled"
    if now < w["starts_at"]:
        return "upcoming"
    return "expired" if now >= w["expires_at"] else "active"


# --- warnings ------------------------------------------------------------------------------


def _check_period(starts: datetime, expires: datetime, now: datetime) -> None:
    problem = None
    if expires <= starts:
        problem = ("expires_at must be after starts_at", "结束时间须晚于开始时间")
    elif expires <= now:
        problem = ("expires_at is in the past", "结束时间已过")
    elif expires - starts > MAX_PERIOD:
        problem = ("a warning lasts at most 30 days", "预警期限最长30天")
    elif starts > now + MAX_LEAD:
        problem = ("a warning starts at most 7 days ahead", "预警最多提前7天发布")
    if problem:
        raise invalid("expires_at", problem[0], code="warning_period_invalid", detail_zh=problem[1])


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
    if not _overlaps([a["path"] for a in areas], policy.scopes(grants, "warning.read")):
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
            status=_status(w, now),  # type: ignore[arg-type]
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
    " WHERE wa.warning = w.id AND $SEEN)"
)
_WARNINGS_IN = " AND EXISTS (SELECT 1 FROM early_warning_area wb WHERE wb.warning = w.id AND $AREA)"


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
    where, args = fanout.overlap("wa.area_path", scopes)
    sql = _WARNINGS.replace("$SEEN", where)
    if area_path is not None:
        more, extra = fanout.overlap("wb.area_path", [area_path])
        sql += _WARNINGS_IN.replace("$AREA", more)
        args += extra
    now = clock.now()
    if active is True:
        sql += " AND w.status = 'issued' AND w.starts_at <= {} AND w.expires_at > {}"
        args += [now, now]
    elif active is False:
        sql += " AND (w.status = 'cancelled' OR w.starts_at > {} OR w.expires_at <= {})"
        args += [now, now]
    if level is not None:
        sql += " AND w.level = {}"
        args.append(level)
    before = decode_cursor(cursor)
    if before is not None:
        sql += " AND w.id < {}"
        args.append(before)
    sql += " ORDER BY w.id DESC LIMIT {}"
    rows = await fetch(sql, *args, limit + 1)
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
        new_areas = await _areas(list(data.area_ids))  # type: ignore[arg-type]
        _require_issue(grants, new_areas)
    changes: dict[Any, Any] = {}
    for name in ("level", "type", "message"):
        value = getattr(data, name)
        if value is not msgspec.UNSET and value != w[name]:
            changes[getattr(EarlyWarning, name)] = value
    expires = w["expires_at"]
    if data.expires_at is not msgspec.UNSET:
        expires = data.expires_at.astimezone(UTC)  # type: ignore[union-attr]
        if expires != w["expires_at"]:
            _check_period(w["starts_at"], expires, now)
            changes[EarlyWarning.expires_at] = expires
    old_ids = {a["id"] for a in old_areas}
    added = [a for a in new_areas if a["id"] not in old_ids]
    areas_changed = {a["id"] for a in new_areas} != old_ids
    if not changes and not areas_changed:
        return (await _warning_reads([warning_id]))[0]
    live: Live = []
    async with write_transaction():
        done = (
            await EarlyWarning.update(
                {
                    **changes,
                    EarlyWarning.revision: EarlyWarning.revision + 1,
                    EarlyWarning.updated_at: now,
                }
            )
            .where(
                (EarlyWarning.id == warning_id)
                & (EarlyWarning.revision == w["revision"])
                & (EarlyWarning.status == "issued")
            )
            .returning(EarlyWarning.id)
            .run()
        )
        if not done:
            raise Conflict("warning_closed", detail="the warning changed meanwhile")
        if areas_changed:
            await WarningArea.delete().where(WarningArea.warning == warning_id).run()
            await WarningArea.insert(
                *[
                    WarningArea(warning=warning_id, area=a["id"], area_path=a["path"])
                    for a in new_areas
                ]
            ).run()
        fresh = await _warning_row(warning_id)
        await _sync_rounds(fresh, [a["path"] for a in new_areas], now, reason="warning_changed")
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
    if is_postgres():
        columns = [list(c) for c in zip(*rows, strict=True)]
        await fetch(_LINK.replace("$VALUES", _LINK_UNNEST), *columns)
        return
    for i in range(0, len(rows), 150):  # 6 values a row, under SQLite's variable limit
        chunk = rows[i : i + 150]
        values = "VALUES " + ", ".join(["({}, {}, {}, {}, {}, {})"] * len(chunk))
        await fetch(_LINK.replace("$VALUES", values), *[v for row in chunk for v in row])


_LINK = (
    "INSERT INTO early_warning_round (warning, plan, round, task, window_start, created_at)"
    " $VALUES ON CONFLICT (warning, plan, round)"
    " DO UPDATE SET task = excluded.task, window_start = excluded.window_start"
)
_LINK_UNNEST = (
    "SELECT * FROM unnest({}::int[], {}::int[], {}::int[], {}::int[], {}::timestamptz[],"
    " {}::timestamptz[])"
)


# --- callouts ------------------------------------------------------------------------------


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
    added, named = await fanout.add_recipients(
        callout_id=callout_id,
        area_paths=_narrowest([a["path"] for a in areas]),
        duties=duties,
        day=clock.today(),
        now=now,
        account_ids=account_ids,
    )
    if account_ids is not None:
        missing = sorted(set(account_ids) - set(named))
        if missing:
            raise invalid(
                "account_ids",
                f"these accounts hold none of the duties in these areas today: {missing}",
                code="callout_recipient_invalid",
                detail_zh=f"以下人员今日不在这些区域任职：{missing}",
            )
    if not added:
        if required:
            raise invalid(
                "area_ids",
                "nobody holds the duties in these areas today",
                code="callout_no_recipients",
                detail_zh="这些区域今日无人任职",
            )
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
    return callout_id


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
            detail_zh="请只指定职责或人员名单之一",
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
    " WHERE $IDS AND $SCOPE GROUP BY callout"
)


async def _counts(ids: list[int], scopes: list[str]) -> dict[int, tuple[int, int]]:
    """(recipients, acknowledged) of each callout, inside these scopes."""
    if not ids or not scopes:
        return {}
    ids_sql, ids_args = fanout.in_list("callout", ids)
    scope_sql, scope_args = fanout.like_any("area_path", scopes)
    rows = await fetch(
        _COUNTS.replace("$IDS", ids_sql).replace("$SCOPE", scope_sql),
        *ids_args,
        *scope_args,
    )
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
    watched = [i for i in ids if _overlaps([a["path"] for a in areas[i]], scopes)]
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
    board = _overlaps([a["path"] for a in areas], policy.scopes(grants, "callout.board"))
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
    " WHERE ca.callout = c.id AND $WATCHED))"
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
    args: list[Any] = []
    args.append(account_id)
    where = "FALSE"
    if scopes:
        where, more = fanout.overlap("ca.area_path", scopes)
        args += more
    sql = _CALLOUTS.replace("$WATCHED", where)
    if warning_id is not None:
        sql += " AND c.warning = {}"
        args.append(warning_id)
    if status is not None:
        sql += " AND c.status = {}"
        args.append(status)
    before = decode_cursor(cursor)
    if before is not None:
        sql += " AND c.id < {}"
        args.append(before)
    sql += " ORDER BY c.id DESC LIMIT {}"
    ids = [r["id"] for r in await fetch(sql, *args, limit + 1)]
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
        await audit.record(
            actor_id=account_id,
            action="callout.cancel",
            object_type="callout",
            object_id=callout_id,
            area_path=areas[0]["path"] if areas else None,
        )
    publish_live(live)
    return await read_callout(callout_id=callout_id, account_id=account_id, grants=grants)


# --- acknowledgement and the live board ----------------------------------------------------

_watchers_cache = RevisionCache("assignments", max_entries=20_000)


async def watchers(area_path: str) -> list[int]:
    """Who may watch the board of an area: holders of board duties at it or above."""
    day = clock.today()
    hit, found = await _watchers_cache.lookup(area_path, day)
    if hit:
        return found
    rows = (
        await Assignment.select(Assignment.account)
        .where(
            Assignment.duty.is_in(sorted(policy.RULES["callout.board"]))
            & Assignment.area_path.is_in([*fanout.ancestors(area_path), area_path])
            & (Assignment.valid_from <= day)
            & (Assignment.valid_to.is_null() | (Assignment.valid_to >= day))
        )
        .run()
    )
    found = sorted({r["account"] for r in rows})
    _watchers_cache.store(area_path, found)
    return found


_callout_watchers = RevisionCache("assignments", max_entries=200)


async def _watchers_of_callout(callout_id: int, area_path: str) -> set[int]:
    """Who may watch the board where a recipient of this callout is: the board-duty holders
    in and above the callout's areas are read once per callout (and assignment change), so an
    acknowledgement costs no query for them."""
    day = clock.today()
    hit, by_path = await _callout_watchers.lookup(callout_id, day)
    if not hit:
        areas = await CalloutArea.select(CalloutArea.area_path).where(
            CalloutArea.callout == callout_id
        )
        paths = _narrowest([a["area_path"] for a in areas])
        by_path = defaultdict(set)
        if paths:
            where, args = fanout.overlap("area_path", paths)
            duties, more = fanout.in_list("duty", sorted(policy.RULES["callout.board"]))
            rows = await fetch(
                _HOLDERS.replace("$PATHS", where).replace("$DUTIES", duties),
                *args,
                *more,
                day,
                day,
            )
            for r in rows:
                by_path[r["area_path"]].add(r["account"])
        _callout_watchers.store(callout_id, by_path)
    found: set[int] = set()
    for path in (*fanout.ancestors(area_path), area_path):
        found |= by_path.get(path, set())
    return found


_HOLDERS = (
    "SELECT account, area_path FROM assignment WHERE $PATHS AND $DUTIES"
    " AND valid_from <= {} AND (valid_to IS NULL OR valid_to >= {})"
)


async def board_event(callout_id: int, paths: list[str], event: dict[str, Any]) -> Live:
    """A board event for everyone who may watch one of these areas."""
    accounts: set[int] = set()
    for path in _narrowest(paths):
        accounts.update(await watchers(path))
    message = {**event, "callout_id": callout_id}
    return [(a, message) for a in sorted(accounts)]


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
    if is_postgres():  # one statement: atomic without a transaction, straight from the pool
        rows = await fetch(_ACK, now, callout_id, account_id)
    else:
        async with write_transaction():
            rows = await fetch(_ACK, now, callout_id, account_id)
    already = not rows
    if already:
        rows = await fetch(_ACKED, callout_id, account_id)
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
    " FROM callout_recipient r WHERE r.callout = {} AND $SCOPE GROUP BY r.area_path"
)
_BOARD_PEOPLE = (
    "SELECT r.id, r.account, c.name, c.phone, r.duty, r.grid, g.code AS grid_code,"
    " g.name AS grid_name, r.acked_at, r.step FROM callout_recipient r"
    " JOIN account c ON c.id = r.account LEFT JOIN area g ON g.id = r.grid"
    " WHERE r.callout = {} AND $SCOPE"
)


def _person_status(acked_at: Any, step: int) -> str:
    if acked_at is not None:
        return "acked"
    return "pending" if step == 0 else "reminded" if step == 1 else "escalated"


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
    scopes = policy.scopes(grants, "callout.board")
    if area_path is not None:
        scopes = [area_path if area_path.startswith(s) else s for s in scopes]
        scopes = [s for s in scopes if s.startswith(area_path)]
    read = (await _callout_reads([row], account_id, grants))[0]
    empty = BoardTotals(recipients=0, acked=0, pending=0, escalated=0)
    if not scopes:
        return BoardRead(read, level, empty, [], False, [], None)
    scope_sql, scope_args = fanout.like_any("r.area_path", scopes)
    grouped = await fetch(
        _BOARD_COUNTS.replace("$SCOPE", scope_sql),
        callout_id,
        *scope_args,
    )
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
            await Area.select(Area.id, Area.code, Area.name, Area.path)
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
        )
        for p, c in shown
        if p in names
    ]
    sql = _BOARD_PEOPLE.replace("$SCOPE", scope_sql)
    args: list[Any] = [callout_id, *scope_args]
    if status == "pending":
        sql += " AND r.acked_at IS NULL"
    elif status == "acked":
        sql += " AND r.acked_at IS NOT NULL"
    after = decode_cursor(cursor)
    if after is not None:
        sql += " AND r.id > {}"
        args.append(after)
    sql += " ORDER BY r.id LIMIT {}"
    people = await fetch(sql, *args, limit + 1)
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
        areas_truncated=len(ordered) > BOARD_AREAS,
        people=[
            BoardPerson(
                account_id=p["account"],
                name=p["name"],
                phone=p["phone"],
                duty=p["duty"],
                grid=AreaRef(id=p["grid"], code=p["grid_code"], name=p["grid_name"])
                if p["grid"]
                else None,
                acked_at=_utc(p["acked_at"]),
                step=p["step"],
                status=_person_status(p["acked_at"], p["step"]),  # type: ignore[arg-type]
            )
            for p in people[:limit]
        ],
        next_cursor=next_cursor,
    )


async def my_callouts(
    *, account_id: int, status: str = "pending", limit: int = 50, cursor: str | None = None
) -> MyCalloutPage:
    """The callouts sent to the caller, newest first: by default those still waiting for
    their tap (not cancelled)."""
    sql = (
        "SELECT r.id, r.callout, r.acked_at, r.step, r.grid, g.code AS grid_code,"
        " g.name AS grid_name, c.warning, c.level, c.message, c.message_en, c.status,"
        " c.created_at FROM callout_recipient r JOIN callout c ON c.id = r.callout"
        " LEFT JOIN area g ON g.id = r.grid WHERE r.account = {}"
    )
    args: list[Any] = [account_id]
    if status == "pending":
        sql += " AND r.acked_at IS NULL AND c.status = 'active'"
    elif status == "acked":
        sql += " AND r.acked_at IS NOT NULL"
    before = decode_cursor(cursor)
    if before is not None:
        sql += " AND r.id < {}"
        args.append(before)
    sql += " ORDER BY r.id DESC LIMIT {}"
    rows = await fetch(sql, *args, limit + 1)
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
