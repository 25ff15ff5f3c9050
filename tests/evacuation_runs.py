"""The world of the evacuation tests: the toy tree, the command centres, G1's leader and
worker (a helper), G2's and G3's workers (helpers), a grid instructor, a resident, and
households made directly in the table (the ledger import is tested on its own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import factories
from factories import C1, D1, G1, G2, G3, T1, T2, Person, usual, who

from grid_backend.evacuation.tables import Household, Shelter, ShelterArea
from grid_backend.notify.tables import Notification

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SCRIPT = "<script>alert(1)</script>"


@dataclass(kw_only=True)
class RunWorld(factories.World):
    resident: Person
    leader: Person  # G1's grid leader
    worker: Person  # G1's grid worker, helper of G1's households
    worker2: Person  # G2's grid worker, helper of G2's households
    worker3: Person  # G3's (T2) grid worker
    instructor: Person  # G1's grid instructor: reads, does not record
    dispatcher: Person  # T1
    dispatcher2: Person  # T2
    supervisor: Person  # D1
    now: datetime = NOW
    _n: int = 0

    async def household(
        self, grid: str = G1, helper: Person | None = None, **fields: Any
    ) -> dict[str, Any]:
        """A threatened household of `grid` (its worker as helper unless given)."""
        self._n += 1
        helper = helper or {G1: self.worker, G2: self.worker2, G3: self.worker3}[grid]
        area = await _area(self.areas[grid])
        values: dict[str, Any] = {
            "grid": self.areas[grid],
            "area_path": area,
            "address": f"较场口{self._n}号",
            "head_name": f"户主{self._n}",
            "head_phone": f"1390000{self._n:04d}",
            "people": 3,
            "helper": helper.id,
        }
        values.update(fields)
        row = await Household.insert(Household(**values)).returning(Household.id).run()
        return {"id": row[0]["id"], **values}

    async def shelter(self, capacity: int = 10, areas: tuple[str, ...] = (C1,)) -> int:
        row = (
            await Shelter.insert(
                Shelter(
                    name="较场口小学",
                    kind="school",
                    lat=29.52,
                    lng=106.52,
                    sent_lat=29.52,
                    sent_lng=106.52,
                    capacity=capacity,
                    area_path=await _area(self.areas[areas[0]]),
                )
            )
            .returning(Shelter.id)
            .run()
        )
        for code in areas:
            await ShelterArea.insert(
                ShelterArea(
                    shelter=row[0]["id"],
                    area=self.areas[code],
                    area_path=await _area(self.areas[code]),
                )
            ).run()
        return row[0]["id"]

    async def start(
        self, by: Person | None = None, key: str | None = None, **body: Any
    ) -> dict[str, Any]:
        body = body or {"area_ids": [self.areas[C1]]}
        headers = dict((by or self.dispatcher).headers)
        if key:
            headers["Idempotency-Key"] = key
        r = await self.client.post("/api/v1/evacuations", json=body, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    async def status(
        self,
        evacuation_id: int,
        household_id: int,
        by: Person | None = None,
        key: str | None = None,
        **body: Any,
    ) -> Any:
        headers = dict((by or self.worker).headers)
        if key:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            f"/api/v1/evacuations/{evacuation_id}/households/{household_id}/status",
            json=body,
            headers=headers,
        )


async def _area(area_id: int) -> str:
    from grid_backend.areas.tables import Area

    row = await Area.select(Area.path).where(Area.id == area_id).first().run()
    assert row is not None
    return row["path"]


async def make_run_world(client) -> RunWorld:
    return await factories.make_world(
        RunWorld,
        client,
        now=NOW,
        resident=who(name="居民"),
        leader=usual("leader", "赵网格长"),
        worker=usual("worker", "周网格员"),
        worker2=who(("grid_worker", G2), name="吴网格员", employment="full_time"),
        worker3=who(("grid_worker", G3), name="郑网格员", employment="full_time"),
        instructor=who(("grid_instructor", G1), name="钱指导员"),
        dispatcher=usual("dispatcher", "李值班"),
        dispatcher2=who(("dispatcher", T2), name="朝天门值班"),
        supervisor=usual("supervisor", "刘督导"),
    )


async def inbox(kind: str) -> list[dict[str, Any]]:
    """The inbox rows of a kind, oldest first."""
    return (
        await Notification.select(Notification.recipient, Notification.payload, Notification.urgent)
        .where((Notification.kind == kind) & (Notification.channel == "inbox"))
        .order_by(Notification.id)
        .output(load_json=True)
        .run()
    )


__all__ = ["C1", "D1", "G1", "G2", "G3", "NOW", "SCRIPT", "T1", "T2", "RunWorld", "inbox"]
