"""Alert test helpers: the toy tree with command staff in both townships and the district, an
emergency team in G1, G2 and G3, and a test clock that moves only when told."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import D1, G1, G2, G3, T1, T2, Person, make_person, make_tree

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import clock
from grid_backend.core.security import issue_access_token
from grid_backend.notify.tables import Notification

# 2026-04-01 10:00 in Shanghai
NOW = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
TEAM = ("grid_leader", "responder", "site_monitor", "emergency_officer", "grid_worker")


@dataclass
class World:
    client: Any
    areas: dict[str, int]
    now: datetime
    dispatcher: Person  # T1
    other_dispatcher: Person  # T2
    supervisor: Person  # D1
    teams: dict[str, dict[str, Person]] = field(default_factory=dict)  # grid -> duty -> person
    people: list[Person] = field(default_factory=list)

    def advance(self, **delta: float) -> datetime:
        """Move the test clock; tokens are issued afresh at the new time."""
        self.now += timedelta(**delta)
        clock.set_clock(lambda: self.now)
        for p in self.people:
            p.token = issue_access_token(p.id)[0]
        return self.now

    async def person(self, *duties: tuple[str, str], **extra: Any) -> Person:
        p = await make_person(*duties, **extra)
        self.people.append(p)
        return p

    async def warn(self, by: Person | None = None, **overrides: Any) -> dict[str, Any]:
        r = await self.client.post(
            "/api/v1/warnings",
            json=self.warning_body(**overrides),
            headers=(by or self.dispatcher).headers,
        )
        assert r.status_code == 201, r.text
        return r.json()

    def warning_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "level": "yellow",
            "type": "heavy_rain",
            "area_ids": [self.areas[G1]],
            "expires_at": (self.now + timedelta(hours=24)).isoformat(),
            "message": "今夜有大到暴雨，请做好防范",
        }
        body.update(overrides)
        return body

    async def get(self, person: Person, path: str, **params: Any) -> Any:
        return await self.client.get(path, headers=person.headers, params=params)

    async def post(self, person: Person, path: str, body: Any = None) -> Any:
        return await self.client.post(path, json=body, headers=person.headers)


async def notifications(**where: Any) -> list[dict[str, Any]]:
    """Notification rows (inbox by default) matching the given columns."""
    where.setdefault("channel", "inbox")
    query = Notification.select().output(load_json=True)
    for name, value in where.items():
        query = query.where(getattr(Notification, name) == value)
    return await query.order_by(Notification.id).run()


async def risk_point(grid_id: int, code: str) -> int:
    area = await Area.select(Area.path).where(Area.id == grid_id).first().run()
    row = (
        await RiskPoint.insert(
            RiskPoint(
                code=code,
                name="滑坡点",
                type="landslide",
                risk_level="high",
                lat=29.52,
                lng=106.52,
                grid=grid_id,
                area_path=area["path"],
            )
        )
        .returning(RiskPoint.id)
        .run()
    )
    return row[0]["id"]


@pytest.fixture
async def world(client) -> World:
    clock.set_clock(lambda: NOW)
    areas = await make_tree()
    w = World(
        client=client,
        areas=areas,
        now=NOW,
        dispatcher=await make_person(("dispatcher", T1), name="一镇值班"),
        other_dispatcher=await make_person(("dispatcher", T2), name="二镇值班"),
        supervisor=await make_person(("supervisor", D1), name="区督导"),
    )
    w.people += [w.dispatcher, w.other_dispatcher, w.supervisor]
    for grid in (G1, G2, G3):
        team = {}
        for duty in TEAM:
            extra: dict[str, Any] = {}
            if duty == "site_monitor":
                extra["risk_point_id"] = await risk_point(areas[grid], f"RP{grid}")
            team[duty] = await w.person((duty, grid), name=f"{grid[-1]}{duty}", **extra)
        w.teams[grid] = team
    return w
