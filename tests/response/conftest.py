"""Response test helpers: the toy tree with responders in G1 and G2, dispatchers of both
townships, a supervisor of the district, and a resident who reports, on the test clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import factories
import pytest
from factories import G1, G2, T1, T2, Person, usual, who

# 2026-04-01 10:00 in Shanghai
NOW = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)


@dataclass(kw_only=True)
class World(factories.World):
    resident: Person
    responder: Person  # G1
    officer: Person  # G1's emergency officer
    worker: Person  # G1's grid worker: not alerted
    other_responder: Person  # G2
    dispatcher: Person  # T1
    dispatcher2: Person  # T2
    supervisor: Person  # D1
    now: datetime = NOW

    async def urgent(self, grid: str = G1, **extra: Any) -> dict[str, Any]:
        return await self.report(self.resident, grid=grid, urgent=True, **extra)

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
    return await factories.make_world(
        World,
        client,
        now=NOW,
        resident=who(name="居民"),
        responder=usual("responder", "孙群防"),
        officer=usual("officer", "郑应急"),
        worker=usual("worker", "周网格员"),
        other_responder=who(("responder", G2), name="二网格群防"),
        dispatcher=usual("dispatcher", "李值班"),
        dispatcher2=who(("dispatcher", T2), name="朝天门值班"),
        supervisor=usual("supervisor", "刘督导"),
    )
