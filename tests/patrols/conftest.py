"""Patrol test helpers: the toy tree with a township's dispatcher, a grid's full-time worker,
and a way to make plans through the API on the test clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import G1, T1, Person, make_person, make_tree

from grid_backend.core import clock
from grid_backend.core.security import issue_access_token

# 2026-03-31 00:30 in Shanghai: the last day of March, before a 09:00 patrol
NOW = datetime(2026, 3, 30, 16, 30, tzinfo=UTC)
# three checkpoints in G1 (WGS-84), about 1.1 km apart
CP = [(29.52, 106.52), (29.53, 106.53), (29.54, 106.54)]


@dataclass
class World:
    client: Any
    areas: dict[str, int]
    dispatcher: Person
    worker: Person
    people: list[Person]

    def at(self, when: datetime) -> None:
        """Move the test clock; everyone's access token is issued afresh at that time."""
        clock.set_clock(lambda: when)
        for p in self.people:
            p.token = issue_access_token(p.id)[0]

    async def person(self, *duties: tuple[str, str], **extra: Any) -> Person:
        p = await make_person(*duties, **extra)
        self.people.append(p)
        return p

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
    clock.set_clock(lambda: NOW)
    areas = await make_tree()
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    worker = await make_person(("grid_worker", G1), name="周网格员", employment="full_time")
    return World(client, areas, dispatcher, worker, [dispatcher, worker])
