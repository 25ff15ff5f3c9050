"""The hazard workflow over HTTP: every transition of workflow.TRANSITIONS from each of its
states for the role that owns it, every refusal (state, duty, area, fields) leaving the case
as it was, deadlines and the suspended clock, merging, relocating, fixing on the spot, the
reporter's points and the "what may I do now" list."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import factories
import pytest
from factories import (
    D2,
    G1,
    G2,
    G3,
    POINT_IN,
    T1,
    T2,
    Person,
    file_report,
    usual,
    who,
)
from factories import upload_photo as upload

from grid_backend.core import clock
from grid_backend.core.security import issue_access_token
from grid_backend.hazards import rewards
from grid_backend.hazards.services import planners
from grid_backend.hazards.tables import HazardEvent, HazardReport, PointsEntry
from grid_backend.hazards.workflow import STATUSES, TRANSITIONS
from grid_backend.settings import get_settings


@dataclass(kw_only=True)
class Crew(factories.World):
    """The people who take a case of G1 through the workflow."""

    resident: Person  # files the cases
    neighbour: Person  # another resident
    dispatcher: Person
    worker: Person  # grid worker of G1, where the cases are
    leader: Person  # grid leader of G1


@dataclass(kw_only=True)
class World(Crew):
    """The crew and everyone around them, in and out of the case's area."""

    commander: Person
    supervisor: Person
    worker2: Person  # grid worker of G2, same township
    board: Person  # board handler of T1, safety and law
    board_other: Person  # board handler of T1, economy
    far_dispatcher: Person  # dispatcher of the other township
    far_supervisor: Person  # supervisor of the other district
    far_worker: Person  # grid worker of G3, the other township


CREW = {
    "resident": who(name="居民"),
    "neighbour": who(name="邻居"),
    "dispatcher": usual("dispatcher", "调度员"),
    "worker": usual("worker"),
    "leader": usual("leader"),
}


async def crew() -> Crew:
    return await factories.make_world(Crew, **CREW)


async def world() -> World:
    return await factories.make_world(
        World,
        **CREW,
        commander=usual("commander", "指挥长"),
        supervisor=usual("supervisor", "督查"),
        worker2=who(("grid_worker", G2), employment="full_time"),
        board=usual("board"),
        board_other=who(("board_handler", T1), board="economy"),
        far_dispatcher=who(("dispatcher", T2)),
        far_supervisor=who(("supervisor", D2)),
        far_worker=who(("grid_worker", G3), employment="full_time"),
    )


def supervision(deadline: datetime | None = None) -> dict:
    deadline = deadline or clock.now() + timedelta(days=30)
    return {
        "responsibility": "街道安全办",
        "measures": "设置围挡，更换管道",
        "funds": "街道应急资金 5 万元",
        "deadline": deadline.isoformat(),
        "contingency_plan": "燃气泄漏应急预案",
    }


async def act(client, person: Person, report_id: int, action: str, **body):
    return await client.post(
        f"/api/v1/reports/{report_id}/actions",
        json={"action": action, **body},
        headers=person.headers,
    )


async def ok(client, person: Person, report_id: int, action: str, **body) -> dict:
    r = await act(client, person, report_id, action, **body)
    assert r.status_code == 200, r.text
    return r.json()


async def read(client, person: Person, report_id: int) -> dict:
    r = await client.get(f"/api/v1/reports/{report_id}", headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def events(report_id: int) -> list[dict]:
    return (
        await HazardEvent.select()
        .where(HazardEvent.report == report_id)
        .order_by(HazardEvent.id)
        .output(load_json=True)
        .run()
    )


async def balance(client, person: Person) -> int:
    r = await client.get("/api/v1/me/points", headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()["balance"]


async def snapshot(report_id: int) -> tuple:
    """What a refused action must leave as it was."""
    row = await HazardReport.select().where(HazardReport.id == report_id).first().run()
    n_points = await PointsEntry.count().run()
    return row, len(await events(report_id)), n_points


def expect_error(r, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    problem = r.json()
    assert problem["code"] == code, problem
    if field is not None:
        assert [e["field"] for e in problem["errors"]] == [field], problem


async def refused(
    client, person: Person, report_id: int, action: str, status: int, code: str, **body
) -> dict:
    """The action is refused with this status and code, and the case is left untouched."""
    before = await snapshot(report_id)
    r = await act(client, person, report_id, action, **body)
    expect_error(r, status, code)
    assert await snapshot(report_id) == before
    return r.json()


# --- driving a case to a state ---------------------------------------------------------------

ROUTE = {
    "submitted": [],
    "registered": ["register"],
    "dispatched": ["register", "dispatch"],
    "in_progress": ["register", "dispatch", "acknowledge"],
    "suspended": ["register", "dispatch", "acknowledge", "suspend"],
    "pending_check": ["register", "dispatch", "acknowledge", "report_fixed"],
    "closed": ["register", "dispatch", "acknowledge", "report_fixed", "pass_check"],
    "rejected": ["reject"],
    "merged": ["merge"],
}
assert set(ROUTE) == set(STATUSES)


async def standard(client, w: Crew, report_id: int, action: str) -> tuple[Person, dict]:
    """The person who owns the action on a general case of G1 dispatched to the G1 worker,
    and valid fields for it."""
    if action in ("acknowledge", "report_fixed"):
        person = w.worker
    elif action == "fix_on_spot":
        person = w.leader
    else:
        person = w.dispatcher
    body: dict = {}
    if TRANSITIONS[action].reason_required:
        body["reason"] = f"{action} 的原因"
    if action == "dispatch":
        body["assignee_id"] = w.worker.id
    elif action == "merge":
        body["into"] = (await file_report(client, w.neighbour))["id"]
    elif action == "report_fixed":
        body["photo_ids"] = [await upload(client, person, "flower.jpg")]
    elif action == "fix_on_spot":
        body["before_photo_ids"] = [await upload(client, person, "hopper.jpg")]
        body["photo_ids"] = [await upload(client, person, "flower.jpg")]
    elif action == "relocate":
        lat, lng = POINT_IN[G2]
        body["location"] = {"lat": lat, "lng": lng}
    return person, body


async def case_in(client, w: Crew, status: str, **register: object) -> int:
    """A resident's case in G1 driven to `status` by the people who own each step."""
    report_id = (await file_report(client, w.resident))["id"]
    for action in ROUTE[status]:
        person, body = await standard(client, w, report_id, action)
        if action == "register":
            body.update(register)
        await ok(client, person, report_id, action, **body)
    return report_id


SOURCES = [(t.action, s) for t in TRANSITIONS.values() for s in sorted(t.sources)]


@pytest.mark.parametrize(("action", "source"), SOURCES, ids=[f"{a}-{s}" for a, s in SOURCES])
async def test_every_transition_from_every_source(client, action, source):
    w = await crew()
    report_id = await case_in(client, w, source)
    person, body = await standard(client, w, report_id, action)
    before = await events(report_id)

    case = await ok(client, person, report_id, action, **body)

    target = TRANSITIONS[action].target or source
    assert case["status"] == target
    after = await events(report_id)
    assert len(after) == len(before) + 1
    event = after[-1]
    assert (event["action"], event["from_status"], event["to_status"]) == (action, source, target)
    assert event["actor"] == person.id
    expected_duty = {w.dispatcher.id: "dispatcher", w.worker.id: "grid_worker"}.get(
        person.id, "grid_leader"
    )
    assert event["duty"] == expected_duty
    assert event["public"] is TRANSITIONS[action].public
    if TRANSITIONS[action].reason_required:
        assert event["note"] == body["reason"]
        assert event["data"]["reason"] == body["reason"]
    # the staff timeline shows it; the reporter's shows it only if it is public
    staff = await read(client, w.dispatcher, report_id)
    assert staff["timeline"][-1]["action"] == action
    mine = await read(client, w.resident, report_id)
    assert (mine["timeline"][-1]["action"] == action) is TRANSITIONS[action].public
    assert (case["closed_at"] is not None) is (target == "closed")


@pytest.mark.parametrize("status", STATUSES)
async def test_actions_from_the_wrong_state_are_refused(client, status):
    w = await crew()
    report_id = await case_in(client, w, status)
    other = (await file_report(client, w.neighbour))["id"]
    wrong = [a for a, t in TRANSITIONS.items() if status not in t.sources]
    assert wrong
    photo = await upload(client, w.dispatcher, "flower.jpg")
    lat, lng = POINT_IN[G2]
    for action in wrong:
        body = {
            "reason": "原因",
            "assignee_id": w.worker.id,
            "into": other,
            "photo_ids": [photo],
            "location": {"lat": lat, "lng": lng},
        }
        if action == "fix_on_spot":
            body["before_photo_ids"] = [await upload(client, w.dispatcher)]
        await refused(client, w.dispatcher, report_id, action, 409, "action_not_allowed", **body)
    assert (await read(client, w.dispatcher, report_id))["status"] == status


# --- who may act ------------------------------------------------------------------------------


async def test_wrong_duty_and_wrong_area_are_refused(client):
    w = await world()
    report_id = await case_in(client, w, "submitted")

    # staff who see the case but do not command it
    for person in (w.worker, w.leader, w.board):
        await refused(client, person, report_id, "register", 403, "forbidden")
        await refused(client, person, report_id, "reject", 403, "forbidden", reason="不是隐患")
    # people who cannot see the case at all do not learn that it exists
    for person in (w.neighbour, w.far_dispatcher, w.far_supervisor, w.far_worker, w.worker2):
        for action in ("register", "reject", "fix_on_spot", "relocate"):
            await refused(client, person, report_id, action, 404, "report_not_found", reason="x")
        r = await client.get(f"/api/v1/reports/{report_id}", headers=person.headers)
        expect_error(r, 404, "report_not_found")
    # the reporter sees their case, so being refused an action is a 403, not a 404
    await read(client, w.resident, report_id)
    for action in ("register", "reject", "merge", "relocate", "fix_on_spot"):
        await refused(client, w.resident, report_id, action, 403, "forbidden", reason="x")

    # the commander and the district supervisor command the township's cases
    for person in (w.commander, w.supervisor):
        other = await case_in(client, w, "submitted")
        await ok(client, person, other, "register")

    # once dispatched to the G1 worker, only assignees acknowledge
    await ok(client, w.dispatcher, report_id, "register")
    await ok(client, w.dispatcher, report_id, "dispatch", assignee_id=w.worker.id)
    for person in (w.dispatcher, w.supervisor, w.leader, w.board):
        await refused(client, person, report_id, "acknowledge", 403, "forbidden")
    await refused(client, w.far_worker, report_id, "acknowledge", 404, "report_not_found")
    await refused(client, w.resident, report_id, "acknowledge", 403, "forbidden")
    await ok(client, w.worker, report_id, "acknowledge")
    photo = await upload(client, w.dispatcher, "flower.jpg")
    await refused(
        client, w.dispatcher, report_id, "report_fixed", 403, "forbidden", photo_ids=[photo]
    )
    await refused(client, w.worker, report_id, "suspend", 403, "forbidden", reason="等待材料")


async def test_reasons_are_required(client):
    w = await world()
    needing = {a for a, t in TRANSITIONS.items() if t.reason_required}
    assert needing == {"reject", "return", "suspend", "resume", "fail_check", "reopen"}
    for action in sorted(needing):
        source = sorted(TRANSITIONS[action].sources)[0]
        report_id = await case_in(client, w, source)
        person, _ = await standard(client, w, report_id, action)
        for reason in ({}, {"reason": ""}, {"reason": "   "}):
            await refused(client, person, report_id, action, 422, "reason_required", **reason)
        r = await act(client, person, report_id, action, reason="x" * 501)
        expect_error(r, 422, "validation_failed")
        await ok(client, person, report_id, action, reason="  理由  ")
        assert (await events(report_id))[-1]["note"] == "理由"


# --- dispatch ---------------------------------------------------------------------------------


async def test_dispatch_needs_exactly_one_valid_target(client):
    w = await world()
    report_id = await case_in(client, w, "registered")
    code = "dispatch_target_required"
    await refused(client, w.dispatcher, report_id, "dispatch", 422, code)
    await refused(
        client,
        w.dispatcher,
        report_id,
        "dispatch",
        422,
        code,
        assignee_id=w.worker.id,
        board="economy",
    )
    await refused(
        client,
        w.dispatcher,
        report_id,
        "dispatch",
        422,
        code,
        assignee_id=w.worker.id,
        grid_id=w.areas[G1],
    )
    # an assignee must hold a duty in the case's township
    for person in (w.far_worker, w.neighbour, w.far_dispatcher):
        await refused(
            client,
            w.dispatcher,
            report_id,
            "dispatch",
            422,
            "assignee_invalid",
            assignee_id=person.id,
        )
    await refused(
        client, w.dispatcher, report_id, "dispatch", 422, "assignee_invalid", assignee_id=10**9
    )
    # a grid outside the dispatcher's township, an area that is not a grid, an unknown board
    for grid in (w.areas[G3], w.areas[T1], 10**9):
        await refused(
            client, w.dispatcher, report_id, "dispatch", 422, "validation_failed", grid_id=grid
        )
    await refused(
        client, w.dispatcher, report_id, "dispatch", 422, "validation_failed", board="sports"
    )
    # a deadline in the past, or without its UTC offset (not a 500)
    past = (clock.now() - timedelta(hours=1)).isoformat()
    naive = (clock.now() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    for due_at in (past, naive):
        r = await act(
            client, w.dispatcher, report_id, "dispatch", assignee_id=w.worker.id, due_at=due_at
        )
        expect_error(r, 422, "validation_failed", field="due_at")
    assert (await read(client, w.dispatcher, report_id))["status"] == "registered"

    # a person in another grid of the township may be the assignee, and acts on it
    case = await ok(client, w.dispatcher, report_id, "dispatch", assignee_id=w.worker2.id)
    assert case["assignee_id"] == w.worker2.id
    assert (await read(client, w.worker2, report_id))["actions"] == ["acknowledge", "return"]
    await ok(client, w.worker2, report_id, "acknowledge")


async def test_dispatch_to_a_grid_or_a_board(client):
    w = await world()
    # to a grid: its staff are the assignees
    report_id = await case_in(client, w, "registered")
    case = await ok(client, w.dispatcher, report_id, "dispatch", grid_id=w.areas[G2])
    assert (case["assignee_id"], case["assigned_area_id"], case["board"]) == (
        None,
        w.areas[G2],
        None,
    )
    await refused(client, w.worker, report_id, "acknowledge", 403, "forbidden")
    await ok(client, w.worker2, report_id, "acknowledge")

    # to a board: its handlers in the township are the assignees
    report_id = await case_in(client, w, "registered")
    case = await ok(client, w.dispatcher, report_id, "dispatch", board="safety_law")
    assert case["board"] == "safety_law"
    await refused(client, w.board_other, report_id, "acknowledge", 403, "forbidden")
    await refused(client, w.worker, report_id, "acknowledge", 403, "forbidden")
    assert (await read(client, w.board, report_id))["actions"] == ["acknowledge", "return"]
    await ok(client, w.board, report_id, "acknowledge")


async def test_an_assignee_who_returns_a_case_gets_the_result(client):
    """Returning takes the case out of the assignee's sight: the answer is still the result
    of what they did, not a 404 after the change was made."""
    w = await world()
    report_id = await case_in(client, w, "registered")
    await ok(client, w.dispatcher, report_id, "dispatch", assignee_id=w.worker2.id)
    case = await ok(client, w.worker2, report_id, "return", reason="不属于本网格")
    assert case["status"] == "registered"
    assert case["assignee_id"] is None
    r = await client.get(f"/api/v1/reports/{report_id}", headers=w.worker2.headers)
    expect_error(r, 404, "report_not_found")
    await refused(client, w.worker2, report_id, "acknowledge", 404, "report_not_found")


async def test_redispatch_replaces_the_earlier_assignee(client):
    w = await world()
    report_id = await case_in(client, w, "closed")
    await ok(client, w.dispatcher, report_id, "reopen", reason="群众反映仍在漏气")
    case = await ok(client, w.dispatcher, report_id, "dispatch", board="safety_law")
    assert (case["assignee_id"], case["assigned_area_id"], case["board"]) == (
        None,
        None,
        "safety_law",
    )
    # the worker who had it the first time is no longer an assignee
    assert (await read(client, w.worker, report_id))["actions"] == []
    await refused(client, w.worker, report_id, "acknowledge", 403, "forbidden")
    await ok(client, w.board, report_id, "acknowledge")


async def test_return_by_command_clears_the_assignment(client):
    w = await world()
    report_id = await case_in(client, w, "dispatched")
    case = await ok(client, w.dispatcher, report_id, "return", reason="改派")
    assert case["status"] == "registered"
    assert case["assignee_id"] is None
    assert case["overdue"] is False
    assert case["due_at"] is not None


# --- major hazards ------------------------------------------------------------------------------


async def test_major_hazard_needs_supervision_and_a_supervisor_to_close(client):
    w = await world()
    report_id = await case_in(client, w, "registered", level="major")
    assert (await read(client, w.dispatcher, report_id))["level"] == "major"

    await refused(
        client,
        w.dispatcher,
        report_id,
        "dispatch",
        422,
        "supervision_required",
        assignee_id=w.worker.id,
    )
    past = supervision(clock.now() - timedelta(days=1))
    problem = await refused(
        client,
        w.dispatcher,
        report_id,
        "dispatch",
        422,
        "validation_failed",
        assignee_id=w.worker.id,
        supervision=past,
    )
    assert problem["errors"][0]["field"] == "supervision.deadline"
    deadline = (clock.now() + timedelta(days=30)).replace(microsecond=0)
    case = await ok(
        client,
        w.dispatcher,
        report_id,
        "dispatch",
        assignee_id=w.worker.id,
        supervision=supervision(deadline),
    )
    assert datetime.fromisoformat(case["rectify_due_at"]) == deadline
    assert case["supervision"]["funds"] == "街道应急资金 5 万元"
    # the listing is staff-only
    assert (await read(client, w.resident, report_id))["supervision"] is None
    await ok(client, w.worker, report_id, "acknowledge")
    case = await read(client, w.worker, report_id)
    assert datetime.fromisoformat(case["due_at"]) == deadline
    await ok(
        client, w.worker, report_id, "report_fixed", photo_ids=[await upload(client, w.worker)]
    )

    # a dispatcher can send it back but not close it; the district supervisor closes it
    assert (await read(client, w.dispatcher, report_id))["actions"] == ["fail_check", "relocate"]
    assert (await read(client, w.supervisor, report_id))["actions"] == [
        "pass_check",
        "fail_check",
        "relocate",
    ]
    await refused(client, w.dispatcher, report_id, "pass_check", 403, "forbidden")
    await refused(client, w.commander, report_id, "pass_check", 403, "forbidden")
    await refused(client, w.far_supervisor, report_id, "pass_check", 404, "report_not_found")
    await ok(client, w.supervisor, report_id, "fail_check", reason="围挡不到位")
    await ok(
        client, w.worker, report_id, "report_fixed", photo_ids=[await upload(client, w.worker)]
    )
    case = await ok(client, w.supervisor, report_id, "pass_check")
    assert case["status"] == "closed"
    assert (await events(report_id))[-1]["duty"] == "supervisor"


async def test_a_returned_major_hazard_keeps_its_listing(client):
    w = await world()
    report_id = await case_in(client, w, "registered", level="major")
    await ok(
        client, w.dispatcher, report_id, "dispatch", board="safety_law", supervision=supervision()
    )
    await ok(client, w.board, report_id, "return", reason="转交网格")
    case = await ok(client, w.dispatcher, report_id, "dispatch", assignee_id=w.worker.id)
    assert case["supervision"]["measures"] == "设置围挡，更换管道"


# --- deadlines ---------------------------------------------------------------------------------


def frozen_at(moment: datetime, *people: Person) -> None:
    """Move the clock; tokens are checked against it, so the people get fresh ones."""
    clock.set_clock(lambda: moment)
    for person in people:
        person.token = issue_access_token(person.id)[0]


async def overdue_ids(client, person: Person, overdue: bool) -> set[int]:
    r = await client.get(
        "/api/v1/reports", params={"overdue": str(overdue).lower()}, headers=person.headers
    )
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["items"]}


async def test_overdue_flag_and_filter(client):
    t0 = datetime.now(UTC).replace(microsecond=0)
    frozen_at(t0)
    w = await world()
    late = await case_in(client, w, "submitted")
    frozen_at(t0 + timedelta(minutes=30), w.dispatcher, w.resident)
    fresh = await case_in(client, w, "submitted")
    assert (await read(client, w.dispatcher, late))["overdue"] is False

    frozen_at(t0 + timedelta(minutes=61), w.dispatcher, w.resident)
    case = await read(client, w.dispatcher, late)
    assert case["overdue"] is True
    assert datetime.fromisoformat(case["due_at"]) == t0 + timedelta(minutes=60)
    assert (await read(client, w.dispatcher, fresh))["overdue"] is False
    assert await overdue_ids(client, w.dispatcher, True) == {late}
    assert await overdue_ids(client, w.dispatcher, False) == {fresh}
    listed = (await client.get("/api/v1/reports", headers=w.dispatcher.headers)).json()["items"]
    assert {c["id"]: c["overdue"] for c in listed} == {late: True, fresh: False}

    # registering starts a new stage; a finished case is never overdue
    await ok(client, w.dispatcher, late, "reject", reason="不是隐患")
    assert (await read(client, w.dispatcher, late))["overdue"] is False
    assert await overdue_ids(client, w.dispatcher, True) == set()
    assert await overdue_ids(client, w.dispatcher, False) == {late, fresh}


async def test_suspending_stops_the_clock(client):
    t0 = datetime.now(UTC).replace(microsecond=0)
    frozen_at(t0)
    w = await world()
    report_id = await case_in(client, w, "in_progress")
    case = await read(client, w.dispatcher, report_id)
    rectify = t0 + timedelta(days=3)
    assert datetime.fromisoformat(case["due_at"]) == rectify
    assert datetime.fromisoformat(case["rectify_due_at"]) == rectify

    frozen_at(t0 + timedelta(days=1), w.dispatcher, w.worker)
    await ok(client, w.dispatcher, report_id, "suspend", reason="等待燃气公司停气")
    # four days later, past the original deadline, the suspended case is not overdue
    frozen_at(t0 + timedelta(days=5), w.dispatcher, w.worker)
    case = await read(client, w.dispatcher, report_id)
    assert case["overdue"] is False
    assert report_id not in await overdue_ids(client, w.dispatcher, True)
    assert report_id in await overdue_ids(client, w.dispatcher, False)

    case = await ok(client, w.dispatcher, report_id, "resume", reason="已停气")
    assert datetime.fromisoformat(case["due_at"]) == rectify + timedelta(days=4)
    assert datetime.fromisoformat(case["rectify_due_at"]) == rectify + timedelta(days=4)
    assert (await events(report_id))[-1]["data"]["paused_seconds"] == 4 * 86400
    frozen_at(t0 + timedelta(days=6, hours=23), w.dispatcher)
    assert (await read(client, w.dispatcher, report_id))["overdue"] is False
    frozen_at(t0 + timedelta(days=7, minutes=1), w.dispatcher)
    assert (await read(client, w.dispatcher, report_id))["overdue"] is True
    assert report_id in await overdue_ids(client, w.dispatcher, True)


async def test_fail_check_counts_rework_and_restores_the_deadline(client):
    w = await world()
    report_id = await case_in(client, w, "pending_check")
    rectify = (await read(client, w.dispatcher, report_id))["rectify_due_at"]
    for n in (1, 2):
        case = await ok(client, w.dispatcher, report_id, "fail_check", reason="仍有异味")
        assert case["status"] == "in_progress"
        assert case["rework_count"] == n
        assert case["due_at"] == rectify
        photo = await upload(client, w.worker, "flower.jpg")
        await ok(client, w.worker, report_id, "report_fixed", photo_ids=[photo])
    case = await ok(client, w.dispatcher, report_id, "pass_check")
    assert case["rework_count"] == 2
    assert case["due_at"] is None


# --- merge, reopen, relocate, fix on the spot -----------------------------------------------------


async def test_merge_into_another_case(client):
    w = await world()
    target = await case_in(client, w, "registered")
    duplicate = (await file_report(client, w.neighbour))["id"]
    lat, lng = POINT_IN[G1]
    offer = await client.post(
        "/api/v1/reports/possible-duplicates",
        json={"category": "gas", "location": {"lat": lat, "lng": lng}},
        headers=w.resident.headers,
    )
    assert duplicate in [d["id"] for d in offer.json()]
    r = await client.post(f"/api/v1/reports/{duplicate}/support", headers=w.resident.headers)
    assert r.status_code == 200, r.text

    await refused(client, w.dispatcher, duplicate, "merge", 422, "merge_target_required")
    await refused(
        client, w.dispatcher, duplicate, "merge", 422, "validation_failed", into=duplicate
    )
    await refused(client, w.dispatcher, duplicate, "merge", 422, "report_not_found", into=10**9)
    elsewhere = (await file_report(client, w.neighbour, grid=G3))["id"]
    await refused(client, w.dispatcher, duplicate, "merge", 422, "report_not_found", into=elsewhere)
    closed = await case_in(client, w, "closed")
    await refused(client, w.dispatcher, duplicate, "merge", 422, "report_not_open", into=closed)

    target_events = len(await events(target))
    case = await ok(client, w.dispatcher, duplicate, "merge", into=target)
    assert case["status"] == "merged"
    assert case["merged_into"] == target
    assert case["due_at"] is None
    assert case["closed_at"] is None
    assert (await events(duplicate))[-1]["data"]["into"] == target
    merged = await read(client, w.dispatcher, target)
    assert merged["supporters"] == 2  # the duplicate's reporter and its one supporter
    assert merged["status"] == "registered"
    last = (await events(target))[-1]
    assert len(await events(target)) == target_events + 1
    assert (last["action"], last["from_status"], last["to_status"]) == (
        "merged_in",
        "registered",
        "registered",
    )
    assert last["data"] == {"from": duplicate}
    # a merged case is finished: nothing more can happen to it, and nothing can merge into it
    assert (await read(client, w.dispatcher, duplicate))["actions"] == []
    other = (await file_report(client, w.neighbour))["id"]
    await refused(client, w.dispatcher, other, "merge", 422, "report_not_open", into=duplicate)


async def test_reopen_a_closed_or_rejected_case(client):
    w = await world()
    for status in ("closed", "rejected"):
        report_id = await case_in(client, w, status)
        case = await ok(client, w.dispatcher, report_id, "reopen", reason="问题复发")
        assert case["status"] == "registered"
        assert case["closed_at"] is None
        assert case["overdue"] is False
        assert case["assignee_id"] is None
        await ok(client, w.dispatcher, report_id, "dispatch", assignee_id=w.worker.id)


async def test_relocate_reroutes_and_keeps_the_old_routing_in_the_timeline(client):
    w = await world()
    report_id = await case_in(client, w, "registered")
    lat, lng = POINT_IN[G2]
    case = await ok(client, w.dispatcher, report_id, "relocate", location={"lat": lat, "lng": lng})
    assert case["status"] == "registered"
    assert case["grid"]["code"] == G2
    assert case["area_path"].endswith(G2 + "/")
    assert (case["lat"], case["lng"]) == (lat, lng)
    event = case["timeline"][-1]
    assert event["action"] == "relocate"
    assert event["data"]["from"]["grid_id"] == w.areas[G1]
    assert event["data"]["to"]["grid_id"] == w.areas[G2]
    # the reporter's timeline does not show internal re-routing
    assert "relocate" not in [
        e["action"] for e in (await read(client, w.resident, report_id))["timeline"]
    ]
    # G1's staff lose the case and G2's get it
    expect_error(
        await client.get(f"/api/v1/reports/{report_id}", headers=w.worker.headers),
        404,
        "report_not_found",
    )
    assert (await read(client, w.worker2, report_id))["grid"]["code"] == G2

    # a position outside every grid is refused as a field error
    far = {"lat": 10.0, "lng": 10.0}
    before = await snapshot(report_id)
    r = await act(client, w.dispatcher, report_id, "relocate", location=far)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "location"
    assert await snapshot(report_id) == before
    await refused(client, w.dispatcher, report_id, "relocate", 422, "validation_failed")

    # to the other township: its dispatcher takes over; the answer still reaches the mover
    lat, lng = POINT_IN[G3]
    case = await ok(client, w.dispatcher, report_id, "relocate", location={"lat": lat, "lng": lng})
    assert case["township"]["code"] == T2
    expect_error(
        await client.get(f"/api/v1/reports/{report_id}", headers=w.dispatcher.headers),
        404,
        "report_not_found",
    )
    moves = [
        e
        for e in (await read(client, w.far_dispatcher, report_id))["timeline"]
        if e["action"] == "relocate"
    ]
    assert [m["data"]["from"]["grid_id"] for m in moves] == [w.areas[G1], w.areas[G2]]
    await ok(client, w.far_dispatcher, report_id, "dispatch", assignee_id=w.far_worker.id)


async def test_fix_on_the_spot_by_grid_staff(client):
    w = await world()
    report_id = await case_in(client, w, "submitted")
    before = await upload(client, w.leader, "hopper.jpg")
    after = await upload(client, w.leader, "flower.jpg")
    theirs = await upload(client, w.dispatcher, "exif_gps.jpg")

    await refused(
        client,
        w.dispatcher,
        report_id,
        "fix_on_spot",
        403,
        "forbidden",
        photo_ids=[theirs],
        before_photo_ids=[theirs],
    )
    await refused(
        client,
        w.worker2,
        report_id,
        "fix_on_spot",
        404,
        "report_not_found",
        photo_ids=[after],
        before_photo_ids=[before],
    )
    await refused(
        client, w.leader, report_id, "fix_on_spot", 422, "photo_required", photo_ids=[after]
    )
    await refused(
        client, w.leader, report_id, "fix_on_spot", 422, "photo_required", before_photo_ids=[before]
    )
    await refused(
        client,
        w.leader,
        report_id,
        "fix_on_spot",
        422,
        "photo_not_yours",
        photo_ids=[after],
        before_photo_ids=[theirs],
    )

    case = await ok(
        client, w.leader, report_id, "fix_on_spot", before_photo_ids=[before], photo_ids=[after]
    )
    assert case["status"] == "pending_check"
    assert (case["assignee_id"], case["assigned_area_id"]) == (w.leader.id, w.areas[G1])
    assert [(p["id"], p["kind"]) for p in case["photos"][1:]] == [
        (before, "before"),
        (after, "after"),
    ]
    assert await balance(client, w.resident) == 1

    # a failed check sends the rework back to the grid that fixed it
    await ok(client, w.dispatcher, report_id, "fail_check", reason="未彻底处理")
    assert (await read(client, w.worker, report_id))["actions"] == ["report_fixed"]
    await ok(
        client, w.worker, report_id, "report_fixed", photo_ids=[await upload(client, w.worker)]
    )
    await ok(client, w.dispatcher, report_id, "pass_check")
    assert await balance(client, w.resident) == 6


async def test_report_fixed_needs_the_assignees_own_photos(client):
    w = await world()
    report_id = await case_in(client, w, "in_progress")
    theirs = await upload(client, w.dispatcher, "flower.jpg")
    await refused(client, w.worker, report_id, "report_fixed", 422, "photo_required")
    await refused(
        client, w.worker, report_id, "report_fixed", 422, "photo_not_yours", photo_ids=[theirs]
    )
    mine = await upload(client, w.worker, "flower.jpg")
    case = await ok(
        client, w.worker, report_id, "report_fixed", photo_ids=[mine], note="已更换阀门"
    )
    assert case["photos"][-1]["kind"] == "after"
    assert (await events(report_id))[-1]["note"] == "已更换阀门"


# --- points -------------------------------------------------------------------------------------


async def entries(client, person: Person) -> list[tuple[str, int]]:
    r = await client.get("/api/v1/me/points", headers=person.headers)
    return [(e["reason"], e["delta"]) for e in reversed(r.json()["entries"])]


async def test_points_for_registered_confirmed_and_false_reports(client):
    w = await world()
    await case_in(client, w, "registered")
    assert await entries(client, w.resident) == [("registered", 1)]
    closed = await case_in(client, w, "closed")
    assert await balance(client, w.resident) == 1 + 6

    # rejected, but not as false: nothing; rejected as false: -3
    honest = (await file_report(client, w.neighbour))["id"]
    await ok(client, w.dispatcher, honest, "reject", reason="已有人处理")
    assert await entries(client, w.neighbour) == []
    false = (await file_report(client, w.neighbour))["id"]
    case = await ok(client, w.dispatcher, false, "reject", reason="恶意举报", false_report=True)
    assert case["timeline"][-1]["data"]["points"] == -3
    assert await entries(client, w.neighbour) == [("false_report", -3)]

    # reopening and closing again does not pay twice
    await ok(client, w.dispatcher, closed, "reopen", reason="复发")
    for action in ROUTE["closed"][1:]:
        person, body = await standard(client, w, closed, action)
        await ok(client, person, closed, action, **body)
    assert await balance(client, w.resident) == 1 + 6

    # staff reporting on patrol earn nothing
    patrol = (await file_report(client, w.worker))["id"]
    await ok(client, w.dispatcher, patrol, "register")
    assert await entries(client, w.worker) == []


async def test_a_merged_duplicate_earns_at_most_one_point(client):
    w = await world()
    first = await case_in(client, w, "registered")
    duplicate = (await file_report(client, w.neighbour))["id"]
    await ok(client, w.dispatcher, duplicate, "merge", into=first)
    assert await entries(client, w.neighbour) == [("duplicate", 1)]
    # registered first, merged later: still the one point
    late = (await file_report(client, w.neighbour))["id"]
    await ok(client, w.dispatcher, late, "register")
    await ok(client, w.dispatcher, late, "merge", into=first)
    assert await entries(client, w.neighbour) == [("duplicate", 1), ("registered", 1)]
    # the first reporter gets the reward when the case is closed
    for action in ROUTE["closed"][1:]:
        person, body = await standard(client, w, first, action)
        await ok(client, person, first, action, **body)
    assert await balance(client, w.resident) == 6
    assert await balance(client, w.neighbour) == 2


async def test_monthly_cap(client, monkeypatch):
    capped = dataclasses.replace(get_settings(), points_monthly_cap=3)
    monkeypatch.setattr(rewards, "get_settings", lambda: capped)
    monkeypatch.setattr(planners, "get_settings", lambda: capped)
    w = await world()
    first = await case_in(client, w, "registered")
    second = await case_in(client, w, "registered")
    for action in ROUTE["closed"][1:]:
        person, body = await standard(client, w, first, action)
        await ok(client, person, first, action, **body)
    r = (await client.get("/api/v1/me/points", headers=w.resident.headers)).json()
    assert (r["balance"], r["month_awarded"], r["monthly_cap"]) == (3, 3, 3)
    assert "monthly cap" in r["entries"][0]["note"]
    assert (await events(first))[-1]["data"]["points"] == 1
    for action in ROUTE["closed"][1:]:
        person, body = await standard(client, w, second, action)
        await ok(client, person, second, action, **body)
    assert await balance(client, w.resident) == 3
    assert "points" not in (await events(second))[-1]["data"]
    # the cap limits awards, not penalties
    false = (await file_report(client, w.resident))["id"]
    await ok(client, w.dispatcher, false, "reject", reason="虚假", false_report=True)
    assert await balance(client, w.resident) == 0


# --- what may I do now --------------------------------------------------------------------------


async def test_actions_list_what_the_caller_may_do_now(client):
    w = await world()
    expected = {
        "submitted": {
            "dispatcher": ["register", "reject", "merge", "relocate"],
            "supervisor": ["register", "reject", "merge", "relocate"],
            "worker": ["fix_on_spot"],
            "leader": ["fix_on_spot"],
            "worker2": None,
            "board": [],
            "resident": [],
        },
        "registered": {
            "dispatcher": ["merge", "dispatch", "relocate"],
            "worker": [],
            "resident": [],
        },
        "dispatched": {
            "dispatcher": ["return", "relocate"],
            "worker": ["acknowledge", "return"],
            "leader": [],
            "resident": [],
        },
        "in_progress": {
            "dispatcher": ["suspend", "relocate"],
            "worker": ["report_fixed"],
            "resident": [],
        },
        "suspended": {"dispatcher": ["resume", "relocate"], "worker": [], "resident": []},
        "pending_check": {
            "dispatcher": ["pass_check", "fail_check", "relocate"],
            "supervisor": ["pass_check", "fail_check", "relocate"],
            "worker": [],
        },
        "closed": {"dispatcher": ["reopen"], "worker": [], "resident": []},
        "rejected": {"dispatcher": ["reopen"], "resident": []},
        "merged": {"dispatcher": [], "resident": []},
    }
    for status, by_person in expected.items():
        report_id = await case_in(client, w, status)
        for name, actions in by_person.items():
            person = getattr(w, name)
            r = await client.get(f"/api/v1/reports/{report_id}", headers=person.headers)
            if actions is None:
                expect_error(r, 404, "report_not_found")
            else:
                assert r.status_code == 200, r.text
                assert r.json()["actions"] == actions, (status, name)
