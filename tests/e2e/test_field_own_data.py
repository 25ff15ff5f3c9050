"""A resident's own data on the phone (docs/privacy.md): "My data" downloads the copy as a ZIP
that holds their report and its photo, then deletes the account, which signs them out; the
office's case stays, anonymised."""

from __future__ import annotations

import io
import json
import random
import zipfile

from PIL import Image
from playwright.sync_api import expect

DISPATCHER = "13900000004"  # 李值班, dispatcher of 七星岗街道
SCRIPT = "<img src=x onerror=alert(1)>"


def file_case(live_server, token: str, description: str) -> dict:
    """A case filed through the API with a photo nobody else has (photos are stored by content)."""
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), tuple(random.randrange(256) for _ in range(3))).save(
        buffer, "JPEG"
    )
    with live_server.api(token) as api:
        photo = api.post(
            "/api/v1/media", files={"file": ("a.jpg", buffer.getvalue(), "image/jpeg")}
        )
        answer = api.post(
            "/api/v1/reports",
            json={
                "category": "gas",
                "description": description,
                "photo_ids": [photo.json()["id"]],
                "reporter_safe": True,
                "location": {"lat": 29.5611, "lng": 106.5634},  # in 七星岗街道, the dispatcher's
            },
        )
        assert answer.status_code == 201, answer.text
        return answer.json()


def test_a_resident_downloads_then_deletes_their_data(phone, live_server, screenshot):
    number = f"1391235{random.randint(1000, 9999)}"
    password = "MyData-141ok"
    signed = live_server.register(number, password, "小林" + SCRIPT)
    assert signed.status_code == 201, signed.text
    token = live_server.login(number, password)
    case = file_case(live_server, token, "楼道堆放杂物" + SCRIPT)

    page = phone
    page.goto("/app/login")
    page.fill("input[name=phone]", number)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/app/")
    page.click("a[href='/app/me']")
    page.wait_for_url("**/app/me")
    expect(page.locator("#me-who")).to_have_text("小林" + SCRIPT)  # text, never markup

    with page.expect_download() as info:
        page.click("#export")
    path = info.value.path()
    with zipfile.ZipFile(path) as book:
        reports = json.loads(book.read("reports.json"))
        assert [r["id"] for r in reports] == [case["id"]]
        assert reports[0]["description"] == "楼道堆放杂物" + SCRIPT
        assert [n for n in book.namelist() if n.startswith("photos/")] != []
        assert DISPATCHER not in book.read("account.json").decode()
    expect(page.locator("#export-state")).to_have_text("你的数据已下载。")
    screenshot(page, "field-my-data")

    page.click("#delete-form button[type=submit]")  # nothing filled in: told what to do
    expect(page.locator("#delete-error")).to_have_text("请输入密码并勾选确认。")
    page.fill("#delete-form input[name=password]", "Wrong-password-1")
    page.check("#delete-form input[name=sure]")
    page.click("#delete-form button[type=submit]")
    expect(page.locator("#delete-error")).to_contain_text("密码错误")
    page.fill("#delete-form input[name=password]", password)
    page.click("#delete-form button[type=submit]")
    page.wait_for_url("**/app/login?deleted=1")
    expect(page.locator("#deleted-note")).to_be_visible()
    page.goto("/app/")
    page.wait_for_url("**/app/login**")  # signed out: nothing kept on the phone

    with live_server.api() as api:
        again = api.post("/api/v1/auth/login", json={"phone": number, "password": password})
        assert again.status_code == 401
    with live_server.api(live_server.login(DISPATCHER)) as api:
        answer = api.get(f"/api/v1/reports/{case['id']}")
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["reporter_name"] == "已注销居民"
    assert seen["reporter_phone"] is None
    assert number not in json.dumps(seen)
