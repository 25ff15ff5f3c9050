"""Rows tests need, built explicitly: a small area tree and its codes, accounts with duties,
tokens, cases filed through the API, and a World (the tree and the usual people, on the test
clock) that the domains' test worlds extend."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from shapely.geometry import box

from grid_backend.areas.services import AreaInput, apply_areas
from grid_backend.areas.tables import Area
from grid_backend.core import clock
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


# --- a world: the tree and the usual people, built in one call --------------------------------


@dataclass(frozen=True)
class Who:
    """Whom make_world makes for a field: the (duty, area code) pairs held, the display name
    and the assignment's extra fields (employment, board, risk_point_id...)."""

    duties: tuple[tuple[str, str], ...] = ()
    name: str = "测试"
    extra: dict[str, object] = field(default_factory=dict)


def who(*duties: tuple[str, str], name: str = "测试", **extra: object) -> Who:
    """Someone holding these duties (none: a resident)."""
    return Who(duties, name, extra)


# The usual people of the toy city, by the field name the worlds give them: the resident, the
# supervisor of D1, the township staff of T1 and the grid team of G1.
USUAL: dict[str, Who] = {
    "resident": who(),
    "admin": who(("admin", CITY)),
    "supervisor": who(("supervisor", D1)),
    "commander": who(("commander", T1)),
    "dispatcher": who(("dispatcher", T1)),
    "board": who(("board_handler", T1), board="safety_law"),
    "leader": who(("grid_leader", G1)),
    "worker": who(("grid_worker", G1), employment="full_time"),
    "officer": who(("emergency_officer", G1)),
    "responder": who(("responder", G1)),
}


def usual(role: str, name: str | None = None, **extra: object) -> Who:
    """The usual person for `role` (a key of USUAL), with this display name and extra fields."""
    base = USUAL[role]
    return replace(base, name=base.name if name is None else name, extra={**base.extra, **extra})


@dataclass(kw_only=True)
class World:
    """The toy tree and the people of a test, on the test clock. Tests extend it with their
    own people as fields (each a Person) and helpers, and build it with make_world."""

    client: Any = None
    areas: dict[str, int] = field(default_factory=dict)  # area id by code
    now: datetime | None = None  # the test clock, when the world set it
    people: list[Person] = field(default_factory=list)  # whose tokens follow the clock

    async def person(self, *duties: tuple[str, str], **extra: Any) -> Person:
        """Someone more, whose token follows the clock too."""
        p = await make_person(*duties, **extra)
        self.people.append(p)
        return p

    def at(self, when: datetime) -> None:
        """Move the test clock; everyone's access token is issued afresh at that time."""
        self.now = when
        clock.set_clock(lambda: when)
        for p in self.people:
            p.token = issue_access_token(p.id)[0]

    def later(self, minutes: float) -> datetime:
        assert self.now is not None
        self.at(self.now + timedelta(minutes=minutes))
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the test clock by a timedelta's keywords; the new time."""
        assert self.now is not None
        self.at(self.now + timedelta(**delta))
        return self.now

    async def report(self, person: Person, grid: str = G1, **extra: Any) -> dict[str, Any]:
        """A case filed by `person` through the API at a point of `grid` (see file_report)."""
        return await file_report(self.client, person, grid=grid, **extra)


W = TypeVar("W", bound=World)


async def make_world(
    cls: type[W],
    client: Any = None,
    *,
    now: datetime | None = None,
    areas: dict[str, int] | None = None,
    **values: Any,
) -> W:
    """A `cls` world: the test clock set to `now` (when given), the toy tree (unless its `areas`
    are given), then one person per Who among `values`, made in the order given; other values
    are passed to `cls` as they are."""
    if now is not None:
        clock.set_clock(lambda: now)
    if areas is None:
        areas = await make_tree()
    people: list[Person] = []
    for name, spec in values.items():
        if isinstance(spec, Who):
            values[name] = await make_person(*spec.duties, name=spec.name, **spec.extra)
            people.append(values[name])
    known = {f.name for f in fields(cls)}
    assert set(values) <= known, set(values) - known
    extra = {} if now is None else {"now": now}
    return cls(client=client, areas=areas, people=people, **extra, **values)


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
