"""Response test helpers: the toy tree with responders in G1 and G2, dispatchers of both
townships, a supervisor of the district, and a resident who reports, on the test clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import D1, G1, G2, T1, T2, Person, file_report, make_person, make_tree

from grid_backend.core import clock
from grid_backend.core.security import issue_access_token

# 2026-04-01 10:00 in Shanghai
NOW = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)


@dataclass
class World:
    client: Any
    areas: dict[str, int]
    resident: Person
    responder: Person  # G1
    officer: Person  # G1's emergency officer
    worker: Person  # G1's grid worker: not alerted
    other_responder: Person  # G2
    dispatcher: Person  # T1
    dispatcher2: Person  # T2
    supervisor: Person  # D1
    people: list[Person] = field(default_factory=list)
    now: datetime = NOW

    def at(self, when: datetime) -> None:
        """Move the test clock; everyone's access token is issued afresh at that time."""
        self.now = when
        clock.set_clock(lambda: when)
        for p in self.people:
            p.token = issue_access_token(p.id)[0]

    def later(self, minutes: float) -> datetime:
        self.at(self.now + timedelta(minutes=minutes))
        return self.now

    async def person(self, *duties: tuple[str, str], **extra: Any) -> Person:
        p = await make_person(*duties, **extra)
        self.people.append(p)
        return p

    async def urgent(self, grid: str = G1, **extra: Any) -> dict[str, Any]:
        return await file_report(self.client, self.resident, grid=grid, urgent=True, **extra)

    async def responses(self, case_id: int, by: Person | None = None) -> list[dict[str, Any]]:
        r = await self.client.get(
            f"/api/v1/reports/{case_id}/responses", headers=(by or self.dispatcher).headers
        )
        assert r.status_code == 200, r.text
        return r.json()["items"]

    async def record_of(
        self, case_id: int, *, account: Person | None = None, team: int | None = None
    ) -> dict:
        items = await self.responses(case_id)
        if account is not None:
            return next(i for i in items if i["account_id"] == account.id)
        return next(i for i in items if i["team_id"] == team)

    async def step(
        self,
        person: Person,
        case_id: int,
        response_id: int,
        step: str,
        near: tuple[float, float] | None = None,
        **extra: Any,
    ) -> Any:
        body: dict[str, Any] = {"step": step, **extra}
        if near is not None:
            body["location"] = {"lat": near[0], "lng": near[1], "accuracy_m": 10.0}
        return await self.client.post(
            f"/api/v1/reports/{case_id}/responses/{response_id}/steps",
            json=body,
            headers=person.headers,
        )

    async def team(self, by: Person, **fields: Any) -> dict[str, Any]:
        body = {
            "name": "渝中区专业救援队",
            "type": "professional",
            "tier": "ground",
            "base": {"lat": 29.53, "lng": 106.53},
            "area_ids": [self.areas[T1]],
            "contact_name": "刘队长",
            "contact_phone": "023-63000000",
        }
        body.update(fields)
        r = await self.client.post("/api/v1/rescue-teams", json=body, headers=by.headers)
        assert r.status_code == 201, r.text
        return r.json()

    async def dispatch(self, case_id: int, team_id: int, by: Person | None = None) -> Any:
        return await self.client.post(
            f"/api/v1/reports/{case_id}/responses",
            json={"team_id": team_id},
            headers=(by or self.dispatcher).headers,
        )


@pytest.fixture
async def world(client) -> World:
    clock.set_clock(lambda: NOW)
    areas = await make_tree()
    people = [
        await make_person(name="居民"),
        await make_person(("responder", G1), name="孙群防"),
        await make_person(("emergency_officer", G1), name="郑应急"),
        await make_person(("grid_worker", G1), name="周网格员", employment="full_time"),
        await make_person(("responder", G2), name="二网格群防"),
        await make_person(("dispatcher", T1), name="李值班"),
        await make_person(("dispatcher", T2), name="朝天门值班"),
        await make_person(("supervisor", D1), name="刘督导"),
    ]
    w = World(client, areas, *people)
    w.people = list(people)
    return w
