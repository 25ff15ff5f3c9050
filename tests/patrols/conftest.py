"""Patrol test helpers: the toy tree with a township's dispatcher, a grid's full-time worker,
and a way to make plans through the API on the test clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import factories
import pytest
from factories import G1, Person, usual

# 2026-03-31 00:30 in Shanghai: the last day of March, before a 09:00 patrol
NOW = datetime(2026, 3, 30, 16, 30, tzinfo=UTC)
# three checkpoints in G1 (WGS-84), about 1.1 km apart
CP = [(29.52, 106.52), (29.53, 106.53), (29.54, 106.54)]


@dataclass(kw_only=True)
class World(factories.World):
    dispatcher: Person
    worker: Person

    async def plan(self, by: Person | None = None, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "第一网格日常巡查",
            "grid_id": self.areas[G1],
            "duty": "grid_worker",
            "employment": "full_time",
            "recurrence": {"kind": "daily", "time": "09:00"},
            "window_minutes": 120,
            "checkpoints": [{"lat": lat, "lng": lng} for lat, lng in CP],
        }
        body.update(overrides)
        r = await self.client.post(
            "/api/v1/patrol-plans", json=body, headers=(by or self.dispatcher).headers
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def my_tasks(self, person: Person, **params: Any) -> list[dict[str, Any]]:
        r = await self.client.get("/api/v1/me/tasks", headers=person.headers, params=params)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    async def post(self, person: Person, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.client.post(path, json=body, headers={**person.headers, **kw})


@pytest.fixture
async def world(client) -> World:
    return await factories.make_world(
        World,
        client,
        now=NOW,
        dispatcher=usual("dispatcher", "李值班"),
        worker=usual("worker", "周网格员"),
    )
