"""Assignments over HTTP: giving duties, the checks on them, their days of validity, ending
them, the audit trail and paging through them."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import G1, G3, G4, POINT_IN, Person, make_person, make_tree

from grid_backend.areas.risk_points import create_risk_point
from grid_backend.areas.schemas import RiskPointCreate
from grid_backend.core import clock
from grid_backend.core.security import issue_access_token
from grid_backend.core.tables import AuditEntry
from grid_backend.people.schemas import AssignmentCreate
from grid_backend.people.services import create_assignment

CITY, D1, T1, T2 = "500000", "500103", "500103001", "500103002"
# 01:30 on 2 March in Chongqing is still 1 March in UTC: duties run by local days.
NOW = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
TODAY = date(2026, 3, 2)
YESTERDAY, TOMORROW = TODAY - timedelta(days=1), TODAY + timedelta(days=1)


def at(moment: datetime) -> None:
    clock.set_clock(lambda: moment)


def signed_in_again(person: Person) -> Person:
    """A fresh access token, for after the clock has moved past the old one's expiry."""
    return Person(person.id, person.phone, issue_access_token(person.id)[0])


@pytest.fixture
async def tree(db):
    at(NOW)
    return await make_tree()


@pytest.fixture
async def admin(tree):
    return await make_person(("admin", CITY), name="管理员")


async def post(client, caller: Person, **body):
    return await client.post("/api/v1/assignments", json=body, headers=caller.headers)


async def me(client, person: Person) -> list[tuple[str, str]]:
    r = await client.get("/api/v1/me", headers=person.headers)
    assert r.status_code == 200, r.text
    return [(a["duty"], a["area_code"]) for a in r.json()["assignments"]]


async def _ids_of(client, person: Person) -> list[int]:
    """The ids of the person's assignments valid today."""
    r = await client.get("/api/v1/me", headers=person.headers)
    return [a["id"] for a in r.json()["assignments"]]


async def point_in(grid: str) -> int:
    lat, lng = POINT_IN[grid]
    data = RiskPointCreate(name="滑坡点", type="landslide", risk_level="high", lat=lat, lng=lng)
    return (await create_risk_point(data=data, grants=None, actor_id=None)).id


def assert_problem(r, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code, body
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body


# --- creating ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["account_id", "phone", "phone as typed"])
@pytest.mark.parametrize("where", ["area_id", "area_code"])
async def test_create_naming_the_person_and_the_area_either_way(client, tree, admin, who, where):
    worker = await make_person(name="网格员")
    person = {
        "account_id": {"account_id": worker.id},
        "phone": {"phone": worker.phone},
        "phone as typed": {
            "phone": f"+86 {worker.phone[:3]}-{worker.phone[3:7]}-{worker.phone[7:]}"
        },
    }[who]
    area = {"area_id": tree[G1]} if where == "area_id" else {"area_code": G1}
    r = await post(client, admin, duty="grid_worker", employment="full_time", **person, **area)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["account_id"] == worker.id
    assert body["account_name"] == "网格员"
    assert (body["area_id"], body["area_code"], body["area_level"]) == (tree[G1], G1, "grid")
    assert (body["duty"], body["employment"]) == ("grid_worker", "full_time")
    assert body["valid_from"] == TODAY.isoformat()
    assert body["valid_to"] is None
    assert await me(client, worker) == [("grid_worker", G1)]


GW, MISMATCH, INVALID = "grid_worker", "duty_area_mismatch", "validation_failed"
NOBODY = {"account_id": None}  # leave the person out, or name them another way
# fmt: off
REFUSED = [  # (what is wrong, the request body besides the person, problem code, field named)
    ("grid duty at a township, by code", {"duty": GW, "area_code": T1}, MISMATCH, "area_code"),
    ("grid duty at a township, by id", {"duty": GW, "area_id": T1}, MISMATCH, "area_id"),
    ("township duty in a grid", {"duty": "dispatcher", "area_code": G1}, MISMATCH, "area_code"),
    ("district duty at a township", {"duty": "supervisor", "area_code": T1}, MISMATCH, "area_code"),
    ("admin below the city", {"duty": "admin", "area_code": D1}, MISMATCH, "area_code"),
    ("unknown duty", {"duty": "mayor", "area_code": T1}, "duty_unknown", "duty"),
    ("board handler without a board", {"duty": "board_handler", "area_code": T1}, INVALID, "board"),
    ("board handler with an unknown board",
     {"duty": "board_handler", "area_code": T1, "board": "sports"}, INVALID, "board"),
    ("board on a dispatcher",
     {"duty": "dispatcher", "area_code": T1, "board": "safety_law"}, INVALID, "board"),
    ("employment of a grid leader",
     {"duty": "grid_leader", "area_code": G1, "employment": "full_time"}, INVALID, "employment"),
    ("unknown employment",
     {"duty": GW, "area_code": G1, "employment": "seasonal"}, INVALID, "employment"),
    ("site monitor without a risk point",
     {"duty": "site_monitor", "area_code": G1}, INVALID, "risk_point_id"),
    ("site monitor of another grid's point",
     {"duty": "site_monitor", "area_code": G1, "risk_point_id": G3}, INVALID, "risk_point_id"),
    ("site monitor of no point",
     {"duty": "site_monitor", "area_code": G1, "risk_point_id": 999_999}, INVALID, "risk_point_id"),
    ("risk point of a grid worker",
     {"duty": GW, "area_code": G1, "risk_point_id": G1}, INVALID, "risk_point_id"),
    ("valid_to before valid_from",
     {"duty": GW, "area_code": G1, "valid_from": "2026-03-10", "valid_to": "2026-03-09"},
     INVALID, "valid_to"),
    ("valid_to before today, the default start",
     {"duty": GW, "area_code": G1, "valid_to": "2026-03-01"}, INVALID, "valid_to"),
    ("unknown area code", {"duty": GW, "area_code": "500103009009009"}, "area_code_unknown",
     "area_code"),
    ("unknown area id", {"duty": GW, "area_id": 999_999}, "area_code_unknown", "area_id"),
    ("no area", {"duty": GW}, INVALID, "area_id"),
    ("no person", {"duty": GW, "area_code": G1, **NOBODY}, INVALID, "account_id"),
    ("unknown account", {"duty": GW, "area_code": G1, "account_id": 999_999}, INVALID,
     "account_id"),
    ("unregistered phone",
     {"duty": GW, "area_code": G1, **NOBODY, "phone": "13999999999"}, INVALID, "phone"),
    ("not a phone number",
     {"duty": GW, "area_code": G1, **NOBODY, "phone": "12345"}, "phone_invalid", "phone"),
    ("unknown field", {"duty": GW, "area_code": G1, "role": "boss"}, INVALID, None),
]
# fmt: on


@pytest.mark.parametrize(
    ("body", "code", "field"), [pytest.param(*case[1:], id=case[0]) for case in REFUSED]
)
async def test_invalid_assignments_are_refused_naming_the_field(
    client, tree, admin, body, code, field
):
    person = await make_person(name="新人")
    body = {"account_id": person.id, **body}
    if body["account_id"] is None:
        del body["account_id"]
    if isinstance(body.get("area_id"), str):  # an area code, given here as its id
        body["area_id"] = tree[body["area_id"]]
    if isinstance(body.get("risk_point_id"), str):  # a point in the grid with this code
        body["risk_point_id"] = await point_in(body["risk_point_id"])
    r = await post(client, admin, **body)
    assert_problem(r, 422, code, field)
    assert await me(client, person) == []


async def test_valid_special_duties(client, tree, admin):
    person = await make_person(name="多职")
    point = await point_in(G1)
    r = await post(
        client, admin, duty="board_handler", area_code=T1, board="safety_law", account_id=person.id
    )
    assert r.status_code == 201, r.text
    assert r.json()["board"] == "safety_law"
    r = await post(
        client, admin, duty="site_monitor", area_code=G1, risk_point_id=point, account_id=person.id
    )
    assert r.status_code == 201, r.text
    assert r.json()["risk_point_id"] == point
    r = await post(
        client,
        admin,
        duty="grid_worker",
        area_code=G1,
        employment="part_time",
        account_id=person.id,
    )
    assert r.status_code == 201, r.text
    assert r.json()["employment"] == "part_time"
    assert sorted(await me(client, person)) == [
        ("board_handler", T1),
        ("grid_worker", G1),
        ("site_monitor", G1),
    ]


async def test_an_outsider_learns_nothing_about_accounts(client, tree):
    """Refused callers get the same 403 whether or not the phone number is registered."""
    registered = await make_person(name="居民")
    dispatcher = await make_person(("dispatcher", T1))
    for caller, grid in ((registered, G1), (dispatcher, G4)):
        for phone in (registered.phone, "13999999999"):
            r = await post(client, caller, duty="grid_worker", area_code=grid, phone=phone)
            assert_problem(r, 403, "forbidden")
        r = await post(client, caller, duty="grid_worker", area_code=grid, account_id=999_999)
        assert_problem(r, 403, "forbidden")


# --- days of validity --------------------------------------------------------------------


async def test_me_shows_only_assignments_valid_today(client, tree, admin):
    person = await make_person(name="轮岗")
    for duty, area, valid_from, valid_to in [
        ("grid_worker", G1, TODAY, None),
        ("grid_leader", G1, TOMORROW, None),
        ("emergency_officer", G1, TODAY - timedelta(days=30), YESTERDAY),
        ("responder", G3, TODAY - timedelta(days=30), TODAY),
    ]:
        r = await post(
            client,
            admin,
            duty=duty,
            area_code=area,
            account_id=person.id,
            valid_from=valid_from.isoformat(),
            valid_to=valid_to.isoformat() if valid_to else None,
        )
        assert r.status_code == 201, r.text
    assert await me(client, person) == [("grid_worker", G1), ("responder", G3)]
    # one minute before local midnight nothing changes; just after it, the day has turned
    at(datetime(2026, 3, 2, 15, 59, tzinfo=UTC))
    person = signed_in_again(person)
    assert await me(client, person) == [("grid_worker", G1), ("responder", G3)]
    at(datetime(2026, 3, 2, 16, 1, tzinfo=UTC))
    person = signed_in_again(person)
    assert await me(client, person) == [("grid_worker", G1), ("grid_leader", G1)]
    # all of them are still on record
    r = await client.get(
        "/api/v1/assignments",
        params={"account_id": person.id},
        headers=signed_in_again(admin).headers,
    )
    assert [a["duty"] for a in r.json()["items"]] == [
        "grid_worker",
        "grid_leader",
        "emergency_officer",
        "responder",
    ]


async def test_a_future_assignment_grants_nothing_until_it_starts(client, tree, admin):
    person = await make_person(name="候任")
    r = await post(
        client,
        admin,
        duty="dispatcher",
        area_code=T1,
        account_id=person.id,
        valid_from=TOMORROW.isoformat(),
    )
    assert r.status_code == 201, r.text
    coverage = f"/api/v1/areas/{tree[T1]}/coverage"
    assert_problem(await client.get(coverage, headers=person.headers), 403, "forbidden")
    at(NOW + timedelta(days=1))
    person = signed_in_again(person)
    assert (await client.get(coverage, headers=person.headers)).status_code == 200


# --- ending ------------------------------------------------------------------------------


async def test_delete_ends_an_assignment_from_today(client, tree, admin):
    person = await make_person(("dispatcher", T1), name="值班员")
    own = (await client.get("/api/v1/assignments", headers=person.headers)).json()["items"]
    assignment_id = own[0]["id"]
    coverage = f"/api/v1/areas/{tree[T1]}/coverage"
    assert (await client.get(coverage, headers=person.headers)).status_code == 200

    r = await client.delete(f"/api/v1/assignments/{assignment_id}", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["valid_to"] == YESTERDAY.isoformat()

    assert await me(client, person) == []
    assert_problem(await client.get(coverage, headers=person.headers), 403, "forbidden")
    r = await client.post(
        "/api/v1/assignments",
        headers=person.headers,
        json={"duty": "grid_worker", "area_code": G1, "account_id": person.id},
    )
    assert_problem(r, 403, "forbidden")
    listed = await client.get(
        "/api/v1/assignments", params={"area_id": tree[T1]}, headers=admin.headers
    )
    assert [(a["id"], a["valid_to"]) for a in listed.json()["items"]] == [
        (assignment_id, YESTERDAY.isoformat())
    ]


async def test_ending_is_idempotent_and_never_extends_a_past_end(client, tree, admin):
    person = await make_person(name="离任")
    created = await post(
        client,
        admin,
        duty="grid_worker",
        area_code=G1,
        account_id=person.id,
        valid_from=(TODAY - timedelta(days=60)).isoformat(),
        valid_to=(TODAY - timedelta(days=30)).isoformat(),
    )
    url = f"/api/v1/assignments/{created.json()['id']}"
    for _ in range(2):
        r = await client.delete(url, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert r.json()["valid_to"] == (TODAY - timedelta(days=30)).isoformat()
    ended = await post(client, admin, duty="grid_leader", area_code=G1, account_id=person.id)
    url = f"/api/v1/assignments/{ended.json()['id']}"
    assert (await client.delete(url, headers=admin.headers)).json()["valid_to"] == (
        YESTERDAY.isoformat()
    )
    at(NOW + timedelta(days=5))
    admin = signed_in_again(admin)
    assert (await client.delete(url, headers=admin.headers)).json()["valid_to"] == (
        YESTERDAY.isoformat()
    )


async def test_delete_cancels_an_assignment_that_has_not_started(client, tree, admin):
    person = await make_person(name="候任")
    start = TODAY + timedelta(days=7)
    created = await post(
        client,
        admin,
        duty="grid_worker",
        area_code=G1,
        account_id=person.id,
        valid_from=start.isoformat(),
    )
    r = await client.delete(f"/api/v1/assignments/{created.json()['id']}", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert date.fromisoformat(r.json()["valid_to"]) < start
    at(NOW + timedelta(days=8))
    assert await me(client, signed_in_again(person)) == []


async def test_patch_sets_the_last_day(client, tree, admin):
    person = await make_person(("grid_worker", G1), name="短期")
    assignment_id = (await _ids_of(client, person))[0]
    url = f"/api/v1/assignments/{assignment_id}"
    last = TODAY + timedelta(days=3)
    r = await client.patch(url, json={"valid_to": last.isoformat()}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["valid_to"] == last.isoformat()
    at(NOW + timedelta(days=3))
    assert await me(client, signed_in_again(person)) == [("grid_worker", G1)]
    at(NOW + timedelta(days=4))
    assert await me(client, signed_in_again(person)) == []
    admin = signed_in_again(admin)
    r = await client.patch(url, json={"valid_to": None}, headers=admin.headers)
    assert_problem(r, 422, "validation_failed", "valid_to")
    # an ended assignment can be extended again
    later = TODAY + timedelta(days=30)
    r = await client.patch(url, json={"valid_to": later.isoformat()}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert await me(client, signed_in_again(person)) == [("grid_worker", G1)]


async def test_patch_refuses_a_last_day_before_the_first(client, tree, admin):
    person = await make_person(("grid_worker", G1))
    assignment_id = (await _ids_of(client, person))[0]
    url = f"/api/v1/assignments/{assignment_id}"
    r = await client.patch(
        url, json={"valid_to": (TODAY - timedelta(days=2)).isoformat()}, headers=admin.headers
    )
    assert_problem(r, 422, "validation_failed", "valid_to")
    r = await client.patch(url, json={"valid_to": "next week"}, headers=admin.headers)
    assert_problem(r, 422, "validation_failed", "valid_to")
    r = await client.patch(url, json={}, headers=admin.headers)
    assert_problem(r, 422, "validation_failed")


async def test_changes_outside_the_callers_area_are_refused(client, tree):
    dispatcher = await make_person(("dispatcher", T1))
    other = await make_person(("grid_worker", G3))
    other_id = (await _ids_of(client, other))[0]
    url = f"/api/v1/assignments/{other_id}"
    assert_problem(await client.delete(url, headers=dispatcher.headers), 403, "forbidden")
    r = await client.patch(url, json={"valid_to": TODAY.isoformat()}, headers=dispatcher.headers)
    assert_problem(r, 403, "forbidden")
    assert_problem(await client.get(url, headers=dispatcher.headers), 403, "forbidden")
    assert (await client.get(url, headers=other.headers)).status_code == 200  # one's own
    assert await me(client, other) == [("grid_worker", G3)]
    r = await client.delete("/api/v1/assignments/999999", headers=dispatcher.headers)
    assert_problem(r, 404, "assignment_not_found")


# --- audit -------------------------------------------------------------------------------


async def test_creating_and_ending_are_audited_with_the_actor(client, tree):
    dispatcher = await make_person(("dispatcher", T1), name="值班员")
    worker = await make_person(name="网格员")
    r = await post(client, dispatcher, duty="grid_worker", area_code=G1, account_id=worker.id)
    assignment_id = r.json()["id"]
    await client.patch(
        f"/api/v1/assignments/{assignment_id}",
        json={"valid_to": TOMORROW.isoformat()},
        headers=dispatcher.headers,
    )
    await client.delete(f"/api/v1/assignments/{assignment_id}", headers=dispatcher.headers)
    rows = (
        await AuditEntry.select()
        .where(
            (AuditEntry.object_type == "assignment") & (AuditEntry.object_id == str(assignment_id))
        )
        .order_by(AuditEntry.id)
        .output(load_json=True)
        .run()
    )
    assert [(r["action"], r["actor_id"], r["object_id"]) for r in rows] == [
        ("assignment.create", dispatcher.id, str(assignment_id)),
        ("assignment.end", dispatcher.id, str(assignment_id)),
        ("assignment.end", dispatcher.id, str(assignment_id)),
    ]
    assert all(r["area_path"].endswith(f"/{G1}/") for r in rows)
    assert rows[0]["detail"] == {
        "account_id": worker.id,
        "duty": "grid_worker",
        "area_id": tree[G1],
    }
    assert rows[1]["detail"] == {"valid_to": TOMORROW.isoformat(), "previous_valid_to": None}
    assert rows[2]["detail"] == {
        "valid_to": YESTERDAY.isoformat(),
        "previous_valid_to": TOMORROW.isoformat(),
    }
    # a refused change writes nothing
    outsider = await make_person(("dispatcher", T2))
    count = await AuditEntry.count().run()
    await post(client, outsider, duty="grid_worker", area_code=G1, account_id=worker.id)
    await client.delete(f"/api/v1/assignments/{assignment_id}", headers=outsider.headers)
    assert await AuditEntry.count().run() == count


# --- paging ------------------------------------------------------------------------------


async def _many(count: int) -> list[int]:
    people = [await make_person(name=f"p{i}") for i in range(4)]
    ids = []
    for i in range(count):
        grid = (G1, G3, G4)[i % 3]
        row = await create_assignment(
            data=AssignmentCreate(duty="responder", area_code=grid, account_id=people[i % 4].id),
            grants=None,
            actor_id=None,
        )
        ids.append(row.id)
    return ids


async def walk(client, caller: Person, limit: int, **params) -> tuple[list[int], list[int]]:
    """Every id across the pages, and each page's size."""
    seen: list[int] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(100):
        query = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/api/v1/assignments", params=query, headers=caller.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [a["id"] for a in body["items"]]
        sizes.append(len(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, sizes
    raise AssertionError("the cursor never ran out")


@pytest.mark.parametrize("limit", [1, 4, 5, 50])
async def test_pages_walk_every_row_exactly_once(client, tree, admin, limit):
    ids = await _many(14)
    everything = sorted(ids + await _ids_of(client, admin))
    seen, sizes = await walk(client, admin, limit)
    assert seen == everything
    assert len(set(seen)) == len(seen)
    assert all(size == limit for size in sizes[:-1])
    assert 0 < sizes[-1] <= limit


async def test_pages_keep_to_the_callers_area_and_filters(client, tree):
    ids = await _many(12)  # responders in G1, G3, G4 in turn
    dispatcher = await make_person(("dispatcher", T1))
    own = await _ids_of(client, dispatcher)
    seen, _ = await walk(client, dispatcher, 2)
    assert seen == sorted(own + ids[0::3])
    seen, _ = await walk(client, dispatcher, 2, duty="responder")
    assert seen == ids[0::3]
    admin = await make_person(("admin", CITY))
    seen, _ = await walk(client, admin, 3, area_id=tree[D1])
    assert seen == sorted(own + ids[0::3] + ids[1::3])


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        base64.urlsafe_b64encode(b"x:12").decode(),
        base64.urlsafe_b64encode(b"i:-3").decode(),
        base64.urlsafe_b64encode(b"i:").decode(),
        "\u00e9t\u00e9",
        "A" * 65,
    ],
)
async def test_a_bad_cursor_is_a_problem(client, tree, admin, cursor):
    r = await client.get("/api/v1/assignments", params={"cursor": cursor}, headers=admin.headers)
    assert_problem(r, 422, "validation_failed")
    assert r.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("limit", ["0", "201", "many"])
async def test_a_bad_limit_is_a_problem(client, tree, admin, limit):
    r = await client.get("/api/v1/assignments", params={"limit": limit}, headers=admin.headers)
    assert_problem(r, 422, "validation_failed")
    assert r.json()["errors"][0]["field"] == "limit"


@pytest.mark.parametrize(
    ("appointer", "duty", "status"),
    [
        ("dispatcher", "commander", 403),
        ("dispatcher", "dispatcher", 403),
        ("dispatcher", "board_handler", 201),
        ("commander", "dispatcher", 201),
        ("commander", "commander", 403),
        ("supervisor", "commander", 201),
        ("supervisor", "supervisor", 403),
    ],
)
async def test_managers_appoint_only_duties_below_their_own(client, appointer, duty, status):
    await make_tree()
    where = {"supervisor": "500103", "commander": "500103001", "dispatcher": "500103001"}
    boss = await make_person((appointer, where[appointer]))
    other = await make_person()
    body = {
        "duty": duty,
        "area_code": where.get(duty, "500103001"),
        "account_id": other.id,
    }
    if duty == "board_handler":
        body["board"] = "safety_law"
    r = await client.post("/api/v1/assignments", json=body, headers=boss.headers)
    assert r.status_code == status, r.text


async def test_a_dispatcher_cannot_end_the_commanders_duty(client):
    await make_tree()
    commander = await make_person(("commander", "500103001"))
    dispatcher = await make_person(("dispatcher", "500103001"))
    listed = await client.get(
        "/api/v1/assignments", params={"account_id": commander.id}, headers=dispatcher.headers
    )
    assignment_id = listed.json()["items"][0]["id"]
    r = await client.delete(f"/api/v1/assignments/{assignment_id}", headers=dispatcher.headers)
    assert r.status_code == 403
    me = await client.get("/api/v1/me", headers=commander.headers)
    assert [a["duty"] for a in me.json()["assignments"]] == ["commander"]
