"""Alert test helpers: the toy tree with command staff in both townships and the district, an
emergency team in G1, G2 and G3, and a test clock that moves only when told."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import factories
import pytest
from factories import G1, G2, G3, T2, Person, usual, who

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.notify.tables import Notification

# 2026-04-01 10:00 in Shanghai
NOW = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
TEAM = ("grid_leader", "responder", "site_monitor", "emergency_officer", "grid_worker")


@dataclass(kw_only=True)
class World(factories.World):
    now: datetime
    dispatcher: Person  # T1
    other_dispatcher: Person  # T2
    supervisor: Person  # D1
    teams: dict[str, dict[str, Person]] = field(default_factory=dict)  # grid -> duty -> person

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
    w = await factories.make_world(
        World,
        client,
        now=NOW,
        dispatcher=usual("dispatcher", "一镇值班"),
        other_dispatcher=who(("dispatcher", T2), name="二镇值班"),
        supervisor=usual("supervisor", "区督导"),
    )
    for grid in (G1, G2, G3):
        team = {}
        for duty in TEAM:
            extra: dict[str, Any] = {}
            if duty == "site_monitor":
                extra["risk_point_id"] = await risk_point(w.areas[grid], f"RP{grid}")
            team[duty] = await w.person((duty, grid), name=f"{grid[-1]}{duty}", **extra)
        w.teams[grid] = team
    return w
