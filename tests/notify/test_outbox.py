"""Enqueue: one row per channel, deduplicated, in the caller's transaction, quiet hours."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

import pytest
from factories import make_person

from grid_backend.core.db import write_transaction
from grid_backend.notify import channels, kinds, services
from grid_backend.notify.schemas import PreferencesWrite, QuietHours
from grid_backend.notify.tables import Notification
from grid_backend.settings import get_settings


async def _rows(**where) -> list[dict]:
    query = Notification.select().output(load_json=True).order_by(Notification.id)
    for name, value in where.items():
        query = query.where(getattr(Notification, name) == value)
    return await query.run()


async def _prefs(account_id: int, *, push=True, sms=False, quiet=None) -> None:
    await services.write_preferences(
        account_id=account_id,
        data=PreferencesWrite(
            push=push, sms=sms, quiet_hours=QuietHours(*quiet) if quiet else None
        ),
    )


async def test_one_row_per_channel_and_the_inbox_is_delivered_at_once(test_clock):
    person = await make_person()
    ids = await services.enqueue(
        recipient_id=person.id,
        kind="case.status_changed",
        payload={"case_id": 42, "status_zh": "已结案", "status_en": "closed"},
        dedupe_key=f"case:42:closed:account:{person.id}",
    )
    rows = await _rows()
    assert [r["id"] for r in rows] == ids
    by_channel = {r["channel"]: r for r in rows}
    assert set(by_channel) == {"inbox", "push"}  # sms is off by default
    inbox, push = by_channel["inbox"], by_channel["push"]
    assert inbox["status"] == "sent" and inbox["sent_at"] == test_clock.now
    assert push["status"] == "pending" and push["due_at"] == test_clock.now
    assert push["payload"]["title_zh"] == "案件进展"
    assert push["payload"]["body_zh"] == "案件 #42 当前状态：已结案"
    assert push["payload"]["body_en"] == "Case #42 is now: closed"
    assert push["payload"]["case_id"] == 42


async def test_the_same_event_twice_writes_one_row_per_channel(test_clock):
    person = await make_person()
    await _prefs(person.id, sms=True)
    args = {
        "recipient_id": person.id,
        "kind": "points.awarded",
        "payload": {"delta": 5, "reason_zh": "隐患已整改", "reason_en": "hazard fixed"},
        "dedupe_key": f"points:report:7:closed:{person.id}",
        "channels": ["inbox", "push", "sms"],
    }
    first = await services.enqueue(**args)
    second = await services.enqueue(**args)
    assert len(first) == 3 and second == []
    rows = await _rows()
    assert sorted(r["channel"] for r in rows) == ["inbox", "push", "sms"]


async def test_enqueue_joins_the_callers_transaction_and_a_rollback_writes_nothing(test_clock):
    person = await make_person()

    async def enqueue_and_fail() -> None:
        async with write_transaction():
            ids = await services.enqueue(
                recipient_id=person.id,
                kind="case.assigned",
                payload={"case_id": 1},
                dedupe_key="case:1:assigned",
            )
            assert len(ids) == 2
            assert await Notification.count().run() == 2  # visible inside the transaction
            raise LookupError("the event fails after enqueueing")

    with pytest.raises(LookupError):
        await enqueue_and_fail()
    assert await Notification.count().run() == 0
    # committed the second time: the key was never used
    async with write_transaction():
        again = await services.enqueue(
            recipient_id=person.id,
            kind="case.assigned",
            payload={"case_id": 1},
            dedupe_key="case:1:assigned",
        )
    assert len(again) == 2


async def test_preferences_choose_push_and_sms_the_inbox_is_always_written(test_clock):
    person = await make_person()
    await _prefs(person.id, push=False, sms=True)
    await services.enqueue(
        recipient_id=person.id,
        kind="callout",
        payload={"text_zh": "暴雨红色预警", "text_en": "Red rainstorm warning."},
        dedupe_key="callout:1",
    )
    assert sorted(r["channel"] for r in await _rows()) == ["inbox", "sms"]
    # a caller asking only for push still gets the inbox, and push is off for this person
    await services.enqueue(
        recipient_id=person.id,
        kind="case.overdue",
        payload={"case_id": 3},
        dedupe_key="case:3:overdue",
        channels=["push"],
    )
    assert [r["channel"] for r in await _rows(kind="case.overdue")] == ["inbox"]


async def test_production_without_gateways_switches_push_and_sms_off():
    production = dataclasses.replace(get_settings(), production=True)
    assert channels.enabled("inbox", production)
    assert not channels.enabled("push", production)
    assert not channels.enabled("sms", production)
    wired = dataclasses.replace(
        production, push_webhook_url="https://push.example/hook", sms_gateway_url="https://sms.x/"
    )
    assert channels.enabled("push", wired) and channels.enabled("sms", wired)
    development = dataclasses.replace(get_settings(), production=False)
    assert channels.enabled("push", development)  # a log line stands in for the gateway


async def test_quiet_hours_postpone_non_urgent_push_and_sms_to_their_end(test_clock):
    person = await make_person()
    await _prefs(person.id, sms=True, quiet=("22:00", "07:00"))
    # 23:30 in Shanghai
    test_clock.now = datetime(2026, 4, 1, 15, 30, tzinfo=UTC)
    await services.enqueue(
        recipient_id=person.id,
        kind="case.assigned",
        payload={"case_id": 9},
        dedupe_key="case:9:assigned",
        channels=["push", "sms"],
    )
    rows = {r["channel"]: r for r in await _rows(kind="case.assigned")}
    seven_next_morning = datetime(2026, 4, 1, 23, 0, tzinfo=UTC)  # 07:00 on 2 April, local
    assert rows["push"]["due_at"] == seven_next_morning
    assert rows["sms"]["due_at"] == seven_next_morning
    assert rows["inbox"]["status"] == "sent"  # the inbox is silent: it is not held back
    # urgent kinds (and urgent=True) ignore quiet hours
    await services.enqueue(
        recipient_id=person.id,
        kind="callout",
        payload={"text_zh": "山体滑坡", "text_en": "Landslide."},
        dedupe_key="callout:9",
    )
    await services.enqueue(
        recipient_id=person.id,
        kind="case.overdue",
        payload={"case_id": 9},
        dedupe_key="case:9:overdue",
        urgent=True,
    )
    for kind in ("callout", "case.overdue"):
        for row in await _rows(kind=kind):
            assert row["due_at"] == test_clock.now, (kind, row["channel"])
            assert row["urgent"] is True


@pytest.mark.parametrize(
    ("local", "quiet", "expected_local"),
    [
        ("23:30", ("22:00", "07:00"), "2026-04-02 07:00"),  # before midnight
        ("03:00", ("22:00", "07:00"), "2026-04-01 07:00"),  # after midnight
        ("07:00", ("22:00", "07:00"), None),  # the end is not quiet
        ("21:59", ("22:00", "07:00"), None),
        ("12:30", ("12:00", "14:00"), "2026-04-01 14:00"),  # a period inside one day
        ("14:00", ("12:00", "14:00"), None),
    ],
)
def test_quiet_until(local, quiet, expected_local):
    zone = get_settings().zone
    hour, minute = map(int, local.split(":"))
    at = datetime(2026, 4, 1, hour, minute, tzinfo=zone)
    prefs = services.Prefs(
        quiet_start=time.fromisoformat(quiet[0]), quiet_end=time.fromisoformat(quiet[1])
    )
    result = services.quiet_until(at, prefs)
    if expected_local is None:
        assert result is None
    else:
        assert result.tzinfo is not None
        assert result.astimezone(zone).strftime("%Y-%m-%d %H:%M") == expected_local


async def test_a_reminder_due_later_waits_in_the_outbox_even_for_the_inbox(test_clock):
    person = await make_person()
    later = test_clock.now + timedelta(hours=2)
    await services.enqueue(
        recipient_id=person.id,
        kind="patrol.reminder",
        payload={"grid_name": "第一网格", "starts_local": "12:00"},
        dedupe_key="patrol:task:5:reminder",
        due_at=later,
    )
    rows = await _rows()
    assert {r["channel"]: r["status"] for r in rows} == {"inbox": "pending", "push": "pending"}
    assert all(r["due_at"] == later for r in rows)
    page = await services.list_inbox(account_id=person.id)
    assert page.items == [] and page.unread_count == 0
    assert (await services.deliver_due(test_clock.now))["claimed"] == 0
    test_clock.advance(hours=2)
    assert (await services.deliver_due(test_clock.now))["sent"] == 2
    page = await services.list_inbox(account_id=person.id)
    assert [i.title for i in page.items] == ["巡查提醒"]
    assert page.items[0].body == "第一网格 的巡查任务将于 12:00 开始"
    assert page.items[0].created_at == later


async def test_enqueue_many_notifies_each_recipient_once(test_clock):
    people = [await make_person() for _ in range(3)]
    ids = [p.id for p in people]
    payload = {"level_zh": "红色", "level_en": "Red", "area_name": "渝中区", "text_zh": "暴雨"}
    first = await services.enqueue_many(
        recipient_ids=[*ids, ids[0]], kind="warning.issued", payload=payload, dedupe_key="w:1"
    )
    again = await services.enqueue_many(
        recipient_ids=ids, kind="warning.issued", payload=payload, dedupe_key="w:1"
    )
    assert len(first) == 6 and again == []  # inbox and push each; sms is off by default
    rows = await _rows()
    assert {r["dedupe_key"] for r in rows} == {f"w:1:account:{i}" for i in ids}
    assert rows[0]["payload"]["title_zh"] == "红色预警"
    assert rows[0]["payload"]["body_en"] == "渝中区: "  # a missing field reads as empty


def test_every_kind_renders_in_both_languages():
    for kind in kinds.KINDS.values():
        text = kinds.render(kind, {"case_id": 1, "title_zh": "标题", "body_zh": "正文"})
        assert set(text) == set(kinds.TEXT_FIELDS)
        assert text["title_zh"] and text["title_en"]
    with pytest.raises(ValueError, match="unknown notification kind"):
        kinds.kind_of("no.such.kind")


async def test_unknown_channels_and_kinds_are_programming_errors(db):
    person = await make_person()
    with pytest.raises(ValueError, match="channels"):
        await services.enqueue(
            recipient_id=person.id,
            kind="case.assigned",
            payload={},
            dedupe_key="k",
            channels=["fax"],
        )
    with pytest.raises(ValueError, match="kind"):
        await services.enqueue(recipient_id=person.id, kind="nope", payload={}, dedupe_key="k")
    assert await Notification.count().run() == 0


async def test_an_urgent_notification_is_claimed_ahead_of_an_older_backlog(test_clock):
    import uuid

    person = await make_person()
    await _prefs(person.id, push=True)
    for n in range(5):  # yesterday's routine reminders, still waiting
        await services.enqueue(
            recipient_id=person.id,
            kind="case.status_changed",
            payload={"case_id": n, "status_zh": "已立案", "status_en": "registered"},
            dedupe_key=f"case:{n}:registered",
            due_at=test_clock.now - timedelta(hours=1 + n),
        )
    await services.enqueue(
        recipient_id=person.id,
        kind="case.urgent",
        payload={
            "case_id": 99,
            "category_zh": "燃气",
            "category_en": "gas",
            "grid_name": "第一网格",
        },
        dedupe_key="case:99:urgent",
    )
    first = await services.claim_due(test_clock.now, limit=1, token=uuid.uuid4())
    assert [(o.kind, o.urgent) for o in first] == [("case.urgent", True)]
    # the routine ones follow, oldest first (a batch's rows come back in no set order)
    batches = [
        {
            o.payload["case_id"]
            for o in await services.claim_due(test_clock.now, limit=2, token=uuid.uuid4())
        }
        for _ in range(3)
    ]
    assert batches == [{4, 3}, {2, 1}, {0}]
