"""Deadline reminders and escalation of hazard cases, on the test clock."""

from __future__ import annotations

from datetime import timedelta

from factories import file_report, make_person, make_tree

from grid_backend import scheduler
from grid_backend.core import clock
from grid_backend.notify.tables import Notification


async def _inbox(account_id: int) -> list[str]:
    rows = (
        await Notification.select(Notification.kind)
        .where((Notification.recipient == account_id) & (Notification.channel == "inbox"))
        .order_by(Notification.id)
        .run()
    )
    return [r["kind"] for r in rows]


async def test_reminder_then_escalation_up_the_tree(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    commander = await make_person(("commander", "500103001"))
    supervisor = await make_person(("supervisor", "500103"))
    other_township = await make_person(("dispatcher", "500103002"))
    case = await file_report(client, resident)
    submitted = clock.now()
    job = scheduler.find("hazards.remind_deadlines")

    async def tick(after: timedelta) -> None:
        clock.set_clock(lambda: submitted + after)
        assert (await scheduler.run_job(job)).ran

    await tick(timedelta(minutes=10))  # triage due in 50 min: nothing yet
    assert await _inbox(dispatcher.id) == []
    await tick(timedelta(minutes=40))  # due in 20 min: the dispatcher is reminded
    assert await _inbox(dispatcher.id) == ["case.due_soon"]
    await tick(timedelta(minutes=45))  # a second run sends nothing twice
    assert await _inbox(dispatcher.id) == ["case.due_soon"]
    await tick(timedelta(minutes=61))  # overdue: the responsible dispatcher
    assert await _inbox(dispatcher.id) == ["case.due_soon", "case.overdue"]
    assert await _inbox(commander.id) == []
    await tick(timedelta(hours=3, minutes=1))  # 2 h late: the township's command
    assert await _inbox(commander.id) == ["case.overdue"]
    assert await _inbox(supervisor.id) == []
    await tick(timedelta(hours=25, minutes=1))  # a day late: the district
    assert await _inbox(supervisor.id) == ["case.overdue"]
    assert await _inbox(other_township.id) == []
    assert case["id"]


async def test_suspended_and_closed_cases_are_not_chased(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    case = await file_report(client, resident)
    r = await client.post(
        f"/api/v1/reports/{case['id']}/actions",
        headers=dispatcher.headers,
        json={"action": "reject", "reason": "不属于安全隐患"},
    )
    assert r.status_code == 200
    start = clock.now()
    clock.set_clock(lambda: start + timedelta(hours=30))
    outcome = await scheduler.run_job(scheduler.find("hazards.remind_deadlines"))
    assert outcome.result == {"cases": 0, "notified": 0}
