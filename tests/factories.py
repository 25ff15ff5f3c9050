"""Rows tests need, built explicitly: a small area tree, accounts with duties, tokens."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest
from shapely.geometry import box

from grid_backend.areas.services import AreaInput, apply_areas
from grid_backend.areas.tables import Area
from grid_backend.core.auth import csrf_token_for
from grid_backend.core.security import issue_access_token
from grid_backend.people.schemas import AssignmentCreate
from grid_backend.people.services import create_account, create_assignment

PASSWORD = "Patrol2024ok"

# A toy city in WGS-84 around 渝中区: two districts, townships, communities, grids.
#   district D1 500103: lng 106.50–106.60, lat 29.50–29.60
#     township T1 500103001 west half, T2 500103002 east half
#       T1 → community C1 500103001001 → grids G1 (south) 500103001001001, G2 (north) ...002
#       T2 → community C2 500103002001 → grid G3 500103002001001 (whole community)
#   district D2 500104: lng 106.60–106.70 → township, community, grid G4 500104001001001
TREE = [
    ("500000", "重庆市", "city", None, (106.0, 29.0, 107.0, 30.0)),
    ("500103", "渝中区", "district", "500000", (106.50, 29.50, 106.60, 29.60)),
    ("500103001", "解放碑街道", "township", "500103", (106.50, 29.50, 106.55, 29.60)),
    ("500103002", "朝天门街道", "township", "500103", (106.55, 29.50, 106.60, 29.60)),
    ("500103001001", "较场口社区", "community", "500103001", (106.50, 29.50, 106.55, 29.60)),
    ("500103001001001", "第一网格", "grid", "500103001001", (106.50, 29.50, 106.55, 29.55)),
    ("500103001001002", "第二网格", "grid", "500103001001", (106.50, 29.55, 106.55, 29.60)),
    ("500103002001", "朝东社区", "community", "500103002", (106.55, 29.50, 106.60, 29.60)),
    ("500103002001001", "第一网格", "grid", "500103002001", (106.55, 29.50, 106.60, 29.60)),
    ("500104", "大渡口区", "district", "500000", (106.60, 29.50, 106.70, 29.60)),
    ("500104001", "新山村街道", "township", "500104", (106.60, 29.50, 106.70, 29.60)),
    ("500104001001", "新山社区", "community", "500104001", (106.60, 29.50, 106.70, 29.60)),
    ("500104001001001", "第一网格", "grid", "500104001001", (106.60, 29.50, 106.70, 29.60)),
]
# The codes of the tree, named once for every test module.
CITY = "500000"
D1, D2 = "500103", "500104"
T1, T2, T3 = "500103001", "500103002", "500104001"
C1, C2, C3 = "500103001001", "500103002001", "500104001001"
G1, G2, G3, G4 = "500103001001001", "500103001001002", "500103002001001", "500104001001001"
POINT_IN = {G1: (29.52, 106.52), G2: (29.58, 106.52), G3: (29.52, 106.58), G4: (29.52, 106.65)}


async def make_tree() -> dict[str, int]:
    """The toy tree; returns area ids by code."""
    items = [
        AreaInput(code, name, level, parent, box(*bounds), 400, 1000)
        for code, name, level, parent, bounds in TREE
    ]
    await apply_areas(items, source_datum="wgs84", actor_id=None)
    return {r["code"]: r["id"] for r in await Area.select(Area.id, Area.code).run()}


@dataclass
class Person:
    id: int
    phone: str
    token: str
    session: str = ""  # the session (refresh-token family) the token belongs to

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def csrf(self) -> str:
        """The console's CSRF token for this person's session (when its token is a cookie)."""
        return csrf_token_for(f"s:{self.session}")


_counter = iter(range(10_000_000))


async def make_person(*duties: tuple[str, str], name: str = "测试", **extra: object) -> Person:
    """An account holding the given (duty, area_code) assignments, with an access token."""
    phone = f"135{next(_counter):08d}"
    account = await create_account(phone=phone, password=PASSWORD, name=name)
    for duty, area_code in duties:
        await create_assignment(
            data=AssignmentCreate(duty=duty, area_code=area_code, account_id=account.id, **extra),  # type: ignore[arg-type]
            grants=None,
            actor_id=None,
        )
    session = str(uuid.uuid4())
    token, _ = issue_access_token(account.id, session=session)
    return Person(account.id, phone, token, session)


IMAGES = __import__("pathlib").Path(__file__).parent / "media" / "images"


async def upload_photo(client, person: Person, name: str = "hopper.jpg") -> int:
    """Upload a real photo from tests/media/images through the API; its id."""
    r = await client.post(
        "/api/v1/media",
        headers=person.headers,
        files={"file": (name, (IMAGES / name).read_bytes(), "image/jpeg")},
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


async def file_report(
    client,
    person: Person,
    *,
    grid: str = G1,
    category: str = "gas",
    photo: str = "hopper.jpg",
    **extra: object,
) -> dict:
    """A resident's (or staff member's) report at a point inside `grid`, with one photo."""
    lat, lng = POINT_IN[grid]
    body = {
        "category": category,
        "description": "燃气管道漏气",
        "location": {"lat": lat, "lng": lng},
        "photo_ids": [await upload_photo(client, person, photo)],
        "reporter_safe": True,
    }
    body.update(extra)
    r = await client.post("/api/v1/reports", json=body, headers=person.headers)
    assert r.status_code == 201, r.text
    return r.json()


REDIS_URL = os.environ.get("GRID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def require_redis(url: str = REDIS_URL) -> None:
    """Skip the test when the Redis at url does not answer; under CI=true fail instead, since
    CI starts Redis and a silent skip would hide the shared-state tests."""
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        reason = f"Redis at {url} is unreachable: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI must start it)")
        pytest.skip(reason + "; start redis-server or set GRID_TEST_REDIS_URL")
    finally:
        await client.aclose()


async def offered(client, person, grid: str = G1, category: str = "gas") -> list[int]:
    """What the field app does before sending: the pre-check at a point of the grid, which
    offers the open cases there (and records the offer, which makes "me too" plausible)."""
    lat, lng = POINT_IN[grid]
    r = await client.post(
        "/api/v1/reports/possible-duplicates",
        json={"category": category, "location": {"lat": lat, "lng": lng}},
        headers=person.headers,
    )
    assert r.status_code == 200, r.text
    return [d["id"] for d in r.json()]
