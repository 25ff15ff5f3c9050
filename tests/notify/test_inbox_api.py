"""The inbox and preferences API: only the recipient sees and reads their notifications."""

from __future__ import annotations

from datetime import UTC, datetime

from factories import make_person

from grid_backend.notify import services
from grid_backend.notify.tables import Notification

BASE = "/api/v1/me/notifications"


async def _inbox_items(person_id: int, n: int, clock) -> list[int]:
    """n inbox notifications, one a minute; their ids, oldest first."""
    ids = []
    for i in range(n):
        new = await services.enqueue(
            recipient_id=person_id,
            kind="points.awarded",
            payload={"delta": i + 1, "reason_zh": "上报属实", "reason_en": "report confirmed"},
            dedupe_key=f"points:{i}:account:{person_id}",
        )
        ids += new
        clock.advance(minutes=1)
    return ids


async def test_pages_newest_first_with_the_unread_count(client, test_clock):
    person = await make_person()
    ids = await _inbox_items(person.id, 5, test_clock)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get(BASE, params=params, headers=person.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["unread_count"] == 5
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    first = (await client.get(BASE, params={"limit": 1}, headers=person.headers)).json()
    item = first["items"][0]
    assert item["title"] == "积分到账" and item["body"] == "您获得 5 积分：上报属实"
    assert item["data"] == {"delta": 5, "reason_zh": "上报属实", "reason_en": "report confirmed"}
    assert item["read_at"] is None and item["urgent"] is False
    english = await client.get(
        BASE, params={"limit": 1}, headers=person.headers | {"Accept-Language": "en"}
    )
    assert english.json()["items"][0]["body"] == "You earned 5 points: report confirmed"


async def test_a_scheduled_item_sorts_by_when_it_arrived(client, test_clock):
    person = await make_person()
    await services.enqueue(
        recipient_id=person.id,
        kind="patrol.reminder",
        payload={"grid_name": "第二网格", "starts_local": "11:00"},
        dedupe_key="reminder",
        due_at=datetime(2026, 4, 1, 2, 10, tzinfo=UTC),
    )
    [earlier] = await _inbox_items(person.id, 1, test_clock)
    test_clock.now = datetime(2026, 4, 1, 2, 10, tzinfo=UTC)
    await services.deliver_due(test_clock.now)
    items = (await client.get(BASE, headers=person.headers)).json()["items"]
    assert [i["title"] for i in items] == ["巡查提醒", "积分到账"]
    assert items[1]["id"] == earlier


async def test_mark_read_unread_filter_and_read_all(client, test_clock):
    person = await make_person()
    ids = await _inbox_items(person.id, 4, test_clock)
    r = await client.post(f"{BASE}/{ids[0]}/read", headers=person.headers)
    assert r.status_code == 200
    read_at = r.json()["read_at"]
    assert read_at is not None
    again = await client.post(f"{BASE}/{ids[0]}/read", headers=person.headers)
    assert again.json()["read_at"] == read_at  # the first reading counts
    unread = (await client.get(BASE, params={"unread": "true"}, headers=person.headers)).json()
    assert [i["id"] for i in unread["items"]] == ids[:0:-1]
    assert unread["unread_count"] == 3
    r = await client.post(f"{BASE}/read-all", headers=person.headers)
    assert r.status_code == 200 and r.json() == {"marked": 3, "unread_count": 0}
    assert (await client.post(f"{BASE}/read-all", headers=person.headers)).json()["marked"] == 0
    everything = (await client.get(BASE, headers=person.headers)).json()
    assert len(everything["items"]) == 4 and everything["unread_count"] == 0


async def test_someone_elses_notification_is_not_found(client, test_clock):
    owner, other = await make_person(), await make_person()
    [inbox_id, push_id] = await services.enqueue(
        recipient_id=owner.id,
        kind="case.assigned",
        payload={"case_id": 1},
        dedupe_key="case:1:assigned",
    )
    assert (await client.get(BASE, headers=other.headers)).json() == {
        "items": [],
        "next_cursor": None,
        "unread_count": 0,
    }
    for target in (inbox_id, push_id, 999_999):
        r = await client.post(f"{BASE}/{target}/read", headers=other.headers)
        assert r.status_code == 404
        assert r.json()["code"] == "notification_not_found"
    # a push row is not an inbox item, even for its recipient
    assert (await client.post(f"{BASE}/{push_id}/read", headers=owner.headers)).status_code == 404
    assert (await client.post(f"{BASE}/read-all", headers=other.headers)).json()["marked"] == 0
    row = await Notification.select().where(Notification.id == inbox_id).first().run()
    assert row["read_at"] is None
    assert (await client.get(BASE)).status_code == 401


async def test_a_forged_cursor_is_a_validation_error(client, db):
    person = await make_person()
    r = await client.get(BASE, params={"cursor": "bm90LW91cnM"}, headers=person.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "cursor"


async def test_preferences_round_trip_and_validation(client, db):
    person = await make_person()
    url = "/api/v1/me/notification-preferences"
    r = await client.get(url, headers=person.headers)
    assert r.status_code == 200
    assert r.json() == {
        "inbox": True,
        "push": True,
        "sms": False,
        "quiet_hours": None,
        "timezone": "Asia/Shanghai",
        "push_available": True,
        "sms_available": True,
    }
    body = {"push": False, "sms": True, "quiet_hours": {"start": "22:30", "end": "07:00"}}
    r = await client.put(url, json=body, headers=person.headers)
    assert r.status_code == 200, r.text
    assert r.json()["quiet_hours"] == {"start": "22:30", "end": "07:00"}
    got = (await client.get(url, headers=person.headers)).json()
    assert (got["push"], got["sms"]) == (False, True)
    assert got["quiet_hours"] == {"start": "22:30", "end": "07:00"}
    # clearing quiet hours
    r = await client.put(url, json={"push": True, "sms": True}, headers=person.headers)
    assert r.json()["quiet_hours"] is None
    for bad in (
        {"push": True, "sms": False, "quiet_hours": {"start": "24:00", "end": "07:00"}},
        {"push": True, "sms": False, "quiet_hours": {"start": "7:00", "end": "08:00"}},
        {"push": True},
        {"push": True, "sms": False, "email": True},
    ):
        r = await client.put(url, json=bad, headers=person.headers)
        assert r.status_code == 422, bad
        assert r.json()["code"] == "validation_failed"
    same = {"push": True, "sms": False, "quiet_hours": {"start": "08:00", "end": "08:00"}}
    r = await client.put(url, json=same, headers=person.headers | {"Accept-Language": "en"})
    assert r.status_code == 422
    assert r.json()["code"] == "quiet_hours_invalid"
    assert r.json()["errors"][0]["field"] == "quiet_hours"
    other = await make_person()
    assert (await client.get(url, headers=other.headers)).json()["sms"] is False
    assert (await client.put(url, json=body)).status_code == 401
