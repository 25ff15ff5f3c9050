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
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from piccolo.querystring import QueryString

from grid_backend.core import clock, policy
from grid_backend.core.db import fetch, under
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


# --- rosters and coverage ------------------------------------------------------------------
# The team on duty at an area (a township's roster, cached) and which duties are held at the
# areas of a level (coverage).

_DUTY_ORDER = {d: i for i, d in enumerate(policy.DUTIES)}
_rosters = RevisionCache("assignments", max_entries=2_000)

_TOWNSHIP_ROSTER = (
    "SELECT a.account, c.name, c.phone, a.duty, a.area, a.employment"
    " FROM assignment a JOIN account c ON c.id = a.account"
    " WHERE {} AND {}"
)


async def _township_roster(
    scope: str, members: list[int], day: Any
) -> dict[int, list[dict[str, Any]]]:
    """Everyone on duty today in a township's grids and micro-grids, by the area they hold."""
    hit, roster = await _rosters.lookup(scope, day)
    if hit:
        return roster
    # hand-written: building the joined Piccolo select costs more than running it; ids rather
    # than a path prefix, so PostgreSQL can reuse one plan for every township
    rows = (
        await fetch(q(_TOWNSHIP_ROSTER, in_("a.area", members), on_duty_sql("a", day)))
        if members
        else []
    )
    roster = {}
    for row in rows:
        roster.setdefault(row["area"], []).append(row)
    _rosters.store(scope, roster)
    return roster


async def team_on_duty(
    area_ids: Iterable[int], *, scope: str, members: list[int]
) -> list[dict[str, Any]]:
    """Current assignments held in these areas (among a township's `members`), with names
    and phones, in duty order; cached until an assignment changes anywhere, or the day turns."""
    roster = await _township_roster(scope, members, clock.today())
    rows = [row for area_id in area_ids for row in roster.get(area_id, ())]
    rows.sort(key=lambda r: (_DUTY_ORDER.get(r["duty"], 99), r["name"], r["account"]))
    return rows


async def duties_held(
    *, area_path: str, duties: Sequence[str], level: str, day: date
) -> dict[int, set[str]]:
    """Which of these duties someone holds on a day at each area of `level` under
    `area_path` (for coverage): {area id: duties held}."""
    held = (
        await Assignment.select(Assignment.area, Assignment.duty)
        .where(
            Assignment.area_path.like(area_path + "%")
            & Assignment.duty.is_in(list(duties))
            & (Assignment.area.level == level)
            & on_duty(day)
        )
        .run()
    )
    found: dict[int, set[str]] = {}
    for h in held:
        found.setdefault(h["area"], set()).add(h["duty"])
    return found


# --- people on duty in an area, for account lookup ------------------------------------------


def on_duty_under(paths: list[str], day: date) -> Any:
    """A subquery for `is_in`: the accounts on duty on a day in or under these area paths
    (at least one path)."""
    return Assignment.select(Assignment.account).where(
        under(Assignment.area_path, paths) & on_duty(day)
    )


async def duties_of(account_ids: list[int], *, paths: list[str], day: date) -> list[dict]:
    """The duties these accounts hold on a day in or under these area paths, with the area's
    name (`area.name`), in assignment order."""
    if not account_ids:
        return []
    return (
        await Assignment.select(
            Assignment.account, Assignment.duty, Assignment.area, Assignment.area.name
        )
        .where(
            Assignment.account.is_in(account_ids)
            & under(Assignment.area_path, paths)
            & on_duty(day)
        )
        .order_by(Assignment.id)
        .run()
    )


# --- the dispatch picker ----------------------------------------------------------------------


async def on_duty_within(
    *, area_paths: Sequence[str], duties: Sequence[str], day: date, limit: int = 2_000
) -> list[dict[str, Any]]:
    """Who holds one of these duties on a day in or under these areas (a case's township, for
    the dispatch picker): account, name, duty, area id, area name and area path, one row per
    assignment, by name."""
    if not area_paths:
        return []
    return (
        await Assignment.select(
            Assignment.account,
            Assignment.account.name.as_alias("name"),
            Assignment.duty,
            Assignment.area,
            Assignment.area.name.as_alias("area_name"),
            Assignment.area_path,
        )
        .where(
            under(Assignment.area_path, list(area_paths))
            & Assignment.duty.is_in(list(duties))
            & on_duty(day)
            & Assignment.account._.is_active.eq(True)
        )
        .order_by(Assignment.account.name)
        .order_by(Assignment.id)
        .limit(limit)
        .run()
    )
