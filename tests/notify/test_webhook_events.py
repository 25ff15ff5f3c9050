"""Which changes write webhook events, once each, in the change's transaction; every payload
matches the documented JSON Schema (docs/webhooks/event.schema.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
from factories import CITY, G1, POINT_IN, T1, file_report, make_person, make_tree, upload_photo

from grid_backend import scheduler
from grid_backend.core import clock
from grid_backend.notify.services import webhooks
from grid_backend.notify.tables import Notification, WebhookSubscriber

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "webhooks" / "event.schema.json").read_text()
)
SCRIPT = "<script>alert(1)</script>"


async def _subscriber(kinds: list[str]) -> int:
    admin = await make_person(("admin", CITY))
    rows = (
        await WebhookSubscriber.insert(
            WebhookSubscriber(
                name="城市大脑",
                url="https://93.184.215.14/hook",
                secret="s" * 32,
                kinds="," + ",".join(kinds) + ",",
                created_by=admin.id,
            )
        )
        .returning(WebhookSubscriber.id)
        .run()
    )
    return rows[0]["id"]


async def _events() -> list[dict]:
    rows = (
        await Notification.select(Notification.payload)
        .where(Notification.channel == "webhook")
        .order_by(Notification.id)
        .output(load_json=True)
        .run()
    )
    events = [r["payload"] for r in rows]
    for event in events:
        jsonschema.validate(event, SCHEMA, cls=jsonschema.Draft202012Validator)
    return events


async def test_a_case_from_filing_to_closing(client, db):
    await make_tree()
    await _subscriber(list(webhooks.KINDS))
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", T1))
    worker = await make_person(("grid_worker", G1), employment="full_time")
    case = await file_report(client, resident, description="漏气" + SCRIPT)

    async def act(person, **body):
        r = await client.post(
            f"/api/v1/reports/{case['id']}/actions", json=body, headers=person.headers
        )
        assert r.status_code == 200, r.text

    await act(dispatcher, action="register")
    await act(dispatcher, action="dispatch", assignee_id=worker.id)
    await act(worker, action="acknowledge")
    after = await upload_photo(client, worker, "flower.jpg")
    await act(worker, action="report_fixed", note="修好", photo_ids=[after])
    await act(dispatcher, action="pass_check")
    events = await _events()
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "case.created"
    assert kinds.count("case.status_changed") == 5
    assert kinds.count("case.assigned") == 1 and kinds.count("case.closed") == 1
    assert events[0]["data"]["case"]["description"] == "漏气" + SCRIPT  # as data, verbatim
    assigned = next(e for e in events if e["kind"] == "case.assigned")
    assert assigned["data"]["case"]["assignee_id"] == worker.id
    assert assigned["data"]["case"]["status"] == "dispatched"
    closed = next(e for e in events if e["kind"] == "case.closed")
    assert closed["data"]["case"]["status"] == "closed"
    assert len({e["id"] for e in events}) == len(events)  # one id an event
    assert all(resident.phone not in json.dumps(e) for e in events)


async def test_a_missed_deadline_is_sent_once(client, db):
    await make_tree()
    await _subscriber(["case.deadline_missed"])
    resident = await make_person()
    case = await file_report(client, resident)
    start = clock.now()
    try:
        for hours in (2, 3):  # the triage deadline (1 h) has passed; the job runs twice
            clock.set_clock(lambda h=hours: start + timedelta(hours=h))
            await scheduler.run_job(scheduler.find("hazards.remind_deadlines"))
    finally:
        clock.set_clock(None)
    events = await _events()
    assert [e["kind"] for e in events] == ["case.deadline_missed"]
    assert events[0]["data"]["case"]["id"] == case["id"]


async def test_warnings_callouts_and_evacuations(client, db):
    areas = await make_tree()
    await _subscriber(list(webhooks.KINDS))
    dispatcher = await make_person(("dispatcher", T1))
    worker = await make_person(("grid_worker", G1), employment="full_time")
    grid_id = areas[G1]
    r = await client.post(
        "/api/v1/households",
        json={
            "grid_id": grid_id,
            "address": "较场口社区3组12号" + SCRIPT,
            "head_name": "张三",
            "head_phone": "13812345678",
            "people": 4,
            "helper_id": worker.id,
        },
        headers=dispatcher.headers,
    )
    assert r.status_code == 201, r.text
    expires = (datetime.now(UTC) + timedelta(hours=6)).isoformat()
    body = {
        "level": "orange",
        "type": "heavy_rain",
        "area_ids": [grid_id],
        "expires_at": expires,
        "message": "暴雨" + SCRIPT,
    }
    r = await client.post("/api/v1/warnings", json=body, headers=dispatcher.headers)
    assert r.status_code == 201, r.text
    warning_id = r.json()["id"]
    r = await client.patch(
        f"/api/v1/warnings/{warning_id}", json={"level": "red"}, headers=dispatcher.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/warnings/{warning_id}/cancel", json={"reason": "雨停"}, headers=dispatcher.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/evacuations", json={"area_ids": [grid_id]}, headers=dispatcher.headers
    )
    assert r.status_code == 201, r.text
    evacuation_id = r.json()["id"]
    tasks = await client.get(
        f"/api/v1/evacuations/{evacuation_id}/households", headers=dispatcher.headers
    )
    assert tasks.status_code == 200, tasks.text
    assert len(tasks.json()["items"]) == 1
    for task in tasks.json()["items"]:
        r = await client.post(
            f"/api/v1/evacuations/{evacuation_id}/households/{task['household_id']}/status",
            json={"status": "contacted"},
            headers=dispatcher.headers,
        )
        assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/evacuations/{evacuation_id}/end", json={}, headers=dispatcher.headers
    )
    assert r.status_code == 200, r.text
    events = await _events()
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["warning.issued", "callout.started"]
    assert "warning.changed" in kinds and "warning.lifted" in kinds
    assert kinds.count("callout.ended") == kinds.count("callout.started") >= 1
    assert kinds[-3:] == ["evacuation.started", "evacuation.household_status", "evacuation.ended"]
    moved = next(e for e in events if e["kind"] == "evacuation.household_status")
    assert moved["data"]["to_status"] == "contacted" and moved["data"]["people"] == 4
    assert "张三" not in json.dumps(moved) and "13812345678" not in json.dumps(moved)


async def test_an_sos_cancelled_by_its_sender_closes_the_case_for_subscribers(client, db):
    await make_tree()
    await _subscriber(["case.created", "case.closed"])
    resident = await make_person()
    lat, lng = POINT_IN[G1]
    body = {"location": {"lat": lat, "lng": lng}, "description": "被困" + SCRIPT}
    r = await client.post("/api/v1/sos", json=body, headers=resident.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/sos/{r.json()['id']}/cancel", headers=resident.headers)
    assert r.status_code == 200, r.text
    events = await _events()
    assert [e["kind"] for e in events] == ["case.created", "case.closed"]
    assert events[1]["data"]["action"] == "sos_cancel"
    assert events[1]["data"]["case"]["status"] == "closed"


async def test_a_warning_that_runs_out_is_sent_once_as_expired(client, db):
    """A warning nobody lifts ends at its end time: subscribers hear `warning.expired` once,
    however often the job runs; a lifted one is `warning.lifted` only."""
    areas = await make_tree()
    await _subscriber(["warning.expired", "warning.lifted"])
    dispatcher = await make_person(("dispatcher", T1))
    start = clock.now()
    ids = []
    for _ in range(2):
        body = {
            "level": "blue",
            "type": "heavy_rain",
            "area_ids": [areas[G1]],
            "expires_at": (start + timedelta(hours=2)).isoformat(),
            "message": "暴雨" + SCRIPT,
        }
        r = await client.post("/api/v1/warnings", json=body, headers=dispatcher.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await client.post(
        f"/api/v1/warnings/{ids[1]}/cancel", json={"reason": "雨停"}, headers=dispatcher.headers
    )
    assert r.status_code == 200, r.text
    job = scheduler.find("alerts.announce_expiries")
    try:
        for minutes in (60, 121, 122, 150):  # in force, then ran out; the job runs on
            clock.set_clock(lambda m=minutes: start + timedelta(minutes=m))
            await scheduler.run_job(job)
    finally:
        clock.set_clock(None)
    events = await _events()
    assert [(e["kind"], e["data"]["warning"]["id"]) for e in events] == [
        ("warning.lifted", ids[1]),
        ("warning.expired", ids[0]),
    ]
    assert events[1]["data"]["warning"]["status"] == "expired"
    assert events[1]["data"]["warning"]["message"] == "暴雨" + SCRIPT  # data, as written
