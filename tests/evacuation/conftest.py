"""Evacuation test helpers: the toy tree with the command centres of both townships, a
district supervisor, G1's grid worker and a resident, on the test clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import factories
import pytest
from factories import C1, C2, G1, G2, T2, Person, usual, who
from shapely.geometry import box

from grid_backend.areas.services import AreaInput, apply_areas
from grid_backend.areas.tables import Area

# 2026-06-01 10:00 in Shanghai
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


@dataclass(kw_only=True)
class World(factories.World):
    resident: Person
    worker: Person  # G1's grid worker
    dispatcher: Person  # T1
    dispatcher2: Person  # T2
    supervisor: Person  # D1
    now: datetime = NOW

    def shelter_body(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "较场口小学",
            "kind": "school",
            "location": {"lat": 29.52, "lng": 106.52},
            "capacity": 300,
            "area_ids": [self.areas[C1]],
            "contact_name": "王校长",
            "contact_phone": "13800000000",
        }
        body.update(fields)
        return body

    async def shelter(self, by: Person | None = None, **fields: Any) -> dict[str, Any]:
        r = await self.client.post(
            "/api/v1/shelters",
            json=self.shelter_body(**fields),
            headers=(by or self.dispatcher).headers,
        )
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture
async def world(client) -> World:
    return await factories.make_world(
        World,
        client,
        now=NOW,
        resident=who(name="居民"),
        worker=usual("worker", "周网格员"),
        dispatcher=usual("dispatcher", "李值班"),
        dispatcher2=who(("dispatcher", T2), name="朝天门值班"),
        supervisor=usual("supervisor", "刘督导"),
    )


# --- threatened households: G1's leader, a worker of G2, a micro-grid inside G1 with its own
# worker, a shelter serving 较场口社区 (C1) and one serving 朝东社区 (C2); and ledgers built with
# openpyxl (test_ledger.py), as an office fills them

MICRO = G1 + "001"  # a micro-grid (one building) inside G1


@dataclass(kw_only=True)
class HouseholdWorld:
    w: World  # the evacuation world above
    leader: Person  # G1's grid leader
    worker2: Person  # G2's grid worker
    micro_worker: Person  # a grid worker of the micro-grid inside G1
    shelter: dict[str, Any]  # serves C1
    shelter2: dict[str, Any]  # serves C2 (the other township)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.w, name)

    def body(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "grid_id": self.w.areas[G1],
            "address": "较场口社区3组12号",
            "head_name": "张三",
            "head_phone": "13812345678",
            "people": 4,
            "elderly_alone": 1,
            "children": 2,
            "helper_id": self.w.worker.id,
            "shelter_id": self.shelter["id"],
            "watch_group": "3组第1联防组",
        }
        body.update(fields)
        return body

    async def household(self, by: Person | None = None, **fields: Any) -> dict[str, Any]:
        r = await self.w.client.post(
            "/api/v1/households",
            json=self.body(**fields),
            headers=(by or self.w.dispatcher).headers,
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def ids(self, person: Person, **params: Any) -> list[int]:
        r = await self.w.client.get("/api/v1/households", params=params, headers=person.headers)
        assert r.status_code == 200, r.text
        return [h["id"] for h in r.json()["items"]]


@pytest.fixture
async def hw(world) -> HouseholdWorld:
    await apply_areas(
        [AreaInput(MICRO, "1号楼", "micro_grid", G1, box(106.50, 29.50, 106.51, 29.51), 30, 80)],
        source_datum="wgs84",
        actor_id=None,
    )
    world.areas[MICRO] = (await Area.select(Area.id).where(Area.code == MICRO).first())["id"]
    leader = await world.person(("grid_leader", G1), name="吴网格长")
    worker2 = await world.person(("grid_worker", G2), name="郑网格员")
    micro_worker = await world.person(("grid_worker", MICRO), name="楼栋网格员")
    shelter = await world.shelter(name="较场口小学", area_ids=[world.areas[C1]])
    shelter2 = await world.shelter(
        world.supervisor, name="朝东广场", kind="open_ground", area_ids=[world.areas[C2]]
    )
    return HouseholdWorld(
        w=world,
        leader=leader,
        worker2=worker2,
        micro_worker=micro_worker,
        shelter=shelter,
        shelter2=shelter2,
    )
