"""A resident's own data (docs/privacy.md): the copy as a ZIP, and the deletion of the account
that leaves the office's cases anonymised."""

from __future__ import annotations

import io
import json
import zipfile

from factories import G1, PASSWORD, Person, file_report, make_person, make_tree, upload_photo

from grid_backend.core.db import fetch
from grid_backend.core.sql import q
from grid_backend.hazards.tables import HazardEvent, HotlineCall
from grid_backend.notify.tables import Notification
from grid_backend.settings import get_settings

SCRIPT = "<script>alert(1)</script>"


async def act(client, person: Person, report_id: int, **body) -> dict:
    r = await client.post(f"/api/v1/reports/{report_id}/actions", json=body, headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def download(client, person: Person) -> zipfile.ZipFile:
    r = await client.get("/api/v1/me/data-export", headers=person.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    return zipfile.ZipFile(io.BytesIO(r.content))


async def delete(client, person: Person, password: str = PASSWORD, key: str | None = None):
    headers = {**person.headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post("/api/v1/me/deletion", json={"password": password}, headers=headers)


async def test_the_copy_holds_my_reports_and_photos_and_nothing_of_anyone_else(client):
    await make_tree()
    me = await make_person(name="小杨" + SCRIPT)
    other = await make_person(name="老王")
    dispatcher = await make_person(("dispatcher", "500103001"))
    mine = await file_report(client, me, description="我的隐患" + SCRIPT)
    theirs = await file_report(client, other, description="别人的隐患", photo="flower.jpg")
    await act(client, dispatcher, mine["id"], action="register", note="已受理")
    # an event staff keep to themselves (as a relocation or a merge): not in the reporter's copy
    await HazardEvent.insert(
        HazardEvent(
            report=mine["id"],
            actor=dispatcher.id,
            action="relocate",
            to_status="registered",
            note="内部备注：联系物业",
            public=False,
        )
    ).run()

    book = await download(client, me)
    names = set(book.namelist())
    assert {"README.txt", "account.json", "reports.json", "points.json"} <= names
    reports = json.loads(book.read("reports.json"))
    assert [r["id"] for r in reports] == [mine["id"]]
    assert reports[0]["description"] == "我的隐患" + SCRIPT
    account = json.loads(book.read("account.json"))
    assert account["phone"] == me.phone and account["name"] == "小杨" + SCRIPT
    photos = [n for n in names if n.startswith("photos/")]
    assert photos == [f"photos/{mine['id']}-{mine['photos'][0]['id']}.jpg"]
    assert book.read(photos[0])[:2] == b"\xff\xd8"  # a JPEG
    points = json.loads(book.read("points.json"))
    assert [p["delta"] for p in points] == [1]
    everything = b"".join(book.read(n) for n in names)
    for secret in (
        other.phone.encode(),
        "老王".encode(),
        "别人的隐患".encode(),
        "内部备注".encode(),
    ):
        assert secret not in everything
    assert theirs["id"] not in [r["id"] for r in reports]
    audit = await fetch(q("SELECT actor_id FROM audit_entry WHERE action = 'account.data_export'"))
    assert [a["actor_id"] for a in audit] == [me.id]


async def test_the_copy_is_rate_limited(client):
    await make_tree()
    me = await make_person()
    for _ in range(3):
        await download(client, me)
    r = await client.get("/api/v1/me/data-export", headers=me.headers)
    assert r.status_code == 429
    assert r.json()["code"] == "export_rate_limited"
    assert int(r.headers["retry-after"]) > 0


async def _rows_with(text: str) -> set[str]:
    """Tables among those a case and an account leave behind that still hold `text`."""
    found = set()
    tables = (
        "account",
        "hazard_report",
        "hazard_event",
        "audit_entry",
        "notification",
        "hazard_call",
    )
    for table in tables:
        for row in await fetch(q(f"SELECT * FROM {table}")):  # fixed names
            if text in json.dumps(row, default=str):
                found.add(table)
    return found


async def test_deletion_anonymises_the_case_and_closes_the_sign_in(client):
    await make_tree()
    me = await make_person(name="小杨")
    dispatcher = await make_person(("dispatcher", "500103001"))
    worker = await make_person(("grid_worker", G1), employment="full_time")
    case = await file_report(client, me)
    rid = case["id"]
    # they also called the hotline about it: the office keeps the call, not their number
    await HotlineCall.insert(
        HotlineCall(report=rid, channel="hotline_12345", caller_phone=me.phone, caller_name="小杨")
    )
    await act(client, dispatcher, rid, action="register")
    await act(client, dispatcher, rid, action="dispatch", assignee_id=worker.id)
    login = await client.post("/api/v1/auth/login", json={"phone": me.phone, "password": PASSWORD})
    refresh = login.json()["refresh_token"]

    wrong = await delete(client, me, password="not-my-password")
    assert wrong.status_code == 403 and wrong.json()["code"] == "password_wrong"

    r = await delete(client, me, key="delete-me-0001")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "deleted" and r.json()["cases_kept"] == 1
    # a retry, and a second request, answer the same
    again = await delete(client, me, key="delete-me-0001")
    assert again.status_code == 200 and again.json() == r.json()
    assert (await delete(client, me, password="anything")).json() == r.json()

    # the sign-in is closed: old access token, refresh token and password all refused
    r = await client.get("/api/v1/me", headers=me.headers)
    assert r.status_code == 401 and r.json()["code"] == "account_closed"
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert r.status_code == 401
    r = await client.post("/api/v1/auth/login", json={"phone": me.phone, "password": PASSWORD})
    assert r.status_code == 401

    # the office's case survives, with an anonymous reporter and no phone anywhere
    seen = (await client.get(f"/api/v1/reports/{rid}", headers=dispatcher.headers)).json()
    assert seen["reporter_name"] == "已注销居民"
    assert seen["reporter_phone"] is None
    assert me.phone not in json.dumps(seen)
    assert await _rows_with(me.phone) == set()
    assert await HotlineCall.count().where(HotlineCall.report == rid) == 1
    assert await _rows_with(me.phone[:3] + "****" + me.phone[-4:]) == {"audit_entry"}  # masked
    actions = await fetch(
        q("SELECT action FROM audit_entry WHERE object_id = {} ORDER BY id", str(me.id))
    )
    assert [a["action"] for a in actions][-2:] == ["account.deletion_requested", "account.deleted"]

    # and its workflow goes on to the end
    await act(client, worker, rid, action="acknowledge")
    after = await upload_photo(client, worker, "flower.jpg")
    await act(client, worker, rid, action="report_fixed", photo_ids=[after], note="已处理")
    assert (await act(client, dispatcher, rid, action="pass_check"))["status"] == "closed"

    # the number is free again: the person may sign up anew later
    rows = await fetch(q("SELECT count(*) AS n FROM account WHERE phone = {}", me.phone))
    assert rows[0]["n"] == 0


async def test_staff_are_deactivated_not_deleted(client):
    await make_tree()
    worker = await make_person(("grid_worker", G1), employment="full_time")
    r = await delete(client, worker)
    assert r.status_code == 403
    assert r.json()["code"] == "staff_account_not_deletable"
    assert (await client.get("/api/v1/me", headers=worker.headers)).status_code == 200


async def test_deletion_needs_a_password_and_a_sign_in(client):
    await make_tree()
    me = await make_person()
    r = await client.post("/api/v1/me/deletion", json={"password": PASSWORD})
    assert r.status_code == 401
    r = await client.post("/api/v1/me/deletion", json={}, headers=me.headers)
    assert r.status_code == 422
    r = await delete(client, me, key="short")
    assert r.status_code == 422
    assert (await client.get("/api/v1/me", headers=me.headers)).status_code == 200


async def test_an_admin_deactivates_a_staff_account_and_its_history_stays(client):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    dispatcher = await make_person(("dispatcher", "500103001"))
    worker = await make_person(("grid_worker", G1), employment="full_time", name="周网格员")
    resident = await make_person()
    rid = (await file_report(client, resident))["id"]
    await act(client, dispatcher, rid, action="register")
    await act(client, dispatcher, rid, action="dispatch", assignee_id=worker.id)
    await act(client, worker, rid, action="acknowledge")

    url = f"/api/v1/accounts/{worker.id}/deactivate"
    assert (await client.post(url, headers=dispatcher.headers)).status_code == 403  # not admin
    assert (await client.post(url, headers=worker.headers)).status_code == 403  # not oneself
    r = await client.post(url, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False
    assert (await client.post(url, headers=admin.headers)).json() == r.json()  # again: same

    r = await client.get("/api/v1/me", headers=worker.headers)
    assert r.status_code == 401 and r.json()["code"] == "account_closed"
    login = {"phone": worker.phone, "password": PASSWORD}
    r = await client.post("/api/v1/auth/login", json=login)
    assert r.status_code == 403 and r.json()["code"] == "account_disabled"
    # the case keeps who worked on it, and its workflow goes on with someone else
    seen = (await client.get(f"/api/v1/reports/{rid}", headers=dispatcher.headers)).json()
    assert "周网格员" in [e["actor_name"] for e in seen["timeline"]]
    suspended = await act(client, dispatcher, rid, action="suspend", reason="人员离职，待重新交办")
    assert suspended["status"] == "suspended"
    duties = await fetch(q("SELECT valid_to FROM assignment WHERE account = {}", worker.id))
    assert all(d["valid_to"] is not None for d in duties)


async def test_wrong_deletion_passwords_count_against_the_sign_in_limits(client):
    # a stolen access token must not be a way to guess the password without limit
    await make_tree()
    me = await make_person()
    codes = [
        (await delete(client, me, password="not-my-password")).json()["code"] for _ in range(5)
    ]
    assert codes[0] == "password_wrong" and set(codes) == {"password_wrong", "rate_limited"}
    r = await delete(client, me)  # even the right password waits now, as a sign-in would
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert (await client.get("/api/v1/me", headers=me.headers)).status_code == 200
    signin = await client.post("/api/v1/auth/login", json={"phone": me.phone, "password": PASSWORD})
    assert signin.status_code == 429, signin.text


async def test_an_admins_copy_holds_their_messages_not_their_webhooks_deliveries(
    client, monkeypatch
):
    # the outbox rows of a webhook name the admin who registered it as their recipient: they
    # are the subscriber's deliveries (every case event of the city), not messages to the admin
    monkeypatch.setenv("GRID_WEBHOOK_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    await make_tree()
    admin = await make_person(("admin", "500000"))
    resident = await make_person()
    r = await client.post(
        "/api/v1/webhooks",
        json={"name": "城市大脑", "url": "http://127.0.0.1:9/hook", "kinds": ["case.created"]},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    await file_report(client, resident)
    assert await Notification.count().where(Notification.channel == "webhook") == 1
    book = await download(client, admin)
    channels = {n["channel"] for n in json.loads(book.read("notifications.json"))}
    assert "webhook" not in channels
