"""An urgent report alerts its grid's responders and emergency officer and the township's
dispatcher at once, before anyone triages it: urgent notifications through the outbox and a
response record for each responder."""

from __future__ import annotations

from datetime import timedelta

from factories import G1, G3, G4, file_report, upload_photo

from grid_backend.hazards.tables import HazardEvent
from grid_backend.notify.tables import Notification
from grid_backend.people.tables import Assignment
from grid_backend.response.tables import ResponseRecord


async def _urgent_notifications(case_id: int) -> list[dict]:
    return (
        await Notification.select()
        .where(
            (Notification.kind == "case.urgent")
            & (Notification.dedupe_key.like(f"case:{case_id}:urgent:%"))
        )
        .output(load_json=True)
        .order_by(Notification.id)
        .run()
    )


async def test_urgent_report_alerts_the_grid_responders_and_the_dispatcher_at_once(world):
    # the responder has quiet hours around now (10:00 local): urgent alerts ignore them
    r = await world.client.put(
        "/api/v1/me/notification-preferences",
        json={"push": True, "sms": True, "quiet_hours": {"start": "09:00", "end": "12:00"}},
        headers=world.responder.headers,
    )
    assert r.status_code == 200, r.text
    case = await world.urgent(grid=G1)
    assert case["status"] == "submitted"  # nobody has triaged it yet

    rows = await _urgent_notifications(case["id"])
    alerted = {r["recipient"] for r in rows}
    assert alerted == {world.responder.id, world.officer.id, world.dispatcher.id}
    # not the grid worker, nor another grid's responder, nor another township's dispatcher
    assert world.worker.id not in alerted
    assert world.other_responder.id not in alerted
    assert world.dispatcher2.id not in alerted
    for row in rows:
        assert row["urgent"] is True
        assert row["due_at"] == world.now  # due now, even inside the quiet hours
        assert row["payload"]["case_id"] == case["id"]
        assert (row["payload"]["category_zh"], row["payload"]["grid_name"]) == ("燃气", "第一网格")
    mine = [r for r in rows if r["recipient"] == world.responder.id]
    assert {r["channel"] for r in mine} == {"inbox", "push", "sms"}

    # the responder's inbox shows it on top, marked urgent, in the request's language
    r = await world.client.get(
        "/api/v1/me/notifications",
        headers={**world.responder.headers, "Accept-Language": "en"},
    )
    top = r.json()["items"][0]
    assert top["kind"] == "case.urgent"
    assert top["urgent"] is True
    assert f"#{case['id']}" in top["body"]

    # a response record for each responder (not the dispatcher), alerted now
    items = await world.responses(case["id"])
    assert sorted((i["account_id"], i["duty"], i["tier"], i["status"]) for i in items) == sorted(
        [
            (world.responder.id, "responder", "community", "alerted"),
            (world.officer.id, "emergency_officer", "community", "alerted"),
        ]
    )
    assert all(i["next_step"] == "acknowledge" for i in items)
    assert all(i["alerted_at"] == world.now.isoformat().replace("+00:00", "Z") for i in items)

    # the case's timeline records whom it alerted (staff only)
    event = (
        await HazardEvent.select()
        .where((HazardEvent.report == case["id"]) & (HazardEvent.action == "urgent_alert"))
        .output(load_json=True)
        .first()
        .run()
    )
    assert sorted(event["data"]["responders"]) == sorted([world.responder.id, world.officer.id])
    assert event["data"]["dispatchers"] == [world.dispatcher.id]
    assert event["public"] is False

    # the responder's phone finds its record and the case
    r = await world.client.get("/api/v1/me/responses", headers=world.responder.headers)
    mine = r.json()["items"]
    assert [m["case"]["id"] for m in mine] == [case["id"]]
    assert mine[0]["response"]["account_id"] == world.responder.id
    assert mine[0]["case"]["waiting"] is True


async def test_a_report_that_is_not_urgent_alerts_nobody(world):
    await file_report(world.client, world.resident, grid=G1)
    assert await Notification.count().where(Notification.kind == "case.urgent").run() == 0
    assert await ResponseRecord.count().run() == 0


async def test_an_urgent_report_where_nobody_is_on_duty_waits_for_the_console(world):
    case = await world.urgent(grid=G4)  # another district: no responders, no dispatcher
    assert await Notification.count().where(Notification.kind == "case.urgent").run() == 0
    assert await HazardEvent.count().where(HazardEvent.action == "urgent_alert").run() == 0
    admin = await world.person(("admin", "500000"))
    r = await world.client.get(
        "/api/v1/urgent-cases", params={"waiting": "true"}, headers=admin.headers
    )
    assert [(c["id"], c["responses"]) for c in r.json()["items"]] == [(case["id"], [])]


async def test_a_township_without_a_dispatcher_alerts_its_commander(world):
    commander = await world.person(("commander", "500103002"), name="朝天门指挥")
    # T2's dispatcher's duty ended yesterday
    await (
        Assignment.update({Assignment.valid_to: world.now.date() - timedelta(days=1)})
        .where(Assignment.account == world.dispatcher2.id)
        .run()
    )
    case = await world.urgent(grid=G3)
    rows = await _urgent_notifications(case["id"])
    assert {r["recipient"] for r in rows} == {commander.id}  # G3 has no responders
    assert await ResponseRecord.count().run() == 0
    r = await world.client.get(
        "/api/v1/urgent-cases", params={"waiting": "true"}, headers=commander.headers
    )
    assert [c["id"] for c in r.json()["items"]] == [case["id"]]


async def test_a_retried_urgent_submission_alerts_once(world):
    body = {
        "category": "gas",
        "location": {"lat": 29.52, "lng": 106.52},
        "photo_ids": [await upload_photo(world.client, world.resident)],
        "reporter_safe": False,
        "urgent": True,
        "client_id": "phone-draft-urgent-1",
    }
    first = await world.client.post("/api/v1/reports", json=body, headers=world.resident.headers)
    assert first.status_code == 201, first.text
    sent = await _urgent_notifications(first.json()["id"])
    assert len(sent) == 3 * 2  # three people, inbox and push each (SMS is off by default)
    again = await world.client.post("/api/v1/reports", json=body, headers=world.resident.headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert await ResponseRecord.count().run() == 2
    assert await _urgent_notifications(first.json()["id"]) == sent
