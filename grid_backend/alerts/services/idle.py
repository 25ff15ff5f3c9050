"""Telling the people in charge of an area who in it has not answered yet (a callout's
recipients, an evacuation's helpers): one message per area and person in charge, naming the
first few and counting them all; nobody is told about themselves."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from grid_backend.alerts.services.board import names_of
from grid_backend.areas.tables import Area
from grid_backend.notify import services as notify

SAMPLE = 10  # names listed in a message


async def tell_who_waits(
    waiting: Mapping[str, Collection[int]],
    bosses: Mapping[str, list[int]],
    *,
    kind: str,
    payload: dict[str, Any],
    dedupe: str,
    minutes: int,
) -> int:
    """Tell each of `bosses[path]` who of `waiting[path]` has not answered after `minutes`:
    `payload` with the area, the count, the first SAMPLE names and their ids. Deduplicated by
    `{dedupe}:{area id}:account:{boss}`. The number of messages enqueued."""
    if not waiting:
        return 0
    areas = {
        a["path"]: a
        for a in await Area.select(Area.id, Area.name, Area.path)
        .where(Area.path.is_in(sorted(waiting)))
        .run()
    }
    names = await names_of(
        sorted({a for ids in waiting.values() for a in sorted(ids)[: SAMPLE + 1]})
    )
    sent = 0
    for path, accounts in waiting.items():
        area = areas.get(path)
        for boss in bosses.get(path, []):
            others = sorted(a for a in accounts if a != boss)
            if not others or area is None:
                continue
            listed = "、".join(names.get(a, str(a)) for a in others[:SAMPLE])
            if len(others) > SAMPLE:
                listed += "等"
            sent += bool(
                await notify.enqueue(
                    recipient_id=boss,
                    kind=kind,
                    payload={
                        **payload,
                        "area_id": area["id"],
                        "area_name": area["name"],
                        "count": len(others),
                        "minutes": minutes,
                        "names": listed,
                        "account_ids": others[:SAMPLE],
                    },
                    dedupe_key=f"{dedupe}:{area['id']}:account:{boss}",
                )
            )
    return sent
