"""The whole chain on the test clock: a warning calls out a grid's team, some answer, and those
who do not are reminded, then their grid leader and then the township are told, each at the
right minute, by the scheduled job under its lease."""

from __future__ import annotations

from factories import G1

from grid_backend import scheduler
from grid_backend.settings import get_settings

from .conftest import notifications

JOB = scheduler.find("alerts.escalate")


async def tick() -> dict:
    result = await scheduler.run_job(JOB)
    assert result.ran and not result.error, result
    return result.result


async def ack(world, person, callout_id: int) -> dict:
    r = await world.post(person, f"/api/v1/callouts/{callout_id}/ack")
    assert r.status_code == 200, r.text
    return r.json()


async def test_warning_callout_acknowledgements_and_escalation_minute_by_minute(world):
    team = world.teams[G1]
    w = await world.warn()  # 10:00
    callout_id = w["callout_ids"][0]
    await ack(world, team["grid_leader"], callout_id)
    await ack(world, team["responder"], callout_id)
    await ack(world, team["grid_worker"], callout_id)  # grid workers are called out too
    silent = {team["site_monitor"].id, team["emergency_officer"].id}

    world.advance(minutes=4, seconds=59)
    assert (await tick())["callouts"] == 0
    assert await notifications(kind="callout.reminder") == []

    world.advance(seconds=1)  # 10:05: a reminder to each who has not answered
    assert await tick() == {"callouts": 1, "reminded": 2, "leaders": 0, "dispatchers": 0}
    reminders = await notifications(kind="callout.reminder")
    assert {n["recipient"] for n in reminders} == silent
    assert reminders[0]["urgent"] is True and reminders[0]["payload"]["callout_id"] == callout_id
    assert len(await notifications(kind="callout.reminder", channel="push")) == 2
    assert (await tick())["callouts"] == 0  # nothing is due again before 10:10

    world.advance(minutes=2)  # the emergency officer answers the reminder
    await ack(world, team["emergency_officer"], callout_id)

    world.advance(minutes=3)  # 10:10: the grid leader hears who is still silent
    assert await tick() == {"callouts": 1, "reminded": 0, "leaders": 1, "dispatchers": 0}
    told = await notifications(kind="callout.escalated")
    assert [n["recipient"] for n in told] == [team["grid_leader"].id]
    data = told[0]["payload"]
    assert data["count"] == 1 and data["account_ids"] == [team["site_monitor"].id]
    assert data["names"] == "1site_monitor" and data["minutes"] == 10
    assert data["area_name"] == "第一网格"

    world.advance(minutes=5)  # 10:15: the township's dispatcher, not the other township's
    assert await tick() == {"callouts": 1, "reminded": 0, "leaders": 0, "dispatchers": 1}
    told = await notifications(kind="callout.escalated", recipient=world.dispatcher.id)
    assert len(told) == 1 and told[0]["payload"]["area_name"] == "解放碑街道"
    assert told[0]["payload"]["minutes"] == 15
    assert await notifications(recipient=world.other_dispatcher.id) == []

    world.advance(minutes=30)  # escalation is over: nothing more, however long the silence
    assert (await tick())["callouts"] == 0
    assert len(await notifications(kind="callout.escalated")) == 2
    r = await world.get(world.dispatcher, f"/api/v1/callouts/{callout_id}")
    assert r.json()["step"] == 3 and r.json()["next_step_at"] is None
    r = await world.get(world.dispatcher, f"/api/v1/callouts/{callout_id}/board")
    people = {p["account_id"]: p for p in r.json()["people"]}
    assert people[team["site_monitor"].id]["status"] == "escalated"
    assert people[team["site_monitor"].id]["step"] == 3
    assert people[team["emergency_officer"].id]["status"] == "acked"
    assert people[team["emergency_officer"].id]["step"] == 1  # answered after the reminder
    assert people[team["responder"].id]["step"] == 0


async def test_a_late_tick_does_every_step_due_and_two_ticks_do_it_once(world):
    team = world.teams[G1]
    w = await world.warn()
    callout_id = w["callout_ids"][0]
    await ack(world, team["grid_leader"], callout_id)
    world.advance(minutes=16)  # the scheduler was down: reminder, leader and township at once
    # another replica holds this tick's lease: this one skips it
    assert await scheduler.claim(JOB, now=world.now, holder="replica-b")
    skipped = await scheduler.run_job(JOB, holder="replica-a")
    assert not skipped.ran and await notifications(kind="callout.reminder") == []
    await scheduler.release(JOB, holder="replica-b", result={}, error="")
    done = (await scheduler.run_job(JOB, holder="replica-a")).result
    assert done == {"callouts": 1, "reminded": 4, "leaders": 1, "dispatchers": 1}
    # run the job's function again directly, as a crashed-and-restarted run would: no repeats
    from grid_backend.alerts import jobs
    from grid_backend.alerts.tables import Callout, CalloutRecipient

    await Callout.update({Callout.step: 0, Callout.next_step_at: world.now}).where(
        Callout.id == callout_id
    )
    await CalloutRecipient.update({CalloutRecipient.step: 0}).where(
        CalloutRecipient.callout == callout_id
    )
    assert (await jobs.escalate(world.now))["callouts"] == 1
    assert len(await notifications(kind="callout.reminder")) == 4
    assert len(await notifications(kind="callout.escalated")) == 2
    leader = await notifications(kind="callout.escalated", recipient=team["grid_leader"].id)
    assert leader[0]["payload"]["count"] == 4


async def test_everyone_answering_stops_the_escalation(world):
    team = world.teams[G1]
    w = await world.warn()
    callout_id = w["callout_ids"][0]
    for duty in ("grid_leader", "responder", "site_monitor", "emergency_officer", "grid_worker"):
        await ack(world, team[duty], callout_id)
    world.advance(minutes=20)
    assert await tick() == {"callouts": 1, "reminded": 0, "leaders": 0, "dispatchers": 0}
    assert await notifications(kind="callout.reminder") == []
    assert await notifications(kind="callout.escalated") == []


async def test_the_escalation_interval_is_configurable(world, monkeypatch):
    monkeypatch.setenv("GRID_CALLOUT_ESCALATE_MINUTES", "2")
    get_settings.cache_clear()
    try:
        w = await world.warn()
        slow = await world.warn(escalate_minutes=30, area_ids=[world.areas[G1]])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    r = await world.get(world.dispatcher, f"/api/v1/callouts/{w['callout_ids'][0]}")
    assert r.json()["escalate_minutes"] == 2
    world.advance(minutes=2)
    assert (await tick())["reminded"] == 5  # the first callout only
    reminders = await notifications(kind="callout.reminder")
    assert {n["payload"]["callout_id"] for n in reminders} == {w["callout_ids"][0]}
    world.advance(minutes=28)
    await tick()
    reminders = await notifications(kind="callout.reminder")
    assert {n["payload"]["callout_id"] for n in reminders} == {
        w["callout_ids"][0],
        slow["callout_ids"][0],
    }
    r = await world.post(
        world.dispatcher, "/api/v1/warnings", world.warning_body(escalate_minutes=0)
    )
    assert r.status_code == 422


async def test_a_cancelled_callout_escalates_no_further(world):
    w = await world.warn()
    callout_id = w["callout_ids"][0]
    r = await world.post(world.other_dispatcher, f"/api/v1/callouts/{callout_id}/cancel")
    assert r.status_code == 404
    r = await world.post(world.teams[G1]["grid_leader"], f"/api/v1/callouts/{callout_id}/cancel")
    assert r.status_code == 403
    r = await world.post(world.dispatcher, f"/api/v1/callouts/{callout_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await world.post(world.dispatcher, f"/api/v1/callouts/{callout_id}/cancel")
    assert r.status_code == 409 and r.json()["code"] == "callout_closed"
    world.advance(minutes=20)
    assert (await tick())["callouts"] == 0
    assert await notifications(kind="callout.reminder") == []
