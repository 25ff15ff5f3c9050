"""Random sequences of workflow actions by random people, through the service layer, with the
case's invariants checked after every step: the status is one of the workflow's, the timeline
is one unbroken chain with one event per change, an action succeeds exactly when the table
allows it to that person and the fields are right, a refused one changes nothing, closed cases
and only they have closed_at, and no report pays more than +1 and +5."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from factories import G1, G2, POINT_IN, make_person, make_tree, upload_photo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grid_backend.core import clock
from grid_backend.core.db import engine
from grid_backend.core.errors import DomainError
from grid_backend.flows import cases as case_flow
from grid_backend.flows import reports as report_flow
from grid_backend.hazards import services, workflow
from grid_backend.hazards.schemas import ActionIn, LocationIn, ReportCreate, Supervision
from grid_backend.hazards.tables import HazardEvent, HazardReport, PointsEntry
from grid_backend.people.duty import grants_of
from grid_backend.settings import get_settings

ACTORS = ("dispatcher", "worker", "supervisor", "resident")
N_CASES = 2

# What each person may ever succeed at, independently of the roles code: the resident nothing,
# the grid worker (the only assignee, and staff of G1) the assignee's and grid staff's actions,
# the dispatcher and the supervisor the command actions (only the supervisor closes majors).
COMMAND_ACTIONS = {
    a for a, t in workflow.TRANSITIONS.items() if "command" in t.roles or "acceptor" in t.roles
}
CAN_EVER = {
    "resident": set(),
    "worker": {"acknowledge", "return", "report_fixed", "fix_on_spot"},
    "dispatcher": COMMAND_ACTIONS,
    "supervisor": COMMAND_ACTIONS,
}


@dataclass
class Cast:
    actors: dict[str, services.Actor]
    photos: dict[str, list[int]]  # two photos uploaded by each person
    grid_g1: int


@pytest.fixture
async def cast(client) -> Cast:
    """The people and their photos, made once for all the examples of a test."""
    areas = await make_tree()
    people = {
        "dispatcher": await make_person(("dispatcher", "500103001")),
        "worker": await make_person(("grid_worker", G1), employment="full_time"),
        "supervisor": await make_person(("supervisor", "500103")),
        "resident": await make_person(),
    }
    photos = {
        name: [
            await upload_photo(client, p, "hopper.jpg"),
            await upload_photo(client, p, "flower.jpg"),
        ]
        for name, p in people.items()
    }
    actors = {name: services.Actor(p.id, await grants_of(p.id)) for name, p in people.items()}
    return Cast(actors, photos, areas[G1])


async def fresh_cases(cast: Cast) -> list[int]:
    """Empty the hazard tables (hypothesis runs every example inside one test) and file the
    resident's cases."""
    db = engine()
    await db.run_ddl("UPDATE hazard_report SET merged_into = NULL")
    for table in (
        "points_entry",
        "hazard_duplicate_offer",
        "hazard_support",
        "hazard_event",
        "hazard_photo",
        "hazard_report",
    ):
        await db.run_ddl(f"DELETE FROM {table}")
    lat, lng = POINT_IN[G1]
    ids = []
    for _ in range(N_CASES):
        report, _ = await report_flow.submit(
            data=ReportCreate(
                category="gas",
                location=LocationIn(lat=lat, lng=lng),
                photo_ids=[cast.photos["resident"][0]],
                reporter_safe=True,
            ),
            actor=cast.actors["resident"],
            idempotency_key=None,
        )
        ids.append(report.id)
    return ids


@dataclass
class State:
    """Everything an action may change: the cases (as the service reads them), their
    timelines and the points ledger. Read in three queries."""

    cases: dict[int, dict[str, Any]]
    events: dict[int, list[dict[str, Any]]]
    points: list[dict[str, Any]]


async def state(ids: list[int]) -> State:
    rows = (
        await HazardReport.select(*services._CASE_COLUMNS)
        .where(HazardReport.id.is_in(ids))
        .output(load_json=True)
        .run()
    )
    events = (
        await HazardEvent.select(
            HazardEvent.id,
            HazardEvent.report,
            HazardEvent.action,
            HazardEvent.from_status,
            HazardEvent.to_status,
            HazardEvent.actor,
        )
        .where(HazardEvent.report.is_in(ids))
        .order_by(HazardEvent.id)
        .run()
    )
    points = await PointsEntry.select().order_by(PointsEntry.id).run()
    return State(
        cases={r["id"]: r for r in rows},
        events={i: [e for e in events if e["report"] == i] for i in ids},
        points=points,
    )


# actions whose fields can be wrong on purpose
SPOILABLE = {"merge", "dispatch", "report_fixed", "fix_on_spot", "relocate"} | {
    a for a, t in workflow.TRANSITIONS.items() if t.reason_required
}


def body(
    data: st.DataObject, action: str, good: bool, case: dict, other: dict, cast: Cast, who: str
) -> tuple[ActionIn, bool]:
    """The action's fields, right or (good False) wrong on purpose; and whether they are
    right for this case now."""
    fields: dict[str, Any] = {}
    t = workflow.TRANSITIONS[action]
    right = good or action not in SPOILABLE
    if t.reason_required:
        fields["reason"] = "理由" if good else data.draw(st.sampled_from([None, "", "   "]))
    if action == "register":
        fields["level"] = data.draw(st.sampled_from([None, "general", "major"]))
    elif action == "reject":
        fields["false_report"] = data.draw(st.booleans())
    elif action == "merge":
        fields["into"] = other["id"] if good else data.draw(st.sampled_from([None, case["id"]]))
        right = good and other["status"] in workflow.OPEN
    elif action == "dispatch" and good:
        if data.draw(st.booleans()):
            fields["assignee_id"] = cast.actors["worker"].account_id
        else:
            fields["grid_id"] = cast.grid_g1
        if case["level"] == "major" or data.draw(st.booleans()):
            fields["supervision"] = Supervision(
                responsibility="街道安全办",
                measures="围挡",
                funds="5万元",
                deadline=clock.now() + timedelta(days=10),
                contingency_plan="预案",
            )
    elif action in ("report_fixed", "fix_on_spot") and good:
        fields["photo_ids"] = [cast.photos[who][1]]
        if action == "fix_on_spot":
            fields["before_photo_ids"] = [cast.photos[who][0]]
    elif action == "relocate" and good:
        lat, lng = POINT_IN[data.draw(st.sampled_from([G1, G2]))]
        fields["location"] = LocationIn(lat=lat, lng=lng)
    return ActionIn(action=action, **fields), right


def check_invariants(now: State, expected_events: dict[int, int], resident: int) -> None:
    for report_id, case in now.cases.items():
        status = case["status"]
        assert status in workflow.STATUSES
        assert (case["closed_at"] is not None) is (status == "closed"), case
        if status == "suspended":
            assert case["suspended_at"] is not None
            assert not services.overdue(case, clock.now() + timedelta(days=3650))
        if status == "merged":
            assert case["merged_into"] in now.cases
        events = now.events[report_id]
        assert len(events) == expected_events[report_id]
        assert (events[0]["action"], events[0]["from_status"]) == ("submit", None)
        for before, after in zip(events, events[1:], strict=False):
            assert after["from_status"] == before["to_status"], events
        assert events[-1]["to_status"] == status
        awarded = [e["delta"] for e in now.points if e["report"] == report_id and e["delta"] > 0]
        assert sum(awarded) <= 1 + 5
    assert all(e["account"] == resident for e in now.points)
    assert sum(e["delta"] for e in now.points) <= (1 + 5) * len(now.cases)


def expected_refusal(
    case: dict, action: str, actor: services.Actor, right: bool
) -> tuple[int, str] | None:
    """What act() must answer, in the order it decides: not visible, wrong state, wrong
    role, wrong fields; None for success."""
    if services._visible(case, actor) is None:
        return 404, "report_not_found"
    if case["status"] not in workflow.TRANSITIONS[action].sources:
        return 409, "action_not_allowed"
    roles = services.roles_for(case, actor)
    if action not in workflow.allowed(case["status"], case["level"], roles):
        return 403, "forbidden"
    if not right:
        return 422, ""
    return None


# the ways out of the main path (and relocation, allowed almost always) are drawn less often,
# so that sequences get through the whole workflow
SIDE_ACTIONS = frozenset({"reject", "merge", "relocate"})


def what_may_happen(case: dict[str, Any], cast: Cast) -> dict[str, list[str]]:
    """action -> the people the table allows to take it on this case now."""
    may: dict[str, list[str]] = {}
    for name, person in cast.actors.items():
        roles = services.roles_for(case, person)
        for action in workflow.allowed(case["status"], case["level"], roles):
            may.setdefault(action, []).append(name)
    return may


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_random_action_sequences_keep_the_invariants(cast, data):
    ids = await fresh_cases(cast)
    expected_events = dict.fromkeys(ids, 1)  # the submission
    resident = cast.actors["resident"].account_id
    now = await state(ids)
    check_invariants(now, expected_events, resident)
    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        # mostly something someone may do now, on a case where something can be done, so
        # that sequences get deep into the workflow; otherwise anyone trying anything
        may = {i: what_may_happen(now.cases[i], cast) for i in ids}
        live = [i for i in ids if may[i]]
        if live and data.draw(st.integers(0, 3), label="pick") > 0:
            report_id = data.draw(st.sampled_from(live), label="case")
            weighted = [a for a in may[report_id] for _ in range(1 if a in SIDE_ACTIONS else 4)]
            action = data.draw(st.sampled_from(weighted), label="action")
            who = data.draw(st.sampled_from(may[report_id][action]), label="actor")
        else:
            report_id = data.draw(st.sampled_from(ids), label="case")
            who = data.draw(st.sampled_from(ACTORS), label="actor")
            action = data.draw(st.sampled_from(workflow.ACTIONS), label="action")
        other_id = next(i for i in ids if i != report_id)
        case, other = now.cases[report_id], now.cases[other_id]
        actor = cast.actors[who]
        good = data.draw(st.sampled_from([True, True, True, False]), label="good fields")
        action_in, right = body(data, action, good, case, other, cast, who)
        expected = expected_refusal(case, action, actor, right)

        error: DomainError | None = None
        try:
            result = await case_flow.act(report_id=report_id, data=action_in, actor=actor)
        except DomainError as exc:
            error = exc
        before, now = now, await state(ids)
        if error is not None:
            what = (who, action_in, error.code, error.detail)
            assert expected is not None, f"refused, but the table allows it: {what}"
            assert error.status == expected[0], what
            assert error.code == (expected[1] or error.code), what
            assert now == before, f"a refused action changed something: {what}"
        else:
            assert expected is None, f"{who} {action_in} succeeded, expected {expected}"
            assert action in CAN_EVER[who], (who, action)
            if action == "pass_check" and case["level"] == "major":
                assert who == "supervisor"
            target = workflow.TRANSITIONS[action].target or case["status"]
            assert result.status == now.cases[report_id]["status"] == target
            expected_events[report_id] += 1
            if action == "merge":
                expected_events[other_id] += 1
                assert now.cases[report_id]["merged_into"] == other_id
            last = now.events[report_id][-1]
            assert (last["action"], last["from_status"], last["to_status"], last["actor"]) == (
                action,
                case["status"],
                target,
                actor.account_id,
            )
        check_invariants(now, expected_events, resident)


def test_the_monthly_cap_is_not_the_reason_the_bound_holds():
    """The +1/+5 bound above must come from the workflow, not from the cap cutting awards."""
    assert get_settings().points_monthly_cap >= (1 + 5) * N_CASES
