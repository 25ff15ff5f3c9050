"""One-tap SOS (一键呼救): a resident's position becomes an urgent case of the right grid,
alerted through the urgent chain (response records, urgent notifications to the grid's
responders and the township's dispatcher); limited per account; a retry from the outbox is
answered once; the sender alone may call it off within a minute, and everyone alerted hears
so."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import uuid
from datetime import timedelta

import limits.aio.storage.memory
from factories import G1, G3, POINT_IN, require_redis, upload_photo

from grid_backend.core import clock, throttle
from grid_backend.core.tables import AuditEntry
from grid_backend.hazards.tables import HazardEvent, HazardReport
from grid_backend.notify.tables import Notification
from grid_backend.response.tables import ResponseRecord
from grid_backend.settings import get_settings


def _body(grid: str = G1, **extra: object) -> dict:
    lat, lng = POINT_IN[grid]
    return {"location": {"lat": lat, "lng": lng, "accuracy_m": 15.0}, **extra}


async def _sos(world, person=None, *, key: str | None = None, grid: str = G1, **extra):
    headers = dict((person or world.resident).headers)
    if key:
        headers["Idempotency-Key"] = key
    return await world.client.post("/api/v1/sos", json=_body(grid, **extra), headers=headers)


async def _notified(kind: str, case_id: int) -> set[int]:
    rows = await Notification.select(Notification.recipient).where(
        (Notification.kind == kind) & Notification.dedupe_key.like(f"case:{case_id}:%")
    )
    return {r["recipient"] for r in rows}


async def test_an_sos_opens_an_urgent_case_in_its_grid_and_alerts_the_chain_at_once(world):
    r = await _sos(world, description="<script>alert(1)</script> 我被困在家里")
    assert r.status_code == 201, r.text
    sos = r.json()
    assert sos["status"] == "submitted"
    assert sos["grid_name"] == "第一网格"
    assert sos["alerted"] == 3  # two responders of G1 and T1's dispatcher
    assert sos["cancellable"] is True
    assert sos["cancel_until"] == (world.now + timedelta(seconds=60)).isoformat().replace(
        "+00:00", "Z"
    )

    case = await HazardReport.select().where(HazardReport.id == sos["id"]).first()
    assert case["channel"] == "sos"
    assert case["urgent"] is True
    assert case["reporter"] == world.resident.id
    assert case["grid"] == world.areas[G1]
    assert case["reporter_safe"] is False
    assert case["description"] == "<script>alert(1)</script> 我被困在家里"  # data, kept

    # the urgent chain: notifications to the grid's responders and the township, records
    assert await _notified("case.urgent", sos["id"]) == {
        world.responder.id,
        world.officer.id,
        world.dispatcher.id,
    }
    records = await ResponseRecord.select(ResponseRecord.account, ResponseRecord.status).where(
        ResponseRecord.report == sos["id"]
    )
    assert sorted((x["account"], x["status"]) for x in records) == sorted(
        [(world.responder.id, "alerted"), (world.officer.id, "alerted")]
    )
    # the responder's phone names it an SOS, in both languages
    r = await world.client.get(
        "/api/v1/me/notifications", headers={**world.responder.headers, "Accept-Language": "en"}
    )
    top = r.json()["items"][0]
    assert (top["kind"], top["urgent"]) == ("case.urgent", True)
    assert top["body"].startswith("SOS call in 第一网格")
    r = await world.client.get("/api/v1/me/notifications", headers=world.responder.headers)
    assert r.json()["items"][0]["body"].startswith("第一网格发生一键呼救")

    # the dispatcher's list of urgent cases has it; the case reads as an SOS to staff
    r = await world.client.get(
        "/api/v1/reports/" + str(sos["id"]), headers=world.dispatcher.headers
    )
    assert (r.json()["channel"], r.json()["urgent"]) == ("sos", True)
    audit = await AuditEntry.select().where(AuditEntry.action == "sos.send").first()
    assert audit["actor_id"] == world.resident.id
    assert audit["object_id"] == str(sos["id"])


async def test_an_sos_in_another_township_alerts_that_township(world):
    r = await _sos(world, grid=G3)
    assert r.status_code == 201, r.text
    alerted = await _notified("case.urgent", r.json()["id"])
    assert world.dispatcher2.id in alerted
    assert world.dispatcher.id not in alerted


async def test_outside_every_grid_is_a_clear_422_and_costs_no_call(world):
    for _ in range(4):
        r = await world.client.post(
            "/api/v1/sos",
            json={"location": {"lat": 45.0, "lng": 90.0}},
            headers={**world.resident.headers, "Accept-Language": "en"},
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "outside_all_grids"
        assert r.json()["errors"][0]["field"] == "location"
    assert await HazardReport.count() == 0
    assert (await _sos(world)).status_code == 201  # the refused ones used up no call


async def test_bad_input_is_refused_with_the_field_named(world):
    r = await world.client.post(
        "/api/v1/sos", json={"location": {"lat": 91, "lng": 106.5}}, headers=world.resident.headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "location.lat"
    r = await world.client.post(
        "/api/v1/sos", json={**_body(), "urgent": False}, headers=world.resident.headers
    )
    assert r.status_code == 422  # unknown field
    r = await world.client.post("/api/v1/sos", json=_body())
    assert r.status_code == 401
    assert await HazardReport.count() == 0


async def test_three_calls_in_ten_minutes_then_429_with_retry_after(world):
    for i in range(3):
        r = await _sos(world, key=f"sos-call-{i:04d}")
        assert r.status_code == 201, r.text
    r = await world.client.post(
        "/api/v1/sos",
        json=_body(),
        headers={
            **world.resident.headers,
            "Accept-Language": "en",
            "Idempotency-Key": "sos-call-4th",
        },
    )
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "sos_rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 600
    assert "call 110, 119 or 120" in r.json()["detail"]
    r = await _sos(world)
    assert r.status_code == 429
    assert "110、119 或 120" in r.json()["detail"]  # zh-CN by default
    assert await HazardReport.count() == 3
    # per account: someone else still gets through
    assert (await _sos(world, world.worker)).status_code == 201
    # a retry of an earlier call is no new call: answered, not refused
    r = await _sos(world, key="sos-call-0001")
    assert r.status_code == 200
    assert r.headers["idempotent-replayed"] == "true"


async def test_a_retry_with_the_same_key_makes_one_case(world):
    first = await _sos(world, key="outbox-key-123456")
    assert first.status_code == 201
    again = await _sos(world, key="outbox-key-123456")
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await HazardReport.count() == 1
    assert await ResponseRecord.count() == 2  # alerted once
    other = await _sos(world, key="outbox-key-123456", description="different")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"


async def test_the_sender_cancels_within_a_minute_and_everyone_alerted_hears_so(world):
    sos = (await _sos(world)).json()
    world.advance(seconds=45)
    r = await world.client.post(f"/api/v1/sos/{sos['id']}/cancel", headers=world.resident.headers)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "closed"
    assert done["cancellable"] is False
    assert done["cancelled_at"] == world.now.isoformat().replace("+00:00", "Z")
    assert done["told_of_cancel"] == 3

    assert await _notified("case.urgent_cancelled", sos["id"]) == {
        world.responder.id,
        world.officer.id,
        world.dispatcher.id,
    }
    r = await world.client.get(
        "/api/v1/me/notifications", headers={**world.responder.headers, "Accept-Language": "en"}
    )
    top = r.json()["items"][0]
    assert (top["kind"], top["urgent"]) == ("case.urgent_cancelled", True)
    assert "false alarm" in top["body"]

    # on the timeline, which the sender sees too
    r = await world.client.get(f"/api/v1/reports/{sos['id']}", headers=world.resident.headers)
    assert r.json()["status"] == "closed"
    assert "sos_cancel" in [e["action"] for e in r.json()["timeline"]]
    event = await HazardEvent.select().where(HazardEvent.action == "sos_cancel").first()
    assert (event["actor"], event["from_status"], event["to_status"]) == (
        world.resident.id,
        "submitted",
        "closed",
    )
    assert await AuditEntry.count().where(AuditEntry.action == "sos.cancel") == 1
    # the console's alarm list drops it
    r = await world.client.get("/api/v1/urgent-alarms", headers=world.dispatcher.headers)
    assert sos["id"] not in [a["case_id"] for a in r.json()]

    # again (a phone's retry): the same answer, nobody told twice
    r = await world.client.post(f"/api/v1/sos/{sos['id']}/cancel", headers=world.resident.headers)
    assert r.status_code == 200
    assert r.json()["cancelled_at"] == done["cancelled_at"]
    assert (
        await Notification.count().where(
            (Notification.kind == "case.urgent_cancelled") & (Notification.channel == "inbox")
        )
        == 3
    )


async def test_after_a_minute_the_cancel_is_a_409(world):
    sos = (await _sos(world)).json()
    world.advance(seconds=60)
    r = await world.client.post(
        f"/api/v1/sos/{sos['id']}/cancel",
        headers={**world.resident.headers, "Accept-Language": "en"},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "sos_cancel_expired"
    assert "within 60 s" in r.json()["detail"]
    case = await HazardReport.select(HazardReport.status).where(HazardReport.id == sos["id"])
    assert case[0]["status"] == "submitted"
    assert await _notified("case.urgent_cancelled", sos["id"]) == set()
    r = await world.client.get(f"/api/v1/sos/{sos['id']}", headers=world.resident.headers)
    assert r.json()["cancellable"] is False


async def test_nobody_else_may_cancel_and_residents_never_see_anyone_elses_sos(world):
    sos = (await _sos(world)).json()
    neighbour = await world.person(name="邻居")
    for path in (f"/api/v1/sos/{sos['id']}/cancel",):
        r = await world.client.post(path, headers=neighbour.headers)
        assert (r.status_code, r.json()["code"]) == (404, "report_not_found")
        r = await world.client.post(path, headers=world.dispatcher.headers)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    for path in (f"/api/v1/sos/{sos['id']}", f"/api/v1/reports/{sos['id']}"):
        r = await world.client.get(path, headers=neighbour.headers)
        assert r.status_code == 404
    r = await world.client.get("/api/v1/reports", headers=neighbour.headers)
    assert sos["id"] not in [c["id"] for c in r.json().get("items", [])]
    # a neighbour reporting a hazard right there is not offered the SOS as a duplicate
    lat, lng = POINT_IN[G1]
    r = await world.client.post(
        "/api/v1/reports/possible-duplicates",
        json={"category": "other", "location": {"lat": lat, "lng": lng}},
        headers=neighbour.headers,
    )
    assert r.status_code == 200, r.text
    assert sos["id"] not in [d["id"] for d in r.json()]
    # still open, nobody told
    r = await world.client.get(f"/api/v1/sos/{sos['id']}", headers=world.resident.headers)
    assert (r.json()["status"], r.json()["cancellable"]) == ("submitted", True)
    # the dispatcher reads it, and may not cancel it
    r = await world.client.get(f"/api/v1/sos/{sos['id']}", headers=world.dispatcher.headers)
    assert (r.status_code, r.json()["cancellable"]) == (200, False)


async def test_an_ordinary_report_is_no_sos_to_cancel(world):
    case = await world.report(world.resident)
    r = await world.client.post(f"/api/v1/sos/{case['id']}/cancel", headers=world.resident.headers)
    assert (r.status_code, r.json()["code"]) == (404, "report_not_found")


class _TestTime:
    """`time` as the limits storages and the throttle see it: the test clock's seconds."""

    def __getattr__(self, name: str):
        return getattr(time, name)

    def time(self) -> float:
        return clock.now().timestamp()


async def test_the_limit_lets_a_call_through_again_when_the_window_has_moved_on(world, monkeypatch):
    for module in (limits.aio.storage.memory, throttle):
        monkeypatch.setattr(module, "time", _TestTime())
    for _ in range(3):
        assert (await _sos(world)).status_code == 201
    world.advance(minutes=9)
    r = await _sos(world)
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    world.advance(minutes=1, seconds=1)
    assert (await _sos(world)).status_code == 201


async def test_with_redis_the_limit_holds_across_server_processes(world):
    url = os.environ.get("GRID_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    await require_redis(url)
    settings = dataclasses.replace(
        get_settings(), redis_url=url, redis_prefix=f"test-{uuid.uuid4().hex[:12]}"
    )
    first, second = throttle.Throttle(settings), throttle.Throttle(settings)
    try:
        throttle.reset_throttle(first)
        for _ in range(3):
            assert (await _sos(world)).status_code == 201
        throttle.reset_throttle(second)  # another replica, the same Redis
        r = await _sos(world)
        assert r.status_code == 429
        assert r.json()["code"] == "sos_rate_limited"
        assert (await _sos(world, world.worker)).status_code == 201
    finally:
        throttle.reset_throttle()
        await first.aclose()
        await second.aclose()


async def test_two_cancels_at_once_cancel_it_once(world):
    sos = (await _sos(world)).json()
    path = f"/api/v1/sos/{sos['id']}/cancel"
    answers = await asyncio.gather(
        world.client.post(path, headers=world.resident.headers),
        world.client.post(path, headers=world.resident.headers),
    )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["cancelled_at"] == answers[1].json()["cancelled_at"]
    assert await HazardEvent.count().where(HazardEvent.action == "sos_cancel") == 1
    assert await _notified("case.urgent_cancelled", sos["id"]) == {
        world.responder.id,
        world.officer.id,
        world.dispatcher.id,
    }


async def test_the_sender_adds_a_photo_after_the_call_once_and_only_while_open(world):
    sos = (await _sos(world)).json()
    assert sos["photos"] == 0  # none is needed to call
    photo = await upload_photo(world.client, world.resident)
    url = f"/api/v1/sos/{sos['id']}/photos"
    r = await world.client.post(url, json={"photo_ids": [photo]}, headers=world.resident.headers)
    assert r.status_code == 200, r.text
    assert r.json()["photos"] == 1
    again = await world.client.post(
        url, json={"photo_ids": [photo]}, headers=world.resident.headers
    )  # the outbox's retry
    assert again.status_code == 200 and again.json()["photos"] == 1
    case = (
        await world.client.get(f"/api/v1/reports/{sos['id']}", headers=world.dispatcher.headers)
    ).json()
    assert len(case["photos"]) == 1
    added = [e for e in case["timeline"] if e["action"] == "photo_added"]
    assert len(added) == 1 and added[0]["actor_id"] == world.resident.id
    assert await AuditEntry.count().where(AuditEntry.action == "sos.photos") == 1
    # only the sender's own uploads, only by the sender
    theirs = await upload_photo(world.client, world.responder, "flower.jpg")
    r = await world.client.post(url, json={"photo_ids": [theirs]}, headers=world.resident.headers)
    assert r.status_code == 422 and r.json()["code"] == "photo_not_yours"
    r = await world.client.post(url, json={"photo_ids": [photo]}, headers=world.dispatcher.headers)
    assert r.status_code == 403
    r = await world.client.post(url, json={"photo_ids": []}, headers=world.resident.headers)
    assert r.status_code in (400, 422)
    # once called off, nothing more is added
    await world.client.post(f"/api/v1/sos/{sos['id']}/cancel", headers=world.resident.headers)
    later = await upload_photo(world.client, world.resident, "flower.jpg")
    r = await world.client.post(url, json={"photo_ids": [later]}, headers=world.resident.headers)
    assert r.status_code == 409 and r.json()["code"] == "report_not_open"
