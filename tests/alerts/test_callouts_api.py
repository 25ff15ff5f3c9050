"""Callouts: the one-tap acknowledgement, who sees what, the board and its live events, and
callouts made by hand."""

from __future__ import annotations

import asyncio

import pytest
from factories import D1, G1, G2, G3

from grid_backend.notify import events
from grid_backend.notify import services as notify_services

from .conftest import notifications


@pytest.fixture
async def live(app, db):
    """The app's channels plugin, started as the app's lifespan would."""
    plugin = app.plugins.get(events.LiveEvents)
    async with plugin:
        yield plugin


class Listener:
    """Collects the live events of one account (what GET /api/v1/events streams to it)."""

    def __init__(self, plugin, account_id: int) -> None:
        self.stream = notify_services.live_stream(plugin=plugin, account_id=account_id)
        self.messages: list = []
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        assert (await anext(self.stream)).comment == "connected"
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.stream:
            if message.event:
                self.messages.append(message)

    def of(self, kind: str) -> list:
        import json

        return [json.loads(m.data) for m in self.messages if m.event == kind]

    async def close(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.stream.aclose()


async def district_callout(world) -> int:
    w = await world.warn(by=world.supervisor, area_ids=[world.areas[D1]], level="orange")
    return w["callout_ids"][0]


async def test_acknowledging_twice_returns_the_first_time(world):
    callout_id = await district_callout(world)
    responder = world.teams[G1]["responder"]
    world.advance(seconds=40)
    r = await world.post(responder, f"/api/v1/callouts/{callout_id}/ack")
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["already"] is False and first["account_id"] == responder.id
    world.advance(minutes=3)
    r = await world.post(responder, f"/api/v1/callouts/{callout_id}/ack")
    assert r.status_code == 200
    assert r.json()["acked_at"] == first["acked_at"] and r.json()["already"] is True
    r = await world.get(responder, f"/api/v1/callouts/{callout_id}")
    assert r.json()["mine"]["acked_at"] == first["acked_at"]
    # not sent to them, or no such callout: the same 404
    resident = await world.person()
    for person, path in (
        (world.dispatcher, f"/api/v1/callouts/{callout_id}/ack"),
        (resident, f"/api/v1/callouts/{callout_id}/ack"),
        (responder, "/api/v1/callouts/999999/ack"),
    ):
        r = await world.post(person, path)
        assert r.status_code == 404 and r.json()["code"] == "callout_not_found"
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await world.client.post(f"/api/v1/callouts/{callout_id}/ack")
    assert r.status_code == 401


async def test_the_board_shows_each_watcher_their_own_area(world):
    callout_id = await district_callout(world)  # 15 people: 5 in each of G1, G2 (T1), G3 (T2)
    for grid in (G1, G3):
        await world.post(world.teams[grid]["responder"], f"/api/v1/callouts/{callout_id}/ack")

    async def board(person, **params):
        r = await world.get(person, f"/api/v1/callouts/{callout_id}/board", **params)
        assert r.status_code == 200, r.text
        return r.json()

    whole = await board(world.supervisor, level="township")
    assert whole["totals"] == {"recipients": 15, "acked": 2, "pending": 13, "escalated": 0}
    assert {a["area"]["name"]: (a["recipients"], a["acked"]) for a in whole["areas"]} == {
        "解放碑街道": (10, 1),
        "朝天门街道": (5, 1),
    }
    t1 = await board(world.dispatcher)
    assert t1["totals"]["recipients"] == 10 and t1["totals"]["acked"] == 1
    assert [a["area"]["code"] for a in t1["areas"]] == [G2, G1]  # most still waiting first
    assert {p["grid"]["code"] for p in t1["people"]} == {G1, G2}
    # grids repeat their names (第一网格 in every community): each comes with its community
    assert {(a["parent_name"], a["area"]["name"]) for a in t1["areas"]} == {
        ("较场口社区", "第一网格"),
        ("较场口社区", "第二网格"),
    }
    assert {p["community"] for p in t1["people"]} == {"较场口社区"}
    assert t1["callout"]["recipients"] == 10  # the counts inside the caller's area
    t2 = await board(world.other_dispatcher)
    assert t2["totals"]["recipients"] == 5 and {p["grid"]["code"] for p in t2["people"]} == {G3}
    assert {(p["community"], p["grid"]["name"]) for p in t2["people"]} == {("朝东社区", "第一网格")}
    leader = await board(world.teams[G1]["grid_leader"])
    assert leader["totals"]["recipients"] == 5
    acked = await board(world.dispatcher, status="acked")
    assert [p["account_id"] for p in acked["people"]] == [world.teams[G1]["responder"].id]
    assert acked["people"][0]["status"] == "acked" and acked["people"][0]["phone"]
    pending = await board(world.dispatcher, status="pending", area_id=world.areas[G2])
    assert len(pending["people"]) == 5 and {p["status"] for p in pending["people"]} == {"pending"}
    # the people page by page
    page = await board(world.supervisor, limit=5)
    seen = [p["account_id"] for p in page["people"]]
    while page["next_cursor"]:
        page = await board(world.supervisor, limit=5, cursor=page["next_cursor"])
        seen += [p["account_id"] for p in page["people"]]
    assert len(seen) == len(set(seen)) == 15
    # a township's area filter cannot reach into the other township
    outside = await board(world.dispatcher, area_id=world.areas[G3])
    assert outside["totals"]["recipients"] == 0 and outside["people"] == []
    # someone called but not watching: the callout yes, its board no
    responder = world.teams[G2]["responder"]
    r = await world.get(responder, f"/api/v1/callouts/{callout_id}")
    assert r.status_code == 200 and r.json()["recipients"] is None
    r = await world.get(responder, f"/api/v1/callouts/{callout_id}/board")
    assert r.status_code == 403
    # someone it was not sent to: it does not exist for them
    outsider = await world.person(("grid_instructor", G1))
    for path in (f"/api/v1/callouts/{callout_id}", f"/api/v1/callouts/{callout_id}/board"):
        r = await world.get(outsider, path)
        assert r.status_code == 404 and r.json()["code"] == "callout_not_found"
    r = await world.get(world.dispatcher, f"/api/v1/callouts/{callout_id}/board", level="planet")
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"


async def test_callout_lists_are_scoped(world):
    district = await district_callout(world)
    mine = (await world.warn())["callout_ids"][0]  # T1 over G1
    theirs = (await world.warn(by=world.other_dispatcher, area_ids=[world.areas[G3]]))[
        "callout_ids"
    ][0]

    async def listed(person, **params):
        r = await world.get(person, "/api/v1/callouts", **params)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await listed(world.dispatcher) == [mine, district]
    assert await listed(world.other_dispatcher) == [theirs, district]
    assert await listed(world.supervisor) == [theirs, mine, district]
    assert await listed(world.teams[G2]["grid_leader"]) == [district]  # not G1's
    assert await listed(world.teams[G1]["responder"]) == [mine, district]  # sent to them
    assert await listed(world.teams[G1]["grid_worker"]) == [mine, district]  # called too
    assert await listed(world.supervisor, status="cancelled") == []
    page = await world.get(world.supervisor, "/api/v1/callouts", limit=2)
    assert page.json()["next_cursor"]


async def test_my_pending_callouts(world):
    first = (await world.warn())["callout_ids"][0]
    second = await district_callout(world)
    monitor = world.teams[G1]["site_monitor"]

    async def mine(**params):
        r = await world.get(monitor, "/api/v1/me/callouts", **params)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    waiting = await mine()
    assert [c["id"] for c in waiting] == [second, first]
    assert waiting[0]["level"] == "orange" and waiting[0]["grid"]["code"] == G1
    assert waiting[0]["acked_at"] is None
    await world.post(monitor, f"/api/v1/callouts/{second}/ack")
    assert [c["id"] for c in await mine()] == [first]
    assert [c["id"] for c in await mine(status="acked")] == [second]
    assert [c["id"] for c in await mine(status="all")] == [second, first]
    # the grid's worker is called out too; someone holding no called duty is not
    r = await world.get(world.teams[G1]["grid_worker"], "/api/v1/me/callouts")
    assert [c["id"] for c in r.json()["items"]] == [second, first]
    instructor = await world.person(("grid_instructor", G1))
    r = await world.get(instructor, "/api/v1/me/callouts")
    assert r.json()["items"] == []


async def test_acknowledgements_reach_only_those_who_may_watch(world, live):
    callout_id = await district_callout(world)
    watchers = {
        "t1": Listener(live, world.dispatcher.id),
        "t2": Listener(live, world.other_dispatcher.id),
        "district": Listener(live, world.supervisor.id),
        "g1_leader": Listener(live, world.teams[G1]["grid_leader"].id),
        "g2_leader": Listener(live, world.teams[G2]["grid_leader"].id),
        "g1_worker": Listener(live, world.teams[G1]["grid_worker"].id),
    }
    for listener in watchers.values():
        await listener.start()
    try:
        responder = world.teams[G1]["responder"]
        await world.post(responder, f"/api/v1/callouts/{callout_id}/ack")
        await world.post(responder, f"/api/v1/callouts/{callout_id}/ack")  # a repeat: no event
        for _ in range(100):
            await asyncio.sleep(0.01)
            if watchers["t1"].of("callout.ack") and watchers["g1_leader"].of("callout.ack"):
                break
        await asyncio.sleep(0.05)
        for name in ("t1", "district", "g1_leader"):
            got = watchers[name].of("callout.ack")
            assert len(got) == 1, name
            assert got[0]["callout_id"] == callout_id and got[0]["account_id"] == responder.id
            assert got[0]["grid_id"] == world.areas[G1]
        for name in ("t2", "g2_leader", "g1_worker"):
            assert watchers[name].of("callout.ack") == [], name
    finally:
        for listener in watchers.values():
            await listener.close()


async def test_a_callout_by_hand(world):
    worker = world.teams[G1]["grid_worker"]
    body = {"area_ids": [world.areas[G1]], "message": "请立即到岗", "account_ids": [worker.id]}
    r = await world.post(world.dispatcher, "/api/v1/callouts", body)
    assert r.status_code == 201, r.text
    callout = r.json()
    assert callout["recipients"] == 1 and callout["warning_id"] is None
    inbox = await notifications(kind="callout", recipient=worker.id)
    assert inbox[0]["payload"]["title_zh"] == "紧急叫应"
    assert inbox[0]["payload"]["body_zh"].startswith("请立即到岗")
    # by duty: only the grid workers of both T1 grids
    r = await world.post(
        world.dispatcher,
        "/api/v1/callouts",
        {"area_ids": [world.areas["500103001"]], "message": "集合", "duties": ["grid_worker"]},
    )
    assert r.status_code == 201 and r.json()["recipients"] == 2
    # refusals
    resident = await world.person()
    for change, status, code in (
        ({"account_ids": [world.teams[G3]["responder"].id]}, 422, "callout_recipient_invalid"),
        ({"account_ids": [resident.id]}, 422, "callout_recipient_invalid"),
        ({"duties": ["grid_leader"], "account_ids": [worker.id]}, 422, "validation_failed"),
        ({"duties": ["commander"]}, 422, "validation_failed"),
        ({"area_ids": [world.areas[G3]]}, 403, "forbidden"),
        ({"message": ""}, 422, "validation_failed"),
    ):
        r = await world.post(world.dispatcher, "/api/v1/callouts", {**body, **change})
        assert r.status_code == status, (change, r.text)
        assert r.json()["code"] == code, (change, r.json())
    # an area where nobody holds the duties
    d2 = await world.person(("supervisor", "500104"))
    r = await world.post(
        d2, "/api/v1/callouts", {"area_ids": [world.areas["500104"]], "message": "集合"}
    )
    assert r.status_code == 422 and r.json()["code"] == "callout_no_recipients"
