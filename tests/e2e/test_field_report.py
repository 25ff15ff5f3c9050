"""The field app for residents, in a real phone-sized browser: sign in, report a hazard with a
camera photo and the browser's position, find it in "my reports" in plain language."""

from __future__ import annotations

import random
import re
from pathlib import Path

from playwright.sync_api import expect

PHOTO = Path(__file__).resolve().parents[1] / "media" / "images" / "hopper_orientation_6.jpg"
RESIDENT = "13900000012"
PASSWORD = "Grid141demo"


def sign_in(page, phone: str, password: str = PASSWORD) -> None:
    page.goto("/app/")
    page.wait_for_url("**/app/login**")
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/app/")
    expect(page.locator("#who")).to_contain_text("您好")


def test_resident_reports_a_hazard_with_a_photo_and_follows_it(
    phone, live_server, screenshot, send_report
):
    page = phone
    page.goto("/app/login")
    screenshot(page, "field-login")
    sign_in(page, RESIDENT)
    expect(page.locator("#tile-points")).to_contain_text("分")
    screenshot(page, "field-home-resident")

    page.click("a.big-action")
    page.wait_for_url("**/app/report")
    # the position comes from the browser (WGS-84) with its accuracy
    expect(page.locator("#position")).to_contain_text("29.56300, 106.55160（精度 12 米）")
    page.set_input_files("#photo-input", str(PHOTO))
    expect(page.locator("#photos img")).to_have_count(1)
    page.select_option("#category", "gas")
    description = f"楼道里有燃气味 {random.randint(1000, 9999)}"
    page.fill("textarea[name=description]", description)
    page.click("#send")
    # the safe-place question must be answered by residents
    expect(page.locator("#form-error")).to_have_text("请确认您是否处于安全位置。")
    page.check("input[name=safe][value=yes]")
    screenshot(page, "field-report-form")
    send_report(page)
    expect(page.locator("#result h2")).to_have_text("已提交，感谢您的上报！")
    expect(page.locator("#result .status")).to_have_text("已提交，等待受理")
    screenshot(page, "field-report-sent")

    token = live_server.login(RESIDENT)
    with live_server.api(token) as api:
        mine = api.get("/api/v1/me/reports", params={"limit": 5}).json()["items"]
        report = next(r for r in mine if r["description"] == description)
        detail = api.get(f"/api/v1/reports/{report['id']}").json()
    assert detail["category"] == "gas"
    assert detail["reporter_safe"] is True
    assert detail["accuracy_m"] == 12
    assert len(detail["photos"]) == 1

    page.click("nav a[data-tab=reports]")
    page.wait_for_url("**/app/reports")
    item = page.locator(".list a.item", has_text=description)
    expect(item).to_contain_text("已提交，等待受理")
    expect(item.locator("img.thumb")).to_have_attribute("src", re.compile(r"^blob:"))
    screenshot(page, "field-my-reports")

    item.click()
    page.wait_for_url(f"**/app/case?id={report['id']}")
    expect(page.locator(".big-status .status")).to_have_text("已提交，等待受理")
    expect(page.locator(".timeline li")).to_have_count(1)
    expect(page.locator(".timeline li b")).to_have_text("已上报")
    expect(page.locator(".gallery img")).to_have_attribute("src", re.compile(r"^blob:"))
    screenshot(page, "field-case")

    page.goto("/app/points")
    expect(page.locator(".points .balance b")).to_have_text(str(_balance(live_server, token)))
    screenshot(page, "field-points")


def _balance(live_server, token: str) -> int:
    with live_server.api(token) as api:
        return api.get("/api/v1/me/points").json()["balance"]


def test_a_new_resident_signs_up_and_switches_to_english(phone, live_server, screenshot):
    page = phone
    page.goto("/app/register")
    number = f"1350000{random.randint(1000, 9999)}"
    page.fill("#code-form input[name=phone]", number)
    page.click("#code-form button[type=submit]")
    expect(page.locator("#code-sent")).to_contain_text(number)
    expect(page.locator("#code-in-log")).to_contain_text("服务器日志")
    page.fill("input[name=code]", live_server.texted_code(number))
    page.fill("input[name=name]", "新居民")
    page.fill("input[name=password]", "Password1")
    page.fill("input[name=password2]", "Password1")
    page.click("#register-form button[type=submit]")
    expect(page.locator("#form-error")).to_have_text("密码强度不够: 这是常见密码，很容易被猜到")
    page.fill("input[name=password]", "Safe2live!")
    page.fill("input[name=password2]", "Safe2live?")
    page.click("#register-form button[type=submit]")
    expect(page.locator("#form-error")).to_have_text("两次输入的密码不一致。")
    page.fill("input[name=password2]", "Safe2live!")
    screenshot(page, "field-register-code")
    page.click("#register-form button[type=submit]")
    page.wait_for_url("**/app/")
    expect(page.locator("#who")).to_contain_text("您好，新居民")
    expect(page.locator("#tile-reports")).to_have_text("0 条上报")

    page.click("[data-lang-switch]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#who")).to_contain_text("Hello, 新居民")
    expect(page.locator("#tile-reports")).to_have_text("0 reports")
    screenshot(page, "field-home-english")
    page.goto("/app/reports")
    expect(page.locator(".empty")).to_contain_text("You have not reported anything yet.")


def test_a_resident_is_offered_the_open_case_nearby_and_says_me_too_instead(
    phone, live_server, screenshot
):
    # somebody else's open gas case 30 m from where this phone stands
    other = live_server.login("13900000007")  # the demo grid worker files it
    with live_server.api(other) as api:
        photo = api.post(
            "/api/v1/media", files={"file": ("gas.jpg", PHOTO.read_bytes(), "image/jpeg")}
        ).json()["id"]
        existing = api.post(
            "/api/v1/reports",
            json={
                "category": "gas",
                "description": "燃气表箱漏气",
                "photo_ids": [photo],
                "location": {"lat": 29.5630 + 30 / 111_320, "lng": 106.5516},
            },
        ).json()
    page = phone
    sign_in(page, RESIDENT)
    token = live_server.login(RESIDENT)
    with live_server.api(token) as api:
        filed_before = api.get("/api/v1/me/reports", params={"limit": 50}).json()["items"]
    page.goto("/app/report")
    expect(page.locator("#position")).to_contain_text("精度")
    page.set_input_files("#photo-input", str(PHOTO))
    page.select_option("#category", "gas")
    page.fill("textarea[name=description]", "闻到燃气味")
    page.check("input[name=safe][value=yes]")
    page.click("#send")

    offered = page.locator(f"#precheck .dup[data-case='{existing['id']}']")
    expect(offered).to_be_visible()
    screenshot(page, "field-report-duplicates-first")
    offered.locator("button").click()
    expect(offered.locator("button")).to_contain_text("1")  # supporters now
    with live_server.api(token) as api:
        filed_after = api.get("/api/v1/me/reports", params={"limit": 50}).json()["items"]
    with live_server.api(other) as api:
        case = api.get(f"/api/v1/reports/{existing['id']}").json()
    assert len(filed_after) == len(filed_before)  # no second case was filed
    assert case["supporters"] == 1


def test_my_reports_show_more_than_one_page(phone, live_server):
    """A resident with 53 reports sees the newest 50, then the rest on "show more"."""
    resident = f"1361111{random.randint(1000, 9999)}"
    answer = live_server.register(resident, "Safe2live!", "老上报")
    assert answer.status_code == 201, answer.text
    token = answer.json()["access_token"]
    with live_server.api(token) as api:
        for n in range(53):
            photo = api.post(
                "/api/v1/media", files={"file": ("p.jpg", PHOTO.read_bytes(), "image/jpeg")}
            ).json()["id"]
            made = api.post(
                "/api/v1/reports",
                json={
                    "category": "other",
                    "description": f"第 {n} 条",
                    "photo_ids": [photo],
                    "reporter_safe": True,
                    "location": {"lat": 29.55 + n * 0.0001, "lng": 106.56},
                },
            )
            assert made.status_code == 201, made.text
    page = phone
    sign_in(page, resident, "Safe2live!")
    page.goto("/app/reports")
    items = page.locator(".list a.item")
    expect(items).to_have_count(50)
    page.click("#more")
    expect(items).to_have_count(53)
    expect(page.locator("#more")).to_have_count(0)  # nothing more to show
    expect(items.last).to_contain_text("第 0 条")
