"""The dashboard's figures on hand-built data, each checked against a count worked out here,
and who sees which area's figures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest
from factories import D1, G1, G2, G3, T1, T2, make_person, make_tree

from grid_backend.core import clock
from grid_backend.people.duty import grants_of
from grid_backend.response import services as response
from grid_backend.stats import services

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


NOW = local(2026, 3, 31, 12, 0)
PERIOD = {"from": "2026-03-25", "to": "2026-03-31"}


@pytest.fixture
async def world(client, build):
    clock.set_clock(lambda: NOW)
    areas = await make_tree()
    people = {
        "dispatcher": await make_person(("dispatcher", T1)),
        "supervisor": await make_person(("supervisor", D1)),
        "leader": await make_person(("grid_leader", G1)),
        "worker": await make_person(("grid_worker", G1), employment="full_time"),
        "officer": await make_person(("emergency_officer", G1)),
        "resident": await make_person(),
    }
    late, later = local(2026, 3, 31, 10, 0), local(2026, 4, 5, 10, 0)
    cases = {
        "submitted": await build.case(G1, "submitted", local(2026, 3, 31, 9, 0), due=late),
        "registered": await build.case(G2, "registered", local(2026, 3, 30, 9, 0), due=later),
        "dispatched": await build.case(
            G1,
            "dispatched",
            local(2026, 3, 29, 9, 0),
            level="major",
            urgent=True,
            due=local(2026, 3, 30, 9, 0),
        ),
        "suspended": await build.case(G1, "suspended", local(2026, 3, 28, 9, 0), due=late),
        "closed": await build.case(
            G1, "closed", local(2026, 3, 26, 9, 0), closed=local(2026, 3, 28, 15, 0)
        ),
        "closed_major": await build.case(
            G2,
            "closed",
            local(2026, 3, 27, 9, 0),
            level="major",
            closed=local(2026, 3, 31, 10, 0),
        ),
        "rejected": await build.case(G1, "rejected", local(2026, 3, 28, 10, 0)),
        "merged": await build.case(G1, "merged", local(2026, 3, 28, 11, 0)),
        "old_pending": await build.case(G1, "pending_check", local(2026, 3, 20, 9, 0)),
        # 00:30 on the first day, local time (16:30 UTC the day before): inside the period
        "first_minute": await build.case(G1, "in_progress", local(2026, 3, 25, 0, 30), due=later),
        # 23:30 the day before the period, local time: outside it, though closed inside
        "day_before": await build.case(
            G1, "closed", local(2026, 3, 24, 23, 30), closed=local(2026, 3, 25, 8, 0)
        ),
        "other_township": await build.case(G3, "submitted", local(2026, 3, 31, 8, 0), due=late),
    }
    await build.tasks(G1, date(2026, 3, 31), "completed", "missed", "scheduled", "cancelled")
    await build.tasks(G2, date(2026, 3, 30), "completed", "completed")
    await build.response(cases["dispatched"], local(2026, 3, 29, 9, 5), reaction=8, arrival=25)
    await build.response(cases["dispatched"], local(2026, 3, 29, 9, 5), reaction=12)
    return client, areas, people, cases


async def dashboard(client, person, **params):
    r = await client.get(
        "/api/v1/stats/dashboard", params={**PERIOD, **params}, headers=person.headers
    )
    return r


async def test_the_township_figures_match_counts_made_by_hand(world):
    client, _areas, people, _ = world
    r = await dashboard(client, people["dispatcher"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert [a["code"] for a in d["scope"]] == [T1]
    assert (d["date_from"], d["date_to"], d["timezone"]) == (
        "2026-03-25",
        "2026-03-31",
        "Asia/Shanghai",
    )
    # open: submitted, registered, dispatched, suspended, pending check, in progress
    # overdue: the submitted and the dispatched case (the suspended one's clock stopped)
    assert d["cases"] == {
        "open": 6,
        "overdue": 2,
        "awaiting_triage": 1,
        "in_rectification": 2,
        "pending_check": 1,
        "suspended": 1,
        "urgent_open": 1,
        "major_open": 1,
    }
    # accepted in the period: registered, dispatched, suspended, closed x2, in progress
    assert d["rectification"] == {
        "accepted": 6,
        "closed": 2,
        "rate": 0.3333,
        "target": 0.985,
        "met": False,
        "major_accepted": 2,
        "major_closed": 1,
        "major_rate": 0.5,
    }
    assert d["patrols_today"] == {
        "date": "2026-03-31",
        "tasks": 3,
        "completed": 1,
        "missed": 1,
        "excused": 0,
        "pending": 1,
        "completion_rate": 0.5,
        "done_share": 0.3333,
    }
    # G1 has a leader, a worker and an emergency officer; G2 nobody
    assert d["coverage"] == {
        "date": "2026-03-31",
        "grids": 2,
        "fully_covered": 1,
        "share": 0.5,
        "lacking_grid_leader": 1,
        "lacking_grid_worker": 1,
        "lacking_emergency_officer": 1,
    }
    reaction = d["response"]["reaction"]["community"]
    assert (reaction["count"], reaction["within_target"], reaction["median_minutes"]) == (
        2,
        1,
        10.0,
    )
    assert d["response"]["cases"] == 1
    trend = {t["date"]: (t["reported"], t["closed"], t["patrol_tasks"]) for t in d["trend"]}
    assert trend == {
        "2026-03-25": (1, 1, 0),  # the case at 00:30 local; the one closed at 08:00
        "2026-03-26": (1, 0, 0),
        "2026-03-27": (1, 0, 0),
        "2026-03-28": (3, 1, 0),
        "2026-03-29": (1, 0, 0),
        "2026-03-30": (1, 0, 2),
        "2026-03-31": (1, 1, 3),
    }
    assert [(t["patrol_completed"], t["patrol_missed"]) for t in d["trend"][-2:]] == [
        (2, 0),
        (1, 1),
    ]


async def test_response_times_are_the_response_domains_own(world):
    _client, _areas, people, _ = world
    grants = await grants_of(people["dispatcher"].id)
    d = await services.dashboard(
        grants=grants, date_from=date(2026, 3, 25), date_to=date(2026, 3, 31)
    )
    expected = await response.response_times(
        grants=grants, date_from=date(2026, 3, 25), date_to=date(2026, 3, 31)
    )
    assert msgspec.to_builtins(d.response) == msgspec.to_builtins(expected.total)


async def test_an_area_narrows_the_figures_and_must_be_the_callers(world):
    client, areas, people, _ = world
    r = await dashboard(client, people["dispatcher"], area_id=areas[G2])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["area"]["code"] == G2
    assert d["cases"]["open"] == 1  # the registered case
    assert (d["rectification"]["accepted"], d["rectification"]["closed"]) == (2, 1)
    assert d["coverage"]["grids"] == 1 and d["coverage"]["fully_covered"] == 0
    assert d["patrols_today"]["tasks"] == 0
    # `area` is accepted for area_id
    assert (await dashboard(client, people["dispatcher"], area=areas[G2])).json() == d
    r = await dashboard(client, people["dispatcher"], area_id=areas[T2])
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")


async def test_who_sees_which_figures(world):
    client, _areas, people, _ = world
    d = (await dashboard(client, people["supervisor"])).json()
    assert [a["code"] for a in d["scope"]] == [D1]
    assert d["cases"]["open"] == 7  # T2's submitted case too
    assert d["cases"]["overdue"] == 3

    leader = (await dashboard(client, people["leader"])).json()
    assert [a["code"] for a in leader["scope"]] == [G1]
    assert leader["cases"]["open"] == 5
    assert leader["response"] is None  # response times are for managers
    assert leader["coverage"]["grids"] == 1 and leader["coverage"]["fully_covered"] == 1

    for who in ("worker", "resident"):
        r = await dashboard(client, people[who])
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await client.get("/api/v1/stats/dashboard")
    assert r.status_code == 401


async def test_period_defaults_and_limits(world):
    client, _areas, people, _ = world
    d = (await client.get("/api/v1/stats/dashboard", headers=people["dispatcher"].headers)).json()
    assert (d["date_from"], d["date_to"]) == ("2026-03-02", "2026-03-31")
    assert len(d["trend"]) == 30
    r = await dashboard(client, people["dispatcher"], **{"from": "2026-04-01", "to": "2026-03-01"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
    r = await dashboard(client, people["dispatcher"], **{"from": "2025-01-01"})
    assert r.status_code == 422


async def test_an_empty_area_has_no_rates(client):
    clock.set_clock(lambda: NOW)
    await make_tree()
    dispatcher = await make_person(("dispatcher", T2))
    d = (await dashboard(client, dispatcher)).json()
    assert d["cases"]["open"] == 0
    assert d["rectification"]["rate"] is None and d["rectification"]["met"] is None
    assert d["patrols_today"]["completion_rate"] is None
    assert d["response"]["reaction"]["community"]["count"] == 0
