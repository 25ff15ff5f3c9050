"""Around an evacuation: helpers who have not started are escalated once, orange and red
warnings propose one (confirmed with a click, or started by the setting) and end it when
lifted, shelters check people in against their capacity, and the board counts right, live."""

from __future__ import annotations

from datetime import timedelta

import pytest
from evacuation_runs import C1, D1, G1, G2, G3, T1, T2, inbox, make_run_world

from grid_backend.core.tables import AuditEntry
from grid_backend.evacuation import jobs
from grid_backend.evacuation.tables import Evacuation, EvacuationTask
from grid_backend.notify import services as notify_services
from grid_backend.settings import get_settings


@pytest.fixture
async def world(client):
    return await make_run_world(client)


async def test_helpers_who_have_not_started_are_escalated_once(world):
    await world.household(G1)
    started = await world.household(G2)
    await world.household(G2)
    run = (await world.start())["id"]
    await world.status(run, started["id"], by=world.worker2, status="contacted")
    world.later(14)
    assert (await jobs.escalate(world.now))["evacuations"] == 0
    world.later(2)
    done = await jobs.escalate(world.now)
    assert done == {"evacuations": 1, "helpers": 1, "told": 2}
    told = await inbox("evacuation.not_started")
    # G1's worker has not started: G1's leader and T1's dispatcher hear of it, nobody of G2's
    assert sorted(n["recipient"] for n in told) == sorted([world.leader.id, world.dispatcher.id])
    assert all(n["urgent"] for n in told)
    assert "周网格员" in told[0]["payload"]["body_zh"]
    assert told[0]["payload"]["minutes"] == 16
    world.later(30)
    assert (await jobs.escalate(world.now))["evacuations"] == 0
    assert len(await inbox("evacuation.not_started")) == 2


async def _warn(world, level: str, area: str = C1) -> int:
    r = await world.client.post(
        "/api/v1/warnings",
        json={
            "level": level,
            "type": "heavy_rain",
            "area_ids": [world.areas[area]],
            "expires_at": (world.now + timedelta(hours=6)).isoformat(),
            "message": "暴雨",
            "callout": False,
        },
        headers=world.supervisor.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_an_orange_warning_proposes_and_its_lifting_returns_everyone(world):
    h = await world.household(G1)
    await world.household(G2)
    yellow = await _warn(world, "yellow")
    orange = await _warn(world, "orange")
    await _warn(world, "red", area=G3)  # no households there
    assert await jobs.sync_warnings(world.now) == {"proposed": 1, "started": 0, "ended": 0}
    assert await jobs.sync_warnings(world.now) == {"proposed": 0, "started": 0, "ended": 0}
    rows = await Evacuation.select().run()
    assert [(r["warning"], r["status"], r["source"]) for r in rows] == [
        (orange, "proposed", "warning")
    ]
    assert yellow != orange and await EvacuationTask.count() == 0
    # the officers who may confirm it are asked to, once
    asked = await inbox("evacuation.proposed")
    assert [n["recipient"] for n in asked] == [world.dispatcher.id]
    assert asked[0]["urgent"] and "2" in asked[0]["payload"]["body_zh"]
    assert "橙色" in asked[0]["payload"]["body_zh"]
    run = rows[0]["id"]
    url = f"/api/v1/evacuations/{run}"
    r = await world.client.get(url, headers=world.dispatcher.headers)
    assert r.json()["status"] == "proposed" and r.json()["manageable"] is True
    r = await world.client.post(url + "/confirm", headers=world.worker.headers)
    assert r.status_code == 403
    r = await world.client.post(url + "/confirm", headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert r.json()["households"] == 2 and r.json()["started_by"] == world.dispatcher.id
    assert len(await inbox("evacuation.started")) == 2
    r = await world.client.post(url + "/confirm", headers=world.dispatcher.headers)
    assert r.status_code == 409 and r.json()["code"] == "evacuation_not_proposed"
    await world.status(run, h["id"], status="moved", destination="relatives", note="已电话确认")
    # the warning is lifted: the evacuation ends and the moved household returns
    world.later(60)
    r = await world.client.post(
        f"/api/v1/warnings/{orange}/cancel",
        json={"reason": "雨停"},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    assert (await jobs.sync_warnings(world.now))["ended"] == 1
    r = await world.client.get(url, headers=world.dispatcher.headers)
    assert (r.json()["status"], r.json()["end_reason"]) == ("ended", "warning_lifted")
    r = await world.client.get(f"{url}/households/{h['id']}", headers=world.worker.headers)
    assert r.json()["returned_at"] is not None
    actions = [
        a["action"]
        for a in await AuditEntry.select(AuditEntry.action)
        .where(AuditEntry.object_type == "evacuation")
        .order_by(AuditEntry.id)
    ]
    assert actions == ["evacuation.propose", "evacuation.confirm", "evacuation.end"]


async def test_auto_start_starts_without_confirmation_and_expiry_dismisses_a_proposal(
    world, monkeypatch
):
    await world.household(G1)
    monkeypatch.setenv("GRID_EVACUATION_AUTO_START", "true")
    get_settings.cache_clear()
    try:
        await _warn(world, "red")
        assert (await jobs.sync_warnings(world.now))["started"] == 1
    finally:
        monkeypatch.delenv("GRID_EVACUATION_AUTO_START")
        get_settings.cache_clear()
    run = await Evacuation.select().first().run()
    assert run["status"] == "active" and run["households"] == 1
    assert len(await inbox("evacuation.started")) == 1
    await world.household(G2)
    await _warn(world, "orange", area=G2)
    assert (await jobs.sync_warnings(world.now))["proposed"] == 1
    world.later(7 * 60)  # both warnings have expired
    assert (await jobs.sync_warnings(world.now))["ended"] == 2
    statuses = sorted(r["status"] for r in await Evacuation.select(Evacuation.status))
    assert statuses == ["dismissed", "ended"]


async def test_shelters_check_people_in_and_flag_their_capacity(world):
    a = await world.household(G1, people=4)
    b = await world.household(G1, people=5)
    shelter = await world.shelter(capacity=10)
    run = (await world.start())["id"]
    url = f"/api/v1/evacuations/{run}/shelters/{shelter}/arrivals"
    r = await world.client.post(url, json={"household_id": a["id"]}, headers=world.worker.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["occupancy"], r.json()["over_capacity"], r.json()["near_capacity"]) == (
        4,
        False,
        False,
    )
    r = await world.client.get(
        f"/api/v1/evacuations/{run}/households/{a['id']}", headers=world.worker.headers
    )
    assert (r.json()["status"], r.json()["shelter_id"]) == ("moved", shelter)
    assert r.json()["arrived_at"] is not None
    headers = {**world.dispatcher.headers, "Idempotency-Key": "count-0001"}
    r1 = await world.client.post(url, json={"people": 5}, headers=headers)
    r2 = await world.client.post(url, json={"people": 5}, headers=headers)
    assert (r1.status_code, r2.status_code) == (201, 200) and r1.json() == r2.json()
    assert (r1.json()["occupancy"], r1.json()["near_capacity"]) == (9, True)
    r = await world.client.post(url, json={"household_id": b["id"]}, headers=world.worker.headers)
    assert r.status_code == 201  # people are not turned away
    assert (r.json()["occupancy"], r.json()["over_capacity"]) == (14, True)
    for body in ({}, {"household_id": a["id"], "people": 2}):
        r = await world.client.post(url, json=body, headers=world.worker.headers)
        assert r.status_code == 422 and r.json()["code"] == "evacuation_arrival_invalid"
    # another township's staff: the shelter is not theirs; a resident: nothing
    r = await world.client.post(url, json={"people": 1}, headers=world.dispatcher2.headers)
    assert r.status_code == 404
    r = await world.client.post(url, json={"people": 1}, headers=world.instructor.headers)
    assert r.status_code == 403
    board = (
        await world.client.get(f"/api/v1/evacuations/{run}/board", headers=world.dispatcher.headers)
    ).json()
    assert [(s["shelter_id"], s["occupancy"], s["over_capacity"]) for s in board["shelters"]] == [
        (shelter, 14, True)
    ]


async def test_the_board_counts_by_area_and_status_inside_the_callers_area(world):
    a = await world.household(G1, people=4, elderly_alone=1, disabled=1)
    b = await world.household(G1, people=2, children=1)
    c = await world.household(G2, people=3)
    d = await world.household(G3, people=6, pregnant=1)
    await world.household(G2, people=1)
    run = (await world.start(by=world.supervisor, area_ids=[world.areas[T1], world.areas[T2]]))[
        "id"
    ]
    await world.status(run, a["id"], status="moved", destination="relatives", note="已走")
    await world.status(run, b["id"], status="refused", reason="不走")
    await world.status(run, c["id"], by=world.worker2, status="not_at_home")
    await world.status(run, d["id"], by=world.worker3, status="already_safe", note="外出")
    world.later(10)
    url = f"/api/v1/evacuations/{run}/board"
    r = await world.client.get(url, params={"level": "township"}, headers=world.supervisor.headers)
    assert r.status_code == 200, r.text
    board = r.json()
    total = board["total"]
    assert (total["households"], total["people"]) == (5, 16)
    assert (total["h_moved"], total["h_refused"], total["h_not_at_home"]) == (1, 1, 1)
    assert (total["h_already_safe"], total["h_pending"]) == (1, 1)
    assert (total["vulnerable_to_move"], total["vulnerable_moved"]) == (4, 3)
    assert total["vulnerable_pending"] == 0
    assert total["rate"] == round((4 + 6) / 16, 4)
    assert board["seconds_since_start"] == 600
    by = {x["area"]["code"]: x["counts"] for x in board["areas"]}
    assert set(by) == {T1, T2}
    assert (by[T1]["people"], by[T1]["p_moved"], by[T1]["p_refused"]) == (10, 4, 2)
    assert (by[T2]["people"], by[T2]["rate"]) == (6, 1.0)
    r = await world.client.get(url, params={"level": "grid"}, headers=world.supervisor.headers)
    assert sorted(x["area"]["code"] for x in r.json()["areas"]) == sorted([G1, G2, G3])
    r = await world.client.get(url, params={"level": "district"}, headers=world.supervisor.headers)
    assert [x["area"]["code"] for x in r.json()["areas"]] == [D1]
    # a township's dispatcher sees their township only
    r = await world.client.get(url, params={"level": "grid"}, headers=world.dispatcher.headers)
    assert r.json()["total"]["households"] == 4
    assert sorted(x["area"]["code"] for x in r.json()["areas"]) == [G1, G2]
    helpers = {h["helper_id"]: h for h in r.json()["helpers"]}
    assert (helpers[world.worker.id]["households"], helpers[world.worker.id]["done"]) == (2, 1)
    assert (helpers[world.worker2.id]["started"], helpers[world.worker2.id]["done"]) == (1, 0)
    assert r.json()["helpers"][0]["helper_id"] == world.worker2.id  # least progress first
    r = await world.client.get(url, headers=world.resident.headers)
    assert r.status_code == 404
    r = await world.client.get(url, params={"level": "city"}, headers=world.supervisor.headers)
    assert r.status_code in (400, 422)


async def test_a_change_is_published_live_to_the_staff_watching_its_grid(world, monkeypatch):
    h = await world.household(G1)
    run = (await world.start())["id"]
    sent: list[tuple[list[int], dict]] = []
    monkeypatch.setattr(notify_services, "publish", lambda a, e: sent.append((list(a), e)) or True)
    r = await world.status(run, h["id"], status="contacted")
    assert r.status_code == 201
    events = [(sorted(a), e) for a, e in sent if e["type"] == "evacuation.household"]
    assert len(events) == 1
    accounts, event = events[0]
    assert world.leader.id in accounts and world.dispatcher.id in accounts
    assert world.supervisor.id in accounts and world.dispatcher2.id not in accounts
    assert (event["household_id"], event["status"], event["from"]) == (
        h["id"],
        "contacted",
        "pending",
    )


async def test_a_household_checks_in_once_and_moving_on_frees_its_place(world):
    a = await world.household(G1, people=4)
    b = await world.household(G1, people=2)
    first = await world.shelter(capacity=10)
    second = await world.shelter(capacity=10)
    run = (await world.start())["id"]
    await world.status(run, b["id"], status="already_safe", note="在亲戚家")

    def url(shelter: int) -> str:
        return f"/api/v1/evacuations/{run}/shelters/{shelter}/arrivals"

    r = await world.client.post(
        url(first), json={"household_id": a["id"]}, headers=world.worker.headers
    )
    assert r.status_code == 201 and r.json()["occupancy"] == 4
    r = await world.client.post(
        url(first), json={"household_id": a["id"]}, headers=world.worker.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "evacuation_already_arrived"
    r = await world.client.post(
        url(second), json={"household_id": a["id"]}, headers=world.worker.headers
    )
    assert r.status_code == 201 and r.json()["occupancy"] == 4
    # someone thought safe turns up at the door: checked in, moved there
    r = await world.client.post(
        url(second), json={"household_id": b["id"]}, headers=world.worker.headers
    )
    assert r.status_code == 201 and r.json()["occupancy"] == 6
    board = (
        await world.client.get(f"/api/v1/evacuations/{run}/board", headers=world.dispatcher.headers)
    ).json()
    assert {s["shelter_id"]: s["occupancy"] for s in board["shelters"]} == {first: 0, second: 6}
    assert board["total"]["h_moved"] == 2


async def test_warnings_over_no_households_never_hold_up_a_later_ones_proposal(world, monkeypatch):
    """A tick looks at a batch of warnings at a time; warnings in force over areas without
    households (most of a city on a rainy day) are passed over, not looked at again and again
    ahead of a later warning that holds households, which would then never be proposed."""
    monkeypatch.setattr(jobs, "BATCH", 2)
    await world.household(G1)
    for _ in range(3):
        await _warn(world, "red", area=G3)  # no households there: nothing to propose
    orange = await _warn(world, "orange")
    assert (await jobs.sync_warnings(world.now))["proposed"] == 1
    rows = await Evacuation.select(Evacuation.warning, Evacuation.status).run()
    assert rows == [{"warning": orange, "status": "proposed"}]
    assert (await jobs.sync_warnings(world.now))["proposed"] == 0


async def test_ending_a_proposal_confirmed_meanwhile_does_not_dismiss_it(world):
    """The end reads the evacuation, then closes it: if a confirm made the proposal active in
    between, closing it as a proposal would mark a running evacuation `dismissed` with its
    moved households never returned. The close finds it changed and leaves it."""
    from grid_backend.core.db import write_transaction
    from grid_backend.evacuation import runs

    await world.household(G1)
    await _warn(world, "orange")
    await jobs.sync_warnings(world.now)
    stale = (await Evacuation.select().run())[0]
    assert stale["status"] == "proposed"
    r = await world.client.post(
        f"/api/v1/evacuations/{stale['id']}/confirm", headers=world.dispatcher.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "active"
    async with write_transaction():
        closed = await runs.close_run(
            stale, account_id=world.dispatcher.id, now=world.now, reason="by_hand", note=""
        )
    assert closed is False
    row = (await Evacuation.select(Evacuation.status).where(Evacuation.id == stale["id"]))[0]
    assert row["status"] == "active"
