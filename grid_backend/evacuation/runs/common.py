"""What the parts of an evacuation share: the workflow table, the evacuation as the caller
sees it, area names, and the live events of a committed change."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from grid_backend.alerts.services import watchers
from grid_backend.areas.services.serving import overlaps
from grid_backend.areas.tables import Area
from grid_backend.core import policy
from grid_backend.core.errors import NotFound
from grid_backend.core.sql import QueryString, all_of, any_of, in_, q, under
from grid_backend.core.types import AreaRef
from grid_backend.evacuation.tables import (
    Evacuation,
    EvacuationArea,
)
from grid_backend.notify import services as notify

# The workflow is data: from a status, the statuses a change may go to. A move or "already
# safe" straight from pending (or from not at home) skips the contact: allowed with a note.
NEXT: dict[str, frozenset[str]] = {
    "pending": frozenset({"contacted", "refused", "not_at_home", "moved", "already_safe"}),
    "not_at_home": frozenset({"contacted", "refused", "not_at_home", "moved", "already_safe"}),
    "contacted": frozenset({"moved", "refused", "not_at_home", "already_safe"}),
    "refused": frozenset({"contacted", "moved", "already_safe"}),
    "moved": frozenset({"moved"}),  # to another place (a shelter check-in, a change of mind)
    "already_safe": frozenset(),
}
SKIPS_CONTACT = frozenset({("pending", "moved"), ("pending", "already_safe")}) | frozenset(
    {("not_at_home", "moved"), ("not_at_home", "already_safe")}
)
DONE = ("moved", "already_safe")  # what counts as safe for the 应转尽转 rate

Live = list[tuple[int, dict[str, Any]]]


async def _run(evacuation_id: int) -> dict[str, Any]:
    row = await Evacuation.select().where(Evacuation.id == evacuation_id).first().run()
    if row is None:
        raise NotFound("evacuation_not_found")
    return row


async def covered_by(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not ids:
        return found
    rows = (
        await EvacuationArea.select(
            EvacuationArea.evacuation,
            EvacuationArea.area,
            EvacuationArea.risk_point,
            EvacuationArea.area_path,
            EvacuationArea.area.code.as_alias("code"),
            EvacuationArea.area.name.as_alias("name"),
        )
        .where(EvacuationArea.evacuation.is_in(ids))
        .order_by(EvacuationArea.id)
        .run()
    )
    for r in rows:
        found[r["evacuation"]].append(r)
    return found


def _manages(grants: list[policy.Grant], covered: list[dict[str, Any]]) -> bool:
    return bool(covered) and all(
        policy.allows(grants, "evacuation.start", c["area_path"]) for c in covered
    )


async def _seen(evacuation_id: int, grants: list[policy.Grant]) -> tuple[dict[str, Any], list]:
    """The evacuation and what it covers; 404 for those whose area does not overlap it."""
    row = await _run(evacuation_id)
    covered = (await covered_by([evacuation_id]))[evacuation_id]
    if not overlaps([c["area_path"] for c in covered], policy.scopes(grants, "evacuation.read")):
        raise NotFound("evacuation_not_found")
    return row, covered


async def _owners(paths: set[str]) -> dict[str, AreaRef]:
    if not paths:
        return {}
    rows = await Area.select(Area.id, Area.code, Area.name, Area.path).where(
        Area.path.is_in(sorted(paths))
    )
    return {r["path"]: AreaRef(id=r["id"], code=r["code"], name=r["name"]) for r in rows}


def _narrowest(rows: list[dict[str, Any]]) -> list[str]:
    kept: list[str] = []
    for p in sorted({r["area_path"] for r in rows}):
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return kept


def _utc(value: Any) -> Any:
    """Timestamps of hand-written SQLite reads come back as ISO text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


async def task_live(task: dict[str, Any], event: dict[str, Any]) -> Live:
    """The board's live event of a household's change, for staff watching its grid."""
    message = {
        "type": "evacuation.household",
        "evacuation_id": task["evacuation"],
        "household_id": task["household"],
        "from": event["from_status"],
        "status": event["to_status"],
    }
    return [(a, message) for a in await watchers(task["area_path"])]


async def board_live(covered: list[dict[str, Any]], message: dict[str, Any]) -> Live:
    accounts: set[int] = set()
    for path in _narrowest(covered):
        accounts.update(await watchers(path))
    return [(a, message) for a in sorted(accounts)]


def publish(live: Live) -> None:
    """Live events of a committed change (best effort)."""
    by_message: dict[int, tuple[dict[str, Any], list[int]]] = {}
    for account, message in live:
        by_message.setdefault(id(message), (message, []))[1].append(account)
    for message, accounts in by_message.values():
        notify.publish(accounts, message)


def helping(grants: list[policy.Grant], account_id: int) -> QueryString:
    """Tasks (`t`) the caller helps with while still holding a duty in, over or inside the
    task's grid (households.helps): a helper whose duties there ended no longer sees them."""
    own, above = policy.on_duty_paths([g.area_path for g in grants])
    return all_of(
        q("t.helper = {}", account_id), any_of(under("t.area_path", own), in_("t.area_path", above))
    )
