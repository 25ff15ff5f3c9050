"""扫码报灾 in a real phone-sized browser: a resident, signed out, scans the code put up at a risk
point, signs in, lands on the report page with the place and the category filled in, sends it,
and the case exists for that place, recorded as made from the code. A withdrawn code opens a
page that says so."""

from __future__ import annotations

import random
from pathlib import Path

from playwright.sync_api import expect

from grid_backend.evacuation.qrcodes import CATEGORY_OF

PHOTO = Path(__file__).resolve().parents[1] / "media" / "images" / "hopper_orientation_6.jpg"
DISPATCHER = "13900000004"  # 李值班, 七星岗街道
RESIDENT = "13900000012"
PASSWORD = "Grid141demo"


def test_a_resident_scans_a_risk_points_code_and_reports_from_it(
    phone, live_server, screenshot, send_report
):
    with live_server.api(live_server.login(DISPATCHER)) as staff:
        point = staff.get("/api/v1/risk-points", params={"limit": 1}).json()["items"][0]
        code = staff.post(
            "/api/v1/qr-codes", json={"target": "risk_point", "target_id": point["id"]}
        ).json()
    assert code["url"].startswith(live_server.url + "/q/")
    category = CATEGORY_OF[point["type"]]

    page = phone
    page.goto(code["url"])  # what the phone's camera opens
    page.wait_for_url("**/app/login**")  # signed out: sign in first
    page.fill("input[name=phone]", RESIDENT)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/app/report?qr=**")  # and back to the prefilled report
    expect(page.locator("#position")).to_have_text(f"二维码所在位置：{point['name']}")
    expect(page.locator("#category")).to_have_value(category)
    screenshot(page, "field-qr-report-prefilled")
    page.set_input_files("#photo-input", str(PHOTO))
    expect(page.locator("#photos img")).to_have_count(1)
    description = f"扫码上报：坡面有新裂缝 {random.randint(1000, 9999)}"
    page.fill("textarea[name=description]", description)
    page.check("input[name=safe][value=yes]")
    screenshot(page, "field-qr-report-form")
    send_report(page)
    expect(page.locator("#result h2")).to_have_text("已提交，感谢您的上报！")
    screenshot(page, "field-qr-report-sent")

    with live_server.api(live_server.login(RESIDENT)) as api:
        mine = api.get("/api/v1/me/reports", params={"limit": 5}).json()["items"]
        report = next(r for r in mine if r["description"] == description)
        case = api.get(f"/api/v1/reports/{report['id']}").json()
    assert case["channel"] == "qr"
    assert case["category"] == category
    assert case["grid"]["id"] == point["grid"]["id"]
    # the place is the risk point's (the phone's own position, elsewhere, was not asked for)
    assert abs(case["lat"] - point["lat"]) < 1e-5 and abs(case["lng"] - point["lng"]) < 1e-5
    with live_server.api(live_server.login(DISPATCHER)) as staff:
        seen = staff.get(f"/api/v1/qr-codes/{code['id']}").json()
        assert seen["scans"] == 1
        # withdrawn, the same poster opens a page saying so
        assert staff.delete(f"/api/v1/qr-codes/{code['id']}").status_code == 200
    page.goto(code["url"])
    expect(page.locator("h1")).to_have_text("此二维码已停用")
    screenshot(page, "field-qr-withdrawn")
