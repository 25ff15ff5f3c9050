"""Delivery through a real webhook receiver: signatures, retries and backoff, crashes, races."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import pytest
from factories import make_person

from grid_backend import scheduler
from grid_backend.notify import channels, jobs, services
from grid_backend.notify.schemas import PreferencesWrite
from grid_backend.notify.tables import DeliveryAttempt, Notification


async def _push(person_ids: int | list[int], n: int, *, kind: str = "case.assigned") -> list[int]:
    """n push notifications (and their inbox rows) for each person; the push ids."""
    people = [person_ids] if isinstance(person_ids, int) else person_ids
    for i in range(n):
        await services.enqueue_many(
            recipient_ids=people,
            kind=kind,
            payload={"case_id": i},
            dedupe_key=f"test:{kind}:{i}",
            channels=["push"],
        )
    rows = (
        await Notification.select(Notification.id)
        .where(Notification.channel == "push")
        .order_by(Notification.id)
        .run()
    )
    return [r["id"] for r in rows]


async def _states(ids: list[int]) -> dict[int, dict]:
    rows = await Notification.select().where(Notification.id.is_in(ids)).run()
    return {r["id"]: r for r in rows}


async def _ok_attempts(ids: list[int]) -> dict[int, int]:
    rows = (
        await DeliveryAttempt.select(DeliveryAttempt.notification)
        .where(DeliveryAttempt.notification.is_in(ids) & DeliveryAttempt.ok.eq(True))
        .run()
    )
    counts: dict[int, int] = dict.fromkeys(ids, 0)
    for r in rows:
        counts[r["notification"]] += 1
    return counts


async def test_push_and_sms_reach_the_receiver_signed(receiver, test_clock):
    person = await make_person()
    await services.write_preferences(
        account_id=person.id, data=PreferencesWrite(push=True, sms=True)
    )
    await services.enqueue(
        recipient_id=person.id,
        kind="callout",
        payload={"text_zh": "暴雨预警，请立即巡查。", "text_en": "Rainstorm: patrol now."},
        dedupe_key="callout:77",
    )
    result = await services.deliver_due(test_clock.now)
    assert result == {"claimed": 2, "sent": 2, "retried": 0, "dead": 0}
    hits = {h.path: h for h in receiver.hits}
    assert set(hits) == {"/push", "/sms"}
    assert all(h.signed for h in hits.values())
    push = hits["/push"].body
    assert push["recipient_id"] == person.id and push["kind"] == "callout"
    assert push["title"] == "紧急叫应" and push["urgent"] is True
    assert push["body"] == "暴雨预警，请立即巡查。 请立即回复“收到”。"
    sms = hits["/sms"].body
    assert sms["to"] == person.phone and sms["text"].startswith("【网格通知】紧急叫应：")
    rows = await Notification.select().where(Notification.channel != "inbox").run()
    assert {r["status"] for r in rows} == {"sent"}
    assert all(r["sent_at"] == test_clock.now and r["attempts"] == 1 for r in rows)
    assert all(r["claimed_until"] is None for r in rows)
    attempts = await DeliveryAttempt.select().run()
    assert len(attempts) == 2
    assert all(a["ok"] and a["status_code"] == 200 and a["duration_ms"] >= 0 for a in attempts)
    assert await services.deliver_due(test_clock.now) == {
        "claimed": 0,
        "sent": 0,
        "retried": 0,
        "dead": 0,
    }


async def test_failures_back_off_1_5_30_120_minutes_then_dead(receiver, test_clock):
    receiver.answer = lambda hit: 500
    person = await make_person()
    [nid] = await _push(person.id, 1)
    start = test_clock.now
    schedule = [1, 5, 30, 120]
    for attempt, wait in enumerate(schedule, start=1):
        assert (await services.deliver_due(test_clock.now))["retried"] == 1
        row = (await _states([nid]))[nid]
        assert row["status"] == "pending" and row["attempts"] == attempt
        assert row["due_at"] == test_clock.now + timedelta(minutes=wait)
        assert row["last_error"].startswith("HTTP 500")
        # not due a second before its time
        test_clock.advance(minutes=wait, seconds=-1)
        assert (await services.deliver_due(test_clock.now))["claimed"] == 0
        test_clock.advance(seconds=1)
    assert test_clock.now - start == timedelta(minutes=sum(schedule))
    assert (await services.deliver_due(test_clock.now))["dead"] == 1
    row = (await _states([nid]))[nid]
    assert row["status"] == "dead" and row["attempts"] == 5
    assert row["last_error"] == "HTTP 500: failed on purpose"
    test_clock.advance(days=1)
    assert (await services.deliver_due(test_clock.now))["claimed"] == 0
    attempts = await DeliveryAttempt.select().order_by(DeliveryAttempt.at).run()
    assert [a["status_code"] for a in attempts] == [500] * 5
    assert not any(a["ok"] for a in attempts)
    assert len(receiver.hits) == 5 and all(h.signed for h in receiver.hits)


async def test_a_timeout_is_retried_and_a_recovered_receiver_gets_each_once(receiver, test_clock):
    person = await make_person()
    ids = await _push(person.id, 20)
    failing = {"slow": set(ids[:10]), "500": set(ids[10:15])}

    def answer(hit):
        if hit.notification_id in failing["slow"]:
            return "slow"
        if hit.notification_id in failing["500"]:
            return 500
        return 200

    receiver.answer = answer
    result = await services.deliver_due(test_clock.now)
    assert result == {"claimed": 20, "sent": 5, "retried": 15, "dead": 0}
    states = await _states(ids)
    assert {states[i]["last_error"] for i in failing["slow"]} == {"timeout"}
    receiver.answer = lambda hit: 200  # recovered
    test_clock.advance(minutes=1)
    assert (await services.deliver_due(test_clock.now))["sent"] == 15
    assert receiver.accepted == dict.fromkeys(ids, 1)  # each exactly once, none lost
    states = await _states(ids)
    assert {s["status"] for s in states.values()} == {"sent"}
    assert set((await _ok_attempts(ids)).values()) == {1}


async def test_a_receiver_that_rejects_the_signature_gets_retried(receiver, test_clock):
    secret, receiver.secret = receiver.secret, "another-secret-entirely"
    person = await make_person()
    [nid] = await _push(person.id, 1)
    assert (await services.deliver_due(test_clock.now))["retried"] == 1
    assert receiver.hits[0].signed is False
    assert (await _states([nid]))[nid]["last_error"].startswith("HTTP 401")
    receiver.secret = secret
    test_clock.advance(minutes=1)
    assert (await services.deliver_due(test_clock.now))["sent"] == 1


def test_signature_is_hmac_sha256_of_timestamp_and_body():
    headers = channels.signed_headers(b'{"id":1}', 1, "k" * 16)
    assert headers["X-Grid-Notification-Id"] == "1"
    expected = channels.signature("k" * 16, headers["X-Grid-Timestamp"], b'{"id":1}')
    assert headers["X-Grid-Signature"] == expected
    assert expected.startswith("sha256=") and len(expected) == 7 + 64


async def test_a_run_cancelled_mid_send_records_what_went_out_and_frees_the_rest(
    patient, test_clock
):
    receiver = patient
    receiver.delay = 0.05  # keep requests in flight
    people = [await make_person() for _ in range(4)]
    ids = await _push([p.id for p in people], 30)
    run = asyncio.create_task(services.deliver_due(test_clock.now, limit=500))
    await asyncio.wait_for(receiver.wait_for_hits(30), 10)
    run.cancel()  # a stop: the requests in flight finish, no new one starts
    with pytest.raises(asyncio.CancelledError):
        await run
    states = await _states(ids)
    sent = {i for i, s in states.items() if s["status"] == "sent"}
    assert 30 <= len(sent) < len(ids)
    assert set(receiver.seen()) == sent  # what went out is recorded, and only that
    assert all(s["claimed_until"] is None for s in states.values())  # the rest is free now
    assert (await services.deliver_due(test_clock.now))["sent"] == len(ids) - len(sent)
    assert receiver.seen() == dict.fromkeys(ids, 1)  # none lost, none twice
    assert set((await _ok_attempts(ids)).values()) == {1}


async def test_a_crash_after_claiming_is_picked_up_when_the_claim_expires(receiver, test_clock):
    person = await make_person()
    ids = await _push(person.id, 5)
    claimed = await services.claim_due(test_clock.now, limit=3, token=uuid.uuid4())
    assert len(claimed) == 3  # … and the process dies here
    assert (await services.deliver_due(test_clock.now))["sent"] == 2
    test_clock.advance(seconds=61)
    assert (await services.deliver_due(test_clock.now))["sent"] == 3
    assert sorted(receiver.seen()) == sorted(ids)
    assert set(receiver.seen().values()) == {1}


async def test_a_late_run_does_not_overwrite_rows_another_run_took_over(receiver, test_clock):
    person = await make_person()
    [nid] = await _push(person.id, 1)
    stale = uuid.uuid4()
    items = await services.claim_due(test_clock.now, limit=10, token=stale)
    test_clock.advance(minutes=5)  # the claim expired; another run delivers
    assert (await services.deliver_due(test_clock.now))["sent"] == 1
    failed = [channels.Outcome(False, status_code=500, error="late")]
    await services.record(items, failed, stale)  # the first run wakes up with a failure
    row = (await _states([nid]))[nid]
    assert row["status"] == "sent" and row["last_error"] == "" and row["attempts"] == 1


async def test_parallel_runs_never_send_one_notification_twice(patient, test_clock):
    receiver = patient
    receiver.delay = 0.01
    people = [await make_person() for _ in range(4)]
    ids = await _push([p.id for p in people], 50)
    results = await asyncio.gather(
        *[services.deliver_due(test_clock.now, limit=60) for _ in range(5)]
    )
    # each run took its own share: in turn on SQLite; on PostgreSQL side by side, skipping
    # the rows another run has locked (two runs may split the last rows between them)
    claimed = [r["claimed"] for r in results]
    assert sum(claimed) == 200 and max(claimed) <= 60
    assert sum(r["sent"] for r in results) == 200
    seen = receiver.seen()
    assert sorted(seen) == sorted(ids)
    assert set(seen.values()) == {1}
    assert set((await _ok_attempts(ids)).values()) == {1}


async def test_without_gateways_development_logs_the_message_instead(db, test_clock, caplog):
    person = await make_person()
    await services.write_preferences(
        account_id=person.id, data=PreferencesWrite(push=True, sms=True)
    )
    await services.enqueue(
        recipient_id=person.id,
        kind="case.assigned",
        payload={"case_id": 5},
        dedupe_key="case:5:assigned",
        channels=["push", "sms"],
    )
    with caplog.at_level(logging.INFO, logger="grid_backend.notify"):
        result = await services.deliver_due(test_clock.now)
    assert result["sent"] == 2
    assert "push (no gateway)" in caplog.text
    masked = person.phone[:3] + "****" + person.phone[-4:]
    assert masked in caplog.text and person.phone not in caplog.text


async def test_the_job_delivers_in_batches_under_its_lease(receiver, test_clock, monkeypatch):
    monkeypatch.setattr(jobs, "BATCH", 7)
    person = await make_person()
    ids = await _push(person.id, 20)
    outcome = await scheduler.run_job(scheduler.find("notify.deliver"))
    assert outcome.ran and outcome.error == ""
    assert outcome.result == {"claimed": 20, "sent": 20, "retried": 0, "dead": 0, "batches": 3}
    assert sorted(receiver.seen()) == sorted(ids)


async def test_an_account_removed_mid_run_does_not_lose_the_others_results(receiver, test_clock):
    from grid_backend.people.tables import Account

    stays, leaves = await make_person(), await make_person()
    ids = await _push([stays.id, leaves.id], 2)
    token = uuid.uuid4()
    items = await services.claim_due(test_clock.now, limit=10, token=token)
    outcomes = await services.send_all(items)
    await Account.delete().where(Account.id == leaves.id).run()  # cascades to their rows
    assert await services.record(items, outcomes, token) == {"sent": 4, "retried": 0, "dead": 0}
    kept = await _states(ids)
    assert {r["recipient"] for r in kept.values()} == {stays.id}
    assert {r["status"] for r in kept.values()} == {"sent"}
    assert await DeliveryAttempt.count().run() == 2
