"""Response-time metrics equal to figures worked out by hand (docs/metrics.md), scoped to the
caller's areas, for a scenario played on the test clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import G1, G2, G3, POINT_IN

from grid_backend.response.services import median, percentile

PERIOD = {"from": "2026-04-01", "to": "2026-04-03"}


async def _play(world) -> dict[str, int]:
    """Five urgent cases; the minutes of each step are the ones the expectations use."""
    start = world.now  # 2026-04-01 10:00 local
    t1_team = await world.team(world.dispatcher, name="地面队")
    air_team = await world.team(
        world.supervisor,
        name="航空队",
        tier="air",
        type="aviation",
        area_ids=[world.areas["500103"]],
    )
    t2_team = await world.team(
        world.dispatcher2, name="朝天门队", area_ids=[world.areas["500103002"]]
    )

    async def step(person, case, rec, name, minute, where=None):
        world.at(case_start[case["id"]] + timedelta(minutes=minute))
        r = await world.step(person, case["id"], rec["id"], name, near=where)
        assert r.status_code == 200, r.text

    async def dispatch(case, team, minute, by=None):
        world.at(case_start[case["id"]] + timedelta(minutes=minute))
        r = await world.dispatch(case["id"], team["id"], by=by)
        assert r.status_code == 201, r.text
        return r.json()

    case_start: dict[int, object] = {}

    # E, 2026-03-30: before the period, never acknowledged
    world.at(start - timedelta(days=2))
    e = await world.urgent(grid=G1)

    # A, 04-01 in G1 (T1)
    world.at(start)
    a = await world.urgent(grid=G1)
    case_start[a["id"]] = start
    at_a = POINT_IN[G1]
    resp = await world.record_of(a["id"], account=world.responder)
    officer = await world.record_of(a["id"], account=world.officer)
    ground = await dispatch(a, t1_team, 2)
    await step(world.dispatcher, a, ground, "acknowledge", 3)  # reaction 1
    air = await dispatch(a, air_team, 3)
    await step(world.responder, a, resp, "acknowledge", 4)  # reaction 4
    await step(world.responder, a, resp, "set_off", 5)
    await step(world.supervisor, a, air, "acknowledge", 5)  # reaction 2
    await step(world.dispatcher, a, ground, "set_off", 6)
    await step(world.supervisor, a, air, "set_off", 7)
    await step(world.responder, a, resp, "arrive", 12, at_a)  # arrival 12, verified
    await step(world.officer, a, officer, "acknowledge", 12)  # reaction 12, never arrives
    await step(world.dispatcher, a, ground, "arrive", 27, at_a)  # arrival 25 (ground)
    await step(world.supervisor, a, air, "arrive", 73, at_a)  # arrival 70 (air)

    # B, 04-02 in G2 (T1): reaction exactly on target, arrival reported 2 km away
    b_start = start + timedelta(days=1)
    world.at(b_start)
    b = await world.urgent(grid=G2)
    case_start[b["id"]] = b_start
    other = await world.record_of(b["id"], account=world.other_responder)
    await step(world.other_responder, b, other, "acknowledge", 10)  # reaction 10
    await step(world.other_responder, b, other, "set_off", 11)
    far = (POINT_IN[G2][0] + 2000 / 111_195.0, POINT_IN[G2][1])
    await step(world.other_responder, b, other, "arrive", 15, far)  # unverified

    # C, 04-02 in G3 (T2): no responders there; T2's team dispatched at once
    world.at(b_start)
    c = await world.urgent(grid=G3)
    case_start[c["id"]] = b_start
    team_c = await dispatch(c, t2_team, 0, by=world.dispatcher2)
    await step(world.dispatcher2, c, team_c, "acknowledge", 30)  # reaction 30 (ground)
    await step(world.dispatcher2, c, team_c, "set_off", 31)
    await step(world.dispatcher2, c, team_c, "arrive", 40, POINT_IN[G3])  # arrival 40

    # D, 04-03 in G1: nobody has answered yet
    world.at(start + timedelta(days=2))
    d = await world.urgent(grid=G1)
    world.at(start + timedelta(days=2, hours=1))
    return {"a": a["id"], "b": b["id"], "c": c["id"], "d": d["id"], "e": e["id"]}


def measure(count, target, within, share, mid, p90):
    return {
        "count": count,
        "target_minutes": target,
        "within_target": within,
        "share_within_target": share,
        "median_minutes": mid,
        "p90_minutes": p90,
    }


NONE = measure(0, None, None, None, None, None)
T1_FIGURES = {
    "cases": 3,  # A, B, D
    "records": 7,  # A: responder, officer, two teams; B: one responder; D: two alerted
    "reaction": {
        "community": measure(3, 10, 2, 0.6667, 10.0, 12.0),  # 4, 10, 12
        "ground": measure(1, None, None, None, 1.0, 1.0),
        "air": measure(1, None, None, None, 2.0, 2.0),
    },
    "arrival": {
        "community": measure(1, None, None, None, 12.0, 12.0),
        "ground": measure(1, 30, 1, 1.0, 25.0, 25.0),
        "air": measure(1, 60, 0, 0.0, 70.0, 70.0),
    },
    "waiting_cases": 2,  # B (its only arrival is unverified) and D
    "unacknowledged": 2,  # D's two
    "not_arrived": 1,  # A's officer
    "unverified_arrivals": 1,  # B's responder
}
T2_FIGURES = {
    "cases": 1,
    "records": 1,
    "reaction": {
        "community": measure(0, 10, 0, None, None, None),
        "ground": measure(1, None, None, None, 30.0, 30.0),
        "air": NONE,
    },
    "arrival": {
        "community": NONE,
        "ground": measure(1, 30, 0, 0.0, 40.0, 40.0),
        "air": measure(0, 60, 0, None, None, None),
    },
    "waiting_cases": 0,
    "unacknowledged": 0,
    "not_arrived": 0,
    "unverified_arrivals": 0,
}
TOTAL = {
    "cases": 4,
    "records": 8,
    "reaction": {
        "community": T1_FIGURES["reaction"]["community"],
        "ground": measure(2, None, None, None, 15.5, 30.0),  # 1, 30
        "air": T1_FIGURES["reaction"]["air"],
    },
    "arrival": {
        "community": T1_FIGURES["arrival"]["community"],
        "ground": measure(2, 30, 1, 0.5, 32.5, 40.0),  # 25, 40
        "air": T1_FIGURES["arrival"]["air"],
    },
    "waiting_cases": 2,
    "unacknowledged": 2,
    "not_arrived": 1,
    "unverified_arrivals": 1,
}


async def _stats(world, person, **params):
    return await world.client.get(
        "/api/v1/stats/response-times", params={**PERIOD, **params}, headers=person.headers
    )


async def test_metrics_equal_the_hand_computed_figures_and_follow_the_callers_areas(world):
    await _play(world)
    r = await _stats(world, world.supervisor)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["date_from"], body["date_to"], body["group_by"]) == (
        "2026-04-01",
        "2026-04-03",
        "township",
    )
    assert body["total"] == TOTAL
    assert [(g["area"]["code"], g["figures"]) for g in body["groups"]] == [
        ("500103001", T1_FIGURES),
        ("500103002", T2_FIGURES),
    ]
    # by district: one group holding everything
    r = await _stats(world, world.supervisor, group_by="district")
    assert [(g["area"]["code"], g["figures"]) for g in r.json()["groups"]] == [("500103", TOTAL)]
    # a township sees its own only
    r = await _stats(world, world.dispatcher)
    assert r.json()["total"] == T1_FIGURES
    assert [g["area"]["code"] for g in r.json()["groups"]] == ["500103001"]
    r = await _stats(world, world.dispatcher2)
    assert r.json()["total"] == T2_FIGURES
    r = await _stats(world, world.dispatcher, area_id=world.areas["500103002"])
    assert r.status_code == 403
    r = await _stats(world, world.supervisor, area_id=world.areas["500103002"])
    assert r.json()["total"] == T2_FIGURES
    # grid staff and residents do not read the metrics
    for person in (world.responder, world.resident):
        assert (await _stats(world, person)).status_code == 403
    # the case before the period counts when the period includes its day
    r = await _stats(world, world.dispatcher, **{"from": "2026-03-30"})
    # (nobody held a duty there yet on 03-30: no records, but a case still waiting)
    assert r.json()["total"]["cases"] == 4
    assert r.json()["total"]["records"] == 7
    assert r.json()["total"]["waiting_cases"] == 3
    r = await _stats(world, world.dispatcher, **{"from": "2026-04-04", "to": "2026-04-01"})
    assert r.status_code == 422


async def test_the_console_lists_urgent_cases_waiting_for_responders(world):
    ids = await _play(world)
    r = await world.client.get(
        "/api/v1/urgent-cases", params={"waiting": "true"}, headers=world.supervisor.headers
    )
    assert [c["id"] for c in r.json()["items"]] == [ids["d"], ids["b"], ids["e"]]
    r = await world.client.get(
        "/api/v1/urgent-cases", params={"waiting": "false"}, headers=world.supervisor.headers
    )
    assert [c["id"] for c in r.json()["items"]] == [ids["c"], ids["a"]]
    r = await world.client.get(
        "/api/v1/urgent-cases", params={"limit": 2}, headers=world.dispatcher2.headers
    )
    assert [c["id"] for c in r.json()["items"]] == [ids["c"]]
    page = (
        await world.client.get(
            "/api/v1/urgent-cases", params={"limit": 2}, headers=world.dispatcher.headers
        )
    ).json()
    assert [c["id"] for c in page["items"]] == [ids["d"], ids["b"]]
    rest = await world.client.get(
        "/api/v1/urgent-cases",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=world.dispatcher.headers,
    )
    assert [c["id"] for c in rest.json()["items"]] == [ids["a"], ids["e"]]
    a = next(c for c in rest.json()["items"] if c["id"] == ids["a"])
    assert sorted(x["status"] for x in a["responses"]) == [
        "acknowledged",
        "arrived",
        "arrived",
        "arrived",
    ]


@pytest.mark.parametrize(
    ("values", "mid", "p90"),
    [
        ([5.0], 5.0, 5.0),
        ([1.0, 2.0], 1.5, 2.0),
        ([3.0, 1.0, 2.0], 2.0, 3.0),
        ([float(i) for i in range(1, 11)], 5.5, 9.0),
        ([float(i) for i in range(1, 12)], 6.0, 10.0),
    ],
)
def test_median_and_nearest_rank_percentile(values, mid, p90):
    assert median(values) == mid
    assert percentile(values, 90) == p90
    assert median([]) is None and percentile([], 90) is None
