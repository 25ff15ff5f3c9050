"""Outbound webhooks: an admin registers a receiver, which gets signed case events through the
outbox, a retry after a failure with the same event id, and is paused (admins told) when it
keeps failing. The receiver is a real HTTP server on 127.0.0.1 (conftest's Receiver)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from factories import CITY, G1, file_report, make_person, make_tree

from grid_backend.notify import addresses, channels, jobs
from grid_backend.notify.services import subscribers
from grid_backend.notify.tables import DeliveryAttempt, Notification, WebhookSubscriber
from grid_backend.settings import get_settings

BASE = "/api/v1/webhooks"
SCRIPT = "<script>alert(1)</script>"
SECRET = "receiver-secret-0123456789"  # the Receiver checks signatures with it (conftest)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks"


@pytest.fixture
async def sink(patient, monkeypatch):
    """The receiver, reachable as a webhook (loopback allowed for the test)."""
    monkeypatch.setenv("GRID_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    return patient


async def _subscribe(client, admin, sink, kinds, name="城市大脑", path="/hook") -> dict:
    r = await client.post(
        BASE,
        json={"name": name, "url": f"{sink.url}{path}", "kinds": kinds, "secret": SECRET},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _deliver(test_clock) -> dict:
    return await jobs.deliver(test_clock.now)


def _hooked(sink) -> list:
    """What reached the webhook paths (push notifications go to the same receiver)."""
    return [h for h in sink.hits if h.path != "/push"]


def _validate(event: dict) -> None:
    schema = json.loads((DOCS / "event.schema.json").read_text())
    jsonschema.validate(event, schema, cls=jsonschema.Draft202012Validator)


async def test_a_subscriber_receives_a_signed_case_event_and_a_retry(client, sink, test_clock):
    await make_tree()
    admin = await make_person(("admin", CITY))
    resident = await make_person()
    hook = await _subscribe(client, admin, sink, ["case.created"])
    assert hook["secret"] == SECRET and hook["active"] is True

    answers = iter([500])  # the first attempt fails, the retry is taken
    sink.answer = lambda hit: next(answers, 200)
    case = await file_report(client, resident)
    await _deliver(test_clock)
    assert len(_hooked(sink)) == 1 and _hooked(sink)[0].signed  # signature checked with the secret
    first = _hooked(sink)[0].body
    assert first["kind"] == "case.created"
    assert first["data"]["case"]["id"] == case["id"]
    assert "reporter" not in json.dumps(first)  # nothing about who reported it
    _validate(first)

    test_clock.advance(minutes=1, seconds=1)  # the outbox's first backoff
    await _deliver(test_clock)
    assert len(_hooked(sink)) == 2 and _hooked(sink)[1].signed
    assert _hooked(sink)[1].body["id"] == first["id"]  # the same event id: the receiver dedups
    assert sum(sink.accepted.values()) == 1

    log = (await client.get(f"{BASE}/{hook['id']}/deliveries", headers=admin.headers)).json()
    assert [(d["ok"], d["status_code"]) for d in log["items"]] == [(True, 200), (False, 500)]
    assert {d["event_id"] for d in log["items"]} == {first["id"]}
    assert log["items"][0]["status"] == "sent"
    seen = (await client.get(f"{BASE}/{hook['id']}", headers=admin.headers)).json()
    assert seen["consecutive_failures"] == 0 and seen["last_success_at"] is not None


async def test_only_the_kinds_asked_for_are_sent(client, sink, test_clock):
    await make_tree()
    admin = await make_person(("admin", CITY))
    dispatcher = await make_person(("dispatcher", "500103001"))
    resident = await make_person()
    await _subscribe(client, admin, sink, ["case.status_changed", "case.closed"], path="/a")
    await _subscribe(client, admin, sink, ["case.created"], path="/b")
    paused = await _subscribe(client, admin, sink, ["case.created"], path="/c")
    r = await client.post(f"{BASE}/{paused['id']}/pause", headers=admin.headers)
    assert r.json()["active"] is False and r.json()["paused_reason"] == "admin"

    case = await file_report(client, resident)
    r = await client.post(
        f"/api/v1/reports/{case['id']}/actions",
        json={"action": "register"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    await _deliver(test_clock)
    got = sorted((h.path, h.body["kind"]) for h in _hooked(sink))
    assert got == [("/a", "case.status_changed"), ("/b", "case.created")]
    moved = next(h.body for h in _hooked(sink) if h.path == "/a")
    assert moved["data"]["from_status"] == "submitted"
    assert moved["data"]["to_status"] == "registered"
    for hit in _hooked(sink):
        _validate(hit.body)


async def test_a_subscriber_that_keeps_failing_is_paused_and_admins_are_told(
    client, sink, test_clock, monkeypatch
):
    monkeypatch.setenv("GRID_WEBHOOK_PAUSE_AFTER_FAILURES", "3")
    get_settings.cache_clear()
    await make_tree()
    admin = await make_person(("admin", CITY))
    resident = await make_person()
    hook = await _subscribe(client, admin, sink, ["case.created"], name=f"坏的{SCRIPT}")
    sink.answer = lambda hit: 503
    for _ in range(3):
        await file_report(client, resident)
    await _deliver(test_clock)
    assert len(_hooked(sink)) == 3

    r = await client.get(f"{BASE}/{hook['id']}", headers=admin.headers)
    seen = r.json()
    assert seen["active"] is False and seen["paused_reason"] == "failures"
    assert seen["consecutive_failures"] == 3 and seen["pending"] == 3
    inbox = (await client.get("/api/v1/me/notifications", headers=admin.headers)).json()
    notice = inbox["items"][0]
    assert notice["kind"] == "webhook.paused"
    assert SCRIPT in notice["body"]  # as text: the pages put it into the DOM as text only

    # held while paused: no new events, and the retries wait
    await file_report(client, resident)
    test_clock.advance(minutes=10)
    await _deliver(test_clock)
    assert len(_hooked(sink)) == 3

    sink.answer = lambda hit: 200
    r = await client.post(f"{BASE}/{hook['id']}/resume", headers=admin.headers)
    assert r.json()["active"] is True
    await _deliver(test_clock)
    assert len(_hooked(sink)) == 6
    assert (await client.get(f"{BASE}/{hook['id']}", headers=admin.headers)).json()["pending"] == 0


async def test_a_test_event_reaches_the_subscriber(client, sink, test_clock):
    await make_tree()
    admin = await make_person(("admin", CITY))
    hook = await _subscribe(client, admin, sink, ["warning.issued"])
    r = await client.post(f"{BASE}/{hook['id']}/test", headers=admin.headers)
    assert r.status_code == 201, r.text
    await _deliver(test_clock)
    assert [h.body["kind"] for h in _hooked(sink)] == ["webhook.test"]
    assert _hooked(sink)[0].body["id"] == r.json()["event_id"]
    _validate(_hooked(sink)[0].body)


async def test_only_admins_manage_subscribers(client, sink):
    await make_tree()
    admin = await make_person(("admin", CITY))
    hook = await _subscribe(client, admin, sink, ["case.created"])
    for person in (
        await make_person(),
        await make_person(("dispatcher", "500103001")),
        await make_person(("supervisor", "500103")),
        await make_person(("grid_leader", G1)),
    ):
        h = person.headers
        assert (await client.get(BASE, headers=h)).status_code == 403
        body = {"name": "x", "url": "https://example.com/x", "kinds": ["case.created"]}
        assert (await client.post(BASE, json=body, headers=h)).status_code == 403
        assert (await client.delete(f"{BASE}/{hook['id']}", headers=h)).status_code == 403
        assert (await client.get(f"{BASE}/{hook['id']}/deliveries", headers=h)).status_code == 403
    listed = (await client.get(BASE, headers=admin.headers)).json()
    assert [i["id"] for i in listed["items"]] == [hook["id"]]
    assert "secret" not in listed["items"][0]
    r = await client.delete(f"{BASE}/{hook['id']}", headers=admin.headers)
    assert r.status_code == 200
    assert await WebhookSubscriber.count() == 0


REFUSED = [
    "ftp://example.com/x",
    "javascript:alert(1)",
    "http://user:pw@example.com/x",
    "http://127.0.0.1:9/x",
    "http://10.1.2.3/x",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    # IPv4 inside IPv6: IPv4-compatible, NAT64 (the metadata address), 6to4, Teredo
    "http://[::127.0.0.1]/x",
    "http://[64:ff9b::a9fe:a9fe]/x",
    "http://[2002:7f00:1::]/x",
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/x",  # Teredo, client 10.0.0.1
    "http://2130706433/x",  # 127.0.0.1 as one number
    "http://localhost/x",
    "https://no-such-host.invalid/x",
]


async def test_urls_that_cannot_be_subscribers_are_refused(client, db):
    await make_tree()
    admin = await make_person(("admin", CITY))
    for url in REFUSED:
        body = {"name": f"n{SCRIPT}", "url": url, "kinds": ["case.created"]}
        r = await client.post(BASE, json=body, headers=admin.headers)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["code"] in ("webhook_url_invalid", "validation_failed"), url
    assert await WebhookSubscriber.count() == 0


async def test_a_generated_secret_is_shown_once_and_a_name_is_kept_as_text(client, db):
    await make_tree()
    admin = await make_person(("admin", CITY))
    body = {"name": SCRIPT, "url": "https://93.184.215.14/hook", "kinds": ["case.closed"]}
    r = await client.post(BASE, json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert len(made["secret"]) >= 32 and made["name"] == SCRIPT
    again = (await client.get(f"{BASE}/{made['id']}", headers=admin.headers)).json()
    assert "secret" not in again
    r = await client.patch(
        f"{BASE}/{made['id']}",
        json={"kinds": ["case.created", "case.closed"]},
        headers=admin.headers,
    )
    assert r.json()["kinds"] == ["case.closed", "case.created"]


async def test_no_subscriber_no_rows(client, db):
    await make_tree()
    resident = await make_person()
    await file_report(client, resident)
    assert await Notification.count().where(Notification.channel == "webhook") == 0
    assert await DeliveryAttempt.count() == 0


async def test_a_subscriber_failing_for_an_hour_is_paused(client, sink, test_clock, monkeypatch):
    monkeypatch.setenv("GRID_WEBHOOK_PAUSE_AFTER_FAILURES", "1000")
    get_settings.cache_clear()
    await make_tree()
    admin = await make_person(("admin", CITY))
    resident = await make_person()
    hook = await _subscribe(client, admin, sink, ["case.created"])
    sink.answer = lambda hit: 500
    await file_report(client, resident)
    states = []
    for minutes in (0, 1.1, 5.1, 30.1, 120.1):  # the outbox's backoff between the attempts
        test_clock.advance(minutes=minutes)
        await _deliver(test_clock)
        seen = await subscribers.read_subscriber(subscriber_id=hook["id"])  # tokens expire
        states.append((seen.consecutive_failures, seen.active))
    # an hour of failures pauses it at the next one, however few they were
    assert states == [(1, True), (2, True), (3, True), (4, True), (5, False)]
    assert seen.paused_reason == "failures"
    assert len(_hooked(sink)) == 5


async def test_a_name_that_turns_private_after_the_check_is_refused_at_connect(
    client, sink, test_clock, monkeypatch
):
    # DNS rebinding: the check before the request sees a public address, the connection
    # would go to loopback. The connection's own peer is checked, so nothing is sent.
    await make_tree()
    admin = await make_person(("admin", CITY))
    resident = await make_person()
    hook = await _subscribe(client, admin, sink, ["case.created"])
    url = f"http://localhost:{sink.port}/hook"
    await WebhookSubscriber.update({WebhookSubscriber.url: url}).where(
        WebhookSubscriber.id == hook["id"]
    )
    monkeypatch.setenv("GRID_WEBHOOK_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    await channels.close_client()  # a sender made under these settings
    answers = iter([["8.8.8.8"], ["8.8.8.8"]])  # the save-time check is not run again here

    async def rebinding(host: str) -> list[str]:
        return next(answers, ["127.0.0.1"])

    monkeypatch.setattr(addresses, "_addresses", rebinding)
    assert await addresses.address_problem(url) is None  # the first answers look public
    await file_report(client, resident)
    await _deliver(test_clock)
    assert _hooked(sink) == []
    attempt = await DeliveryAttempt.select().first()
    assert attempt["ok"] is False or attempt["ok"] == 0
    assert "private" in attempt["error"]
    await channels.close_client()
