"""Live case events for the consoles: who receives a new or urgent case (only the staff of its
areas), the urgent alarm's "seen" (once, on the timeline, audited, scoped, announced to the
area), and the deadline announcements of the scheduled job on the test clock."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from factories import D1, G1, G3, T1, T2, file_report, make_person, make_tree

from grid_backend import scheduler
from grid_backend.core import clock
from grid_backend.core.tables import AuditEntry
from grid_backend.hazards.tables import HazardEvent, HazardReport
from grid_backend.notify import events
from grid_backend.notify import services as notify_services

URGENT = {"urgent": True, "reporter_safe": False, "description": "燃气泄漏，已有人员被困"}


@pytest.fixture
async def live(app, db):
    """The app's channels plugin, started as the app's lifespan would."""
    plugin = app.plugins.get(events.LiveEvents)
    async with plugin:
        yield plugin


class Listener:
    """The live events one account's console receives (what GET /api/v1/events streams)."""

    def __init__(self, plugin, account_id: int) -> None:
        self.stream = notify_services.live_stream(plugin=plugin, account_id=account_id)
        self.messages: list = []
        self.task: asyncio.Task | None = None

    async def start(self) -> Listener:
        assert (await anext(self.stream)).comment == "connected"
        self.task = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.stream:
            if message.event:
                self.messages.append(message)

    def of(self, kind: str) -> list[dict]:
        return [json.loads(m.data) for m in self.messages if m.event == kind]

    def case_events(self) -> list[tuple[str, int]]:
        return [
            (m.event, json.loads(m.data)["case_id"])
            for m in self.messages
            if m.event.startswith("case.")
        ]

    async def close(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.stream.aclose()


async def settle(*listeners: Listener, seconds: float = 0.3) -> None:
    """Let published events reach the streams (the plugin delivers from its own task)."""
    await asyncio.sleep(seconds)


@pytest.fixture
async def people(client, live):
    await make_tree()
    who = {
        "resident": await make_person(),
        "t1": await make_person(("dispatcher", T1)),
        "t2": await make_person(("dispatcher", T2)),
        "district": await make_person(("supervisor", D1)),
        "g1_worker": await make_person(("grid_worker", G1)),
        "g3_worker": await make_person(("grid_worker", G3)),
    }
    listeners = {
        name: await Listener(live, p.id).start() for name, p in who.items() if name != "resident"
    }
    yield who, listeners
    for listener in listeners.values():
        await listener.close()


async def test_new_and_urgent_cases_reach_only_the_consoles_of_their_areas(client, people):
    who, listen = people
    urgent = await file_report(client, who["resident"], grid=G1, **URGENT)
    plain = await file_report(client, who["resident"], grid=G3, category="fire")
    await settle()
    assert listen["t1"].case_events() == [("case.urgent", urgent["id"])]
    assert listen["g1_worker"].case_events() == [("case.urgent", urgent["id"])]
    assert listen["district"].case_events() == [
        ("case.urgent", urgent["id"]),
        ("case.new", plain["id"]),
    ]
    # the other township's console never hears of T1's case, and T1's not of T2's
    assert listen["t2"].case_events() == [("case.new", plain["id"])]
    assert listen["g3_worker"].case_events() == [("case.new", plain["id"])]
    event = listen["t1"].of("case.urgent")[0]
    assert event["urgent"] is True and event["status"] == "submitted"
    assert event["category_zh"] == "燃气泄漏" or event["category"] == "gas"
    assert event["excerpt"] == "燃气泄漏，已有人员被困"
    assert "第一网格" in event["place"]


async def test_seen_once_on_the_timeline_audited_scoped_and_announced(client, people):
    who, listen = people
    case = await file_report(client, who["resident"], grid=G1, **URGENT)
    path = f"/api/v1/reports/{case['id']}/seen"

    alarms = await client.get("/api/v1/urgent-alarms", headers=who["t1"].headers)
    assert [a["case_id"] for a in alarms.json()] == [case["id"]]
    assert alarms.json()[0]["excerpt"] == URGENT["description"]
    assert (await client.get("/api/v1/urgent-alarms", headers=who["t2"].headers)).json() == []

    # another township's dispatcher and the reporter: the case is not theirs to see
    for person in (who["t2"], who["resident"], who["g3_worker"]):
        r = await client.post(path, headers=person.headers)
        assert r.status_code == 404 and r.json()["code"] == "report_not_found", r.text

    filed = clock.now()
    clock.set_clock(lambda: filed + timedelta(minutes=2))
    first = await client.post(path, headers=who["t1"].headers)
    assert first.status_code == 200, first.text
    assert first.json()["already"] is False and first.json()["seen_by_id"] == who["t1"].id
    again = await client.post(path, headers=who["district"].headers)
    assert again.status_code == 200
    assert again.json()["already"] is True
    assert again.json()["seen_by_id"] == who["t1"].id
    assert again.json()["seen_at"] == first.json()["seen_at"]

    events_on_case = await HazardEvent.select().where(
        (HazardEvent.report == case["id"]) & (HazardEvent.action == "urgent_seen")
    )
    assert len(events_on_case) == 1 and events_on_case[0]["actor"] == who["t1"].id
    assert events_on_case[0]["duty"] == "dispatcher" and events_on_case[0]["public"] is False
    audited = await AuditEntry.select().where(AuditEntry.action == "case.urgent_seen")
    assert [a["actor_id"] for a in audited] == [who["t1"].id]

    # the staff's case page lists it (the reporter's public timeline does not)
    staff = (await client.get(f"/api/v1/reports/{case['id']}", headers=who["t1"].headers)).json()
    seen = [e for e in staff["timeline"] if e["action"] == "urgent_seen"]
    assert len(seen) == 1 and seen[0]["actor_id"] == who["t1"].id
    mine = (
        await client.get(f"/api/v1/reports/{case['id']}", headers=who["resident"].headers)
    ).json()
    assert all(e["action"] != "urgent_seen" for e in mine["timeline"])

    await settle()
    for name in ("t1", "district", "g1_worker"):
        assert listen[name].of("case.seen") == [
            {**listen[name].of("case.seen")[0], "case_id": case["id"]}
        ], name
        assert listen[name].of("case.seen")[0]["seen_by_id"] == who["t1"].id
    assert listen["t2"].of("case.seen") == [] and listen["g3_worker"].of("case.seen") == []
    assert (await client.get("/api/v1/urgent-alarms", headers=who["t1"].headers)).json() == []


async def test_seen_refuses_a_case_that_is_not_urgent(client, people):
    who, _ = people
    case = await file_report(client, who["resident"], grid=G1)
    r = await client.post(f"/api/v1/reports/{case['id']}/seen", headers=who["t1"].headers)
    assert r.status_code == 409 and r.json()["code"] == "report_not_urgent"
    r = await client.post("/api/v1/reports/999999/seen", headers=who["t1"].headers)
    assert r.status_code == 404


async def test_seen_and_alarms_are_in_the_openapi_document(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    seen = paths["/api/v1/reports/{report_id}/seen"]["post"]
    assert {"200", "401", "404", "409"} <= set(seen["responses"])
    assert seen["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "Seen"
    )
    assert "get" in paths["/api/v1/urgent-alarms"]


async def test_deadlines_are_announced_once_to_the_area_when_near_and_when_passed(client, people):
    who, listen = people
    case = await file_report(client, who["resident"], grid=G1)  # triage due in 60 min
    other = await file_report(client, who["resident"], grid=G3)
    filed = clock.now()
    job = scheduler.find("hazards.announce_deadlines")

    async def tick(after: timedelta) -> dict:
        clock.set_clock(lambda: filed + after)
        outcome = await scheduler.run_job(job)
        assert outcome.ran and not outcome.error, outcome
        await settle()
        return outcome.result

    def deadlines(listener: Listener) -> list[tuple[str, int]]:
        return [e for e in listener.case_events() if e[0] in ("case.due_soon", "case.overdue")]

    assert (await tick(timedelta(minutes=10)))["announced"] == 0
    assert (await tick(timedelta(minutes=35)))["announced"] == 2  # due in 25 min
    assert deadlines(listen["t1"]) == [("case.due_soon", case["id"])]
    assert deadlines(listen["t2"]) == [("case.due_soon", other["id"])]
    assert (await tick(timedelta(minutes=45)))["announced"] == 0  # once per deadline
    assert (await tick(timedelta(minutes=61)))["announced"] == 2  # passed
    assert (await tick(timedelta(minutes=90)))["announced"] == 0
    assert deadlines(listen["t1"]) == [("case.due_soon", case["id"]), ("case.overdue", case["id"])]
    assert deadlines(listen["g3_worker"]) == [
        ("case.due_soon", other["id"]),
        ("case.overdue", other["id"]),
    ]
    assert sorted(deadlines(listen["district"])) == sorted(
        [(k, c["id"]) for k in ("case.due_soon", "case.overdue") for c in (case, other)]
    )
    overdue = listen["t1"].of("case.overdue")[0]
    assert overdue["due_at"] is not None and overdue["status"] == "submitted"

    # a new deadline (the next stage's) gets its own announcement
    await HazardReport.update({HazardReport.due_at: filed + timedelta(minutes=120)}).where(
        HazardReport.id == case["id"]
    )
    assert (await tick(timedelta(minutes=95)))["announced"] == 1
    assert deadlines(listen["t1"])[-1] == ("case.due_soon", case["id"])

    # the marks are pruned once their deadlines can no longer be announced, and nothing rings
    # again for them
    prune = scheduler.find("hazards.prune_announcements")
    clock.set_clock(lambda: filed + timedelta(hours=3))
    assert (await scheduler.run_job(prune)).result == {"deleted": 0}
    clock.set_clock(lambda: filed + timedelta(days=3))
    assert (await scheduler.run_job(prune)).result == {"deleted": 5}
    assert (await tick(timedelta(days=3, minutes=1)))["announced"] == 0


async def test_a_command_without_live_events_announces_nothing_and_keeps_them(client):
    await make_tree()
    resident = await make_person()
    await file_report(client, resident, grid=G1)
    filed = clock.now()
    clock.set_clock(lambda: filed + timedelta(minutes=40))
    outcome = await scheduler.run_job(scheduler.find("hazards.announce_deadlines"))
    assert outcome.result["announced"] == 0 and "skipped" in outcome.result
