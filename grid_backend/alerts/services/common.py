"""What warnings, callouts and the board share: level and type names, the live events of a
committed change, area lookups and the path tests of visibility."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from grid_backend.areas.tables import Area
from grid_backend.core import policy
from grid_backend.core.errors import invalid
from grid_backend.notify import services as notify

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
            "no such areas: %(missing)s",
            code="warning_area_invalid",
            params={"missing": missing},
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
