"""Warnings: who may issue them where, what they set off, listing, changing and lifting."""

from __future__ import annotations

from datetime import timedelta

from factories import D1, G1, G2, G3, T1

from grid_backend.alerts.tables import CalloutRecipient

from .conftest import notifications

CALLED = ("grid_leader", "responder", "site_monitor", "emergency_officer", "grid_worker")


async def recipients(callout_id: int) -> set[int]:
    rows = (
        await CalloutRecipient.select(CalloutRecipient.account)
        .where(CalloutRecipient.callout == callout_id)
        .run()
    )
    return {r["account"] for r in rows}


async def test_yellow_warning_calls_out_the_grids_emergency_team_and_grid_workers(world):
    w = await world.warn()
    assert w["status"] == "active"
    assert w["level"] == "yellow" and w["type"] == "heavy_rain"
    assert [a["code"] for a in w["areas"]] == [G1]
    assert w["issued_by"]["name"] == "一镇值班"
    assert len(w["callout_ids"]) == 1
    team = world.teams[G1]
    # the grid's emergency team and its grid worker, and nobody from G2
    assert await recipients(w["callout_ids"][0]) == {team[d].id for d in CALLED}
    inbox = await notifications(kind="callout")
    assert {n["recipient"] for n in inbox} == {team[d].id for d in CALLED}
    first = inbox[0]
    assert first["status"] == "sent" and first["urgent"] is True
    assert first["payload"]["callout_id"] == w["callout_ids"][0]
    assert first["payload"]["title_zh"] == "黄色暴雨预警叫应"
    assert "今夜有大到暴雨" in first["payload"]["body_zh"]
    assert "第一网格" in first["payload"]["body_zh"]
    # push is pending for delivery (on by default), SMS off by default
    push = await notifications(kind="callout", channel="push")
    assert len(push) == 5 and {p["status"] for p in push} == {"pending"}
    assert await notifications(kind="callout", channel="sms") == []


async def test_blue_warning_calls_nobody_unless_asked(world):
    w = await world.warn(level="blue")
    assert w["callout_ids"] == [] and w["extra_tasks"] == 0
    assert await notifications(kind="callout") == []
    asked = await world.warn(level="blue", callout=True)
    assert len(asked["callout_ids"]) == 1
    quiet = await world.warn(level="red", callout=False)
    assert quiet["callout_ids"] == []


async def test_a_township_warns_only_inside_itself(world):
    # T1's dispatcher over T2's grid, over the whole district, and a grid leader anywhere
    for person, areas in (
        (world.dispatcher, [world.areas[G3]]),
        (world.dispatcher, [world.areas[D1]]),
        (world.dispatcher, [world.areas[G1], world.areas[G3]]),
        (world.teams[G1]["grid_leader"], [world.areas[G1]]),
    ):
        r = await world.post(person, "/api/v1/warnings", world.warning_body(area_ids=areas))
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "forbidden"
    assert await notifications(kind="callout") == []
    # a district supervisor covers the whole district: every grid's team is called
    w = await world.warn(by=world.supervisor, area_ids=[world.areas[D1]], level="orange")
    assert len(await recipients(w["callout_ids"][0])) == 15


async def test_validation_errors_are_problem_json(world):
    cases = [
        ({"level": "purple"}, "validation_failed", "level"),
        ({"type": "tornado"}, "validation_failed", "type"),
        ({"area_ids": []}, "validation_failed", "area_ids"),
        ({"message": ""}, "validation_failed", "message"),
        ({"expires_at": "2026-04-02T10:00:00"}, "validation_failed", "expires_at"),  # no zone
        (
            {"expires_at": (world.now - timedelta(hours=1)).isoformat()},
            "warning_period_invalid",
            "expires_at",
        ),
        (
            {
                "starts_at": (world.now + timedelta(hours=5)).isoformat(),
                "expires_at": (world.now + timedelta(hours=2)).isoformat(),
            },
            "warning_period_invalid",
            "expires_at",
        ),
        (
            {"expires_at": (world.now + timedelta(days=40)).isoformat()},
            "warning_period_invalid",
            "expires_at",
        ),
        ({"area_ids": [999999]}, "warning_area_invalid", "area_ids"),
        ({"colour": "red"}, "validation_failed", "colour"),
    ]
    for change, code, field in cases:
        r = await world.post(world.dispatcher, "/api/v1/warnings", world.warning_body(**change))
        assert r.status_code == 422, (change, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["code"] == code, (change, body)
        assert [e["field"] for e in body["errors"]] == [field], (change, body)
    r = await world.client.post(
        "/api/v1/warnings",
        json=world.warning_body(level="purple"),
        headers={**world.dispatcher.headers, "Accept-Language": "en"},
    )
    assert r.json()["title"] == "The request is not valid"


async def test_listing_is_scoped_and_filtered(world):
    mine = await world.warn()
    theirs = await world.warn(by=world.other_dispatcher, area_ids=[world.areas[G3]], level="blue")
    wide = await world.warn(by=world.supervisor, area_ids=[world.areas[D1]], level="blue")

    async def listed(person, **params):
        r = await world.get(person, "/api/v1/warnings", **params)
        assert r.status_code == 200, r.text
        return [w["id"] for w in r.json()["items"]]

    # each township sees its own and the district's, newest first
    assert await listed(world.dispatcher) == [wide["id"], mine["id"]]
    assert await listed(world.other_dispatcher) == [wide["id"], theirs["id"]]
    assert await listed(world.supervisor) == [wide["id"], theirs["id"], mine["id"]]
    # staff of a grid see what covers their grid; a resident nothing
    assert await listed(world.teams[G2]["grid_worker"]) == [wide["id"]]
    resident = await world.person()
    assert await listed(resident) == []
    # one page at a time
    r = await world.get(world.supervisor, "/api/v1/warnings", limit=2)
    page = r.json()
    assert [w["id"] for w in page["items"]] == [wide["id"], theirs["id"]]
    r = await world.get(world.supervisor, "/api/v1/warnings", limit=2, cursor=page["next_cursor"])
    assert [w["id"] for w in r.json()["items"]] == [mine["id"]]
    assert r.json()["next_cursor"] is None
    # filters: level, area, in force
    assert await listed(world.supervisor, level="yellow") == [mine["id"]]
    assert await listed(world.supervisor, area_id=world.areas[G3]) == [wide["id"], theirs["id"]]
    world.advance(hours=25)
    assert await listed(world.supervisor, active=True) == []
    assert await listed(world.supervisor, active=False) == [wide["id"], theirs["id"], mine["id"]]
    # someone else's warning is not found
    r = await world.get(world.other_dispatcher, f"/api/v1/warnings/{mine['id']}")
    assert r.status_code == 404 and r.json()["code"] == "warning_not_found"
    r = await world.get(world.dispatcher, f"/api/v1/warnings/{mine['id']}")
    assert r.json()["status"] == "expired"


async def test_lifting_a_warning_stops_its_callout_and_tells_those_called(world):
    w = await world.warn()
    callout_id = w["callout_ids"][0]
    r = await world.post(
        world.other_dispatcher, f"/api/v1/warnings/{w['id']}/cancel", {"reason": "雨停"}
    )
    assert r.status_code == 404
    r = await world.post(world.dispatcher, f"/api/v1/warnings/{w['id']}/cancel", {"reason": ""})
    assert r.status_code == 422
    r = await world.post(world.dispatcher, f"/api/v1/warnings/{w['id']}/cancel", {"reason": "雨停"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "雨停"
    r = await world.post(world.dispatcher, f"/api/v1/warnings/{w['id']}/cancel", {"reason": "雨停"})
    assert r.status_code == 409 and r.json()["code"] == "warning_closed"
    lifted = await notifications(kind="warning.cancelled")
    assert {n["recipient"] for n in lifted} == await recipients(callout_id)
    assert "雨停" in lifted[0]["payload"]["body_zh"]
    assert await notifications(kind="warning.cancelled", channel="push") == []
    r = await world.get(world.dispatcher, f"/api/v1/callouts/{callout_id}")
    assert r.json()["status"] == "cancelled" and r.json()["next_step_at"] is None
    r = await world.client.patch(
        f"/api/v1/warnings/{w['id']}", json={"message": "x"}, headers=world.dispatcher.headers
    )
    assert r.status_code == 409


async def test_raising_the_level_calls_out_again_and_new_areas_call_their_people(world):
    w = await world.warn()
    r = await world.client.patch(
        f"/api/v1/warnings/{w['id']}",
        json={"message": "雨势加大"},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200 and r.json()["revision"] == 2
    assert len(r.json()["callout_ids"]) == 1  # a new text calls nobody again
    r = await world.client.patch(
        f"/api/v1/warnings/{w['id']}", json={"level": "red"}, headers=world.dispatcher.headers
    )
    assert r.status_code == 200, r.text
    raised = r.json()
    assert raised["level"] == "red" and len(raised["callout_ids"]) == 2
    assert await recipients(raised["callout_ids"][1]) == await recipients(raised["callout_ids"][0])
    r = await world.client.patch(
        f"/api/v1/warnings/{w['id']}",
        json={"area_ids": [world.areas[G1], world.areas[G2]]},
        headers=world.dispatcher.headers,
    )
    widened = r.json()
    assert len(widened["callout_ids"]) == 3
    team = world.teams[G2]
    assert await recipients(widened["callout_ids"][2]) == {team[d].id for d in CALLED}
    # a township cannot widen into another
    r = await world.client.patch(
        f"/api/v1/warnings/{w['id']}",
        json={"area_ids": [world.areas[G3]]},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 403
    r = await world.client.patch(
        f"/api/v1/warnings/{w['id']}",
        json={"expires_at": (world.now - timedelta(minutes=1)).isoformat()},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "warning_period_invalid"
    assert T1  # the dispatcher's township
