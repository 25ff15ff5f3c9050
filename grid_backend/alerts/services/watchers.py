"""Who watches the live board of a callout: holders of board duties at its areas or above,
and the board events they are sent."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from grid_backend.alerts import fanout
from grid_backend.alerts.services.common import Live, _narrowest
from grid_backend.alerts.tables import CalloutArea
from grid_backend.core import clock, policy
from grid_backend.core.db import fetch
from grid_backend.core.revisions import RevisionCache
from grid_backend.core.sql import all_of, in_, q
from grid_backend.people.duty import holders, on_duty_sql

_watchers_cache = RevisionCache("assignments", max_entries=20_000)


async def watchers(area_path: str) -> list[int]:
    """Who may watch the board of an area: holders of board duties at it or above."""
    day = clock.today()
    hit, found = await _watchers_cache.lookup(area_path, day)
    if hit:
        return found
    held = await holders(
        duties=sorted(policy.RULES["callout.board"]),
        area_paths=[*fanout.ancestors(area_path), area_path],
        day=day,
    )
    found = sorted({a for accounts in held.values() for a in accounts})
    _watchers_cache.store(area_path, found)
    return found


_callout_watchers = RevisionCache("assignments", max_entries=200)

_HOLDERS = "SELECT a.account, a.area_path FROM assignment a WHERE {}"


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
            where = all_of(
                fanout.overlap("a.area_path", paths),
                in_("a.duty", sorted(policy.RULES["callout.board"])),
                on_duty_sql("a", day),
            )
            for r in await fetch(q(_HOLDERS, where)):
                by_path[r["area_path"]].add(r["account"])
        _callout_watchers.store(callout_id, by_path)
    found: set[int] = set()
    for path in (*fanout.ancestors(area_path), area_path):
        found |= by_path.get(path, set())
    return found


async def board_event(callout_id: int, paths: list[str], event: dict[str, Any]) -> Live:
    """A board event for everyone who may watch one of these areas."""
    accounts: set[int] = set()
    for path in _narrowest(paths):
        accounts.update(await watchers(path))
    message = {**event, "callout_id": callout_id}
    return [(a, message) for a in sorted(accounts)]
