"""The one owner of "who is on duty where, on a day".

An assignment puts a person on a duty at an area from `valid_from` to `valid_to` (both local
dates, included; no end means open-ended). Every question about duties is answered here:
- the grants of a caller (`grants_of`), cached per revision of the assignments;
- the on-duty condition, for the query builder (`on_duty`) and as SQL (`on_duty_sql`);
- who holds given duties at given areas (`holders`).
`core.policy` decides from grants with pure functions; nothing else queries assignments for
the current duty."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from piccolo.querystring import QueryString

from grid_backend.core import clock, policy
from grid_backend.core.db import fetch
from grid_backend.core.revisions import RevisionCache
from grid_backend.core.sql import in_, q
from grid_backend.people.tables import Assignment

_grants_cache = RevisionCache("assignments", max_entries=50_000)


def on_duty(day: date) -> Any:
    """The query-builder condition: an Assignment valid on `day`."""
    return (Assignment.valid_from <= day) & (
        Assignment.valid_to.is_null() | (Assignment.valid_to >= day)
    )


def on_duty_sql(alias: str, day: date) -> QueryString:
    """The same condition in hand-written SQL, on the assignment table under `alias`."""
    return QueryString(
        f"{alias}.valid_from <= {{}} AND ({alias}.valid_to IS NULL OR {alias}.valid_to >= {{}})",
        day,
        day,
    )


async def grants_of(account_id: int, *, on: date | None = None) -> list[policy.Grant]:
    """The caller's assignments valid on the given local date (today by default)."""
    day = on or clock.today()
    hit, grants = await _grants_cache.lookup(account_id, day)
    if hit:
        return grants
    rows = (
        await Assignment.select(
            Assignment.duty, Assignment.area, Assignment.area_path, Assignment.board
        )
        .where((Assignment.account == account_id) & on_duty(day))
        .run()
    )
    grants = [policy.Grant(r["duty"], r["area"], r["area_path"], r["board"]) for r in rows]
    _grants_cache.store(account_id, grants)
    return grants


async def holders(*, duties: list[str], area_paths: list[str], day: date) -> dict[str, list[int]]:
    """Who holds one of these duties exactly at each of these areas on a day (for reminders
    and escalations): {area_path: [account ids]}."""
    if not area_paths:
        return {}
    rows = (
        await Assignment.select(Assignment.account, Assignment.area_path)
        .where(
            Assignment.duty.is_in(duties)
            & Assignment.area_path.is_in(sorted(set(area_paths)))
            & on_duty(day)
        )
        .run()
    )
    found: dict[str, list[int]] = {}
    for r in rows:
        found.setdefault(r["area_path"], []).append(r["account"])
    return found


# the patrol roster: on the materialiser's hot path (62,000 plans a day), so hand-written
_ROSTER = (
    "SELECT id, account, area, duty, employment, valid_from, valid_to FROM assignment"
    " WHERE {} AND {} AND valid_from <= {} AND (valid_to IS NULL OR valid_to >= {})"
)


async def roster(
    needs: Iterable[tuple[int, str, str | None, date]],
) -> dict[tuple[int, str, str | None, date], int]:
    """Who is on duty for each (area id, duty, employment or None for any, local date): the
    account holding that duty exactly at that area on that date; the most recently started
    assignment wins (a handover that has not ended the old one yet). Needs nobody holds are
    left out."""
    needs = list(needs)
    if not needs:
        return {}
    areas = sorted({n[0] for n in needs})
    duties = sorted({n[1] for n in needs})
    first, last = min(n[3] for n in needs), max(n[3] for n in needs)
    rows = await fetch(q(_ROSTER, in_("area", areas), in_("duty", duties), last, first))
    by_place: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_place[(r["area"], r["duty"])].append(r)
    for held in by_place.values():
        held.sort(key=lambda r: (r["valid_from"], r["id"]), reverse=True)
    found = {}
    for need in set(needs):
        area, duty, employment, day = need
        for r in by_place.get((area, duty), ()):
            if (
                r["valid_from"] <= day
                and (r["valid_to"] is None or r["valid_to"] >= day)
                and (employment is None or r["employment"] == employment)
            ):
                found[need] = r["account"]
                break
    return found
