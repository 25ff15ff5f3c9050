"""Evacuation jobs: `grid-backend jobs run evacuation.escalate` / `evacuation.warnings` run one
tick by hand.

- `escalate`: GRID_EVACUATION_ESCALATE_MINUTES (15) after an evacuation started, the helpers
  who have not started any of their households are named to their grid's leaders and to their
  township's dispatchers (its commanders if it has none), once: the evacuation's `escalate_at`
  is cleared by the same conditional UPDATE that claims it, and dedupe keys name each message.
- `warnings`: an orange or red warning in force over areas holding households gets one
  evacuation, `proposed` for an officer to confirm (started at once with
  GRID_EVACUATION_AUTO_START); the unique warning column keeps it to one. An evacuation whose
  warning was lifted (cancelled) or has expired is ended, its households returned (a proposal
  nobody confirmed is dismissed). Alerts know nothing of this: evacuation reads warnings, as
  the layers have it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from grid_backend.alerts.services import LEVEL_EN, LEVEL_ZH
from grid_backend.alerts.services.idle import tell_who_waits
from grid_backend.alerts.tables import WarningArea
from grid_backend.areas.tables import Area
from grid_backend.core import audit, clock
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.idempotency import is_unique_violation
from grid_backend.core.policy import ancestor_path
from grid_backend.core.sql import q
from grid_backend.evacuation import runs
from grid_backend.evacuation.tables import Evacuation
from grid_backend.notify import services as notify
from grid_backend.people.duty import holders
from grid_backend.settings import get_settings

BATCH = 100  # evacuations or warnings a tick

_IDLE = (
    "SELECT helper, area_path, COUNT(*) AS n FROM evacuation_task WHERE evacuation = {}"
    " AND helper IN (SELECT helper FROM evacuation_task WHERE evacuation = {} GROUP BY helper"
    " HAVING SUM(CASE WHEN status = 'pending' THEN 0 ELSE 1 END) = 0)"
    " GROUP BY helper, area_path"
)


async def escalate(now: datetime) -> dict[str, Any]:
    """Name the helpers who have not started to their grid leaders and township, once."""
    due = (
        await Evacuation.select(Evacuation.id, Evacuation.started_at)
        .where(
            (Evacuation.status == "active")
            & Evacuation.escalate_at.is_not_null()
            & (Evacuation.escalate_at <= now)
        )
        .order_by(Evacuation.escalate_at)
        .limit(BATCH)
        .run()
    )
    totals = {"evacuations": 0, "helpers": 0, "told": 0}
    for run in due:
        async with write_transaction():
            taken = (
                await Evacuation.update({Evacuation.escalate_at: None})
                .where((Evacuation.id == run["id"]) & Evacuation.escalate_at.is_not_null())
                .returning(Evacuation.id)
                .run()
            )
            if not taken:
                continue
            idle = await fetch(q(_IDLE, run["id"], run["id"]))
            totals["evacuations"] += 1
            totals["helpers"] += len({r["helper"] for r in idle})
            totals["told"] += await _tell(run, idle, now)
    return totals


async def _tell(run: dict[str, Any], idle: list[dict[str, Any]], now: datetime) -> int:
    minutes = int((now - run["started_at"]).total_seconds() // 60) if run["started_at"] else 0
    day = clock.today()
    by_place: dict[str, set[int]] = defaultdict(set)
    for r in idle:
        by_place[r["area_path"]].add(r["helper"])
        by_place[ancestor_path(r["area_path"], "township")].add(r["helper"])
    grids = [p for p in by_place if ancestor_path(p, "township") != p]
    townships = [p for p in by_place if p not in grids]
    found = await holders(duties=["grid_leader"], area_paths=grids, day=day)
    found.update(await holders(duties=["dispatcher"], area_paths=townships, day=day))
    left = [p for p in townships if not found.get(p)]
    found.update(await holders(duties=["commander"], area_paths=left, day=day))
    return await tell_who_waits(
        by_place,
        found,
        kind="evacuation.not_started",
        payload={"evacuation_id": run["id"]},
        dedupe=f"evacuation:{run['id']}:idle",
        minutes=minutes,
    )


async def _ask_to_confirm(
    evacuation_id: int, warning: dict[str, Any], cover: runs.Cover, held: dict[str, Any]
) -> None:
    """Tell the officers who may confirm it (the dispatchers and commanders of the townships
    it covers, the supervisors of a district it covers whole) that a proposal waits."""
    places = sorted({ancestor_path(r["area_path"], "township") for r in cover.rows})
    found = await holders(
        duties=["dispatcher", "commander", "supervisor"], area_paths=places, day=clock.today()
    )
    officers = sorted({a for accounts in found.values() for a in accounts})
    names = {
        a["path"]: a["name"]
        for a in await Area.select(Area.name, Area.path).where(Area.path.is_in(places)).run()
    }
    await notify.enqueue_many(
        recipient_ids=officers,
        kind="evacuation.proposed",
        payload={
            "evacuation_id": evacuation_id,
            "warning_id": warning["id"],
            "level_zh": LEVEL_ZH[warning["level"]],
            "level_en": LEVEL_EN[warning["level"]],
            "area_name": "、".join(names[p] for p in places if p in names),
            "count": int(held["n"]),
            "people": int(held["p"]),
        },
        dedupe_key=f"evacuation:{evacuation_id}:proposed",
    )


_PROPOSABLE = (
    "SELECT w.id, w.issued_by, w.level FROM early_warning w WHERE w.status = 'issued'"
    " AND w.level IN ('orange', 'red') AND w.starts_at <= {} AND w.expires_at > {}"
    " AND NOT EXISTS (SELECT 1 FROM evacuation_run e WHERE e.warning = w.id) AND w.id > {}"
    " ORDER BY w.id LIMIT {}"
)
_HOLDS = "SELECT COUNT(*) AS n, COALESCE(SUM(people), 0) AS p FROM evacuation_household h WHERE {}"


async def sync_warnings(now: datetime) -> dict[str, Any]:
    """Propose (or start) an evacuation for each orange or red warning in force over
    households; end those whose warning is over."""
    totals = {"proposed": 0, "started": 0, "ended": 0}
    auto = get_settings().evacuation_auto_start
    # warnings by id, a page at a time: those over no households are passed over, so they
    # never keep a later warning that holds some from its proposal
    after = 0
    while totals["started"] + totals["proposed"] < BATCH:
        page = await fetch(q(_PROPOSABLE, now, now, after, BATCH))
        for w in page:
            after = w["id"]
            areas = await WarningArea.select(WarningArea.area, WarningArea.area_path).where(
                WarningArea.warning == w["id"]
            )
            cover = runs.Cover(
                [
                    {"area": a["area"], "risk_point": None, "area_path": a["area_path"]}
                    for a in areas
                ]
            )
            held = (await fetch(q(_HOLDS, cover.households())))[0] if areas else None
            if held is None or not int(held["n"]):
                continue
            live: runs.Live = []
            try:
                async with write_transaction():
                    evacuation_id = await runs.insert_run(
                        cover,
                        status="proposed",
                        source="warning",
                        warning_id=w["id"],
                        note="",
                        account_id=w["issued_by"],
                        now=now,
                    )
                    if auto:
                        await runs.activate(
                            evacuation_id, cover, account_id=w["issued_by"], now=now, live=live
                        )
                    else:
                        live += await runs.board_live(
                            cover.rows,
                            {"type": "evacuation.proposed", "evacuation_id": evacuation_id},
                        )
                        await _ask_to_confirm(evacuation_id, w, cover, held)
                    await audit.record(
                        actor_id=None,
                        action="evacuation.start" if auto else "evacuation.propose",
                        object_type="evacuation",
                        object_id=evacuation_id,
                        area_path=cover.rows[0]["area_path"],
                        detail={"warning_id": w["id"]},
                    )
            except Exception as exc:
                if is_unique_violation(exc):  # another process proposed it first
                    continue
                raise
            runs.publish(live)
            totals["started" if auto else "proposed"] += 1
        if len(page) < BATCH:
            break
    over = (
        await Evacuation.select()
        .where(
            Evacuation.status.is_in(["proposed", "active"])
            & Evacuation.warning.is_not_null()
            & ((Evacuation.warning.status == "cancelled") | (Evacuation.warning.expires_at <= now))
        )
        .limit(BATCH)
        .run()
    )
    for row in over:
        async with write_transaction():
            ended = await runs.close_run(
                row, account_id=None, now=now, reason="warning_lifted", note=""
            )
        if ended:
            covered = (await runs.covered_by([row["id"]]))[row["id"]]
            runs.publish(
                await runs.board_live(
                    covered, {"type": "evacuation.ended", "evacuation_id": row["id"]}
                )
            )
            totals["ended"] += 1
    return totals


__all__ = ["escalate", "sync_warnings"]
