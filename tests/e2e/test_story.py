"""The story of issue 6, end to end, in three browsers: a resident reports a hazard from the
phone page, the dispatcher registers and dispatches it on the console's case page, the grid
worker takes it on and reports it fixed with an after photo from the phone page, the
dispatcher passes the check on the console, and the resident sees it closed and has the
points. The API is used only to look things up."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from browsing import sign_in_field as sign_in
from playwright.sync_api import expect

IMAGES = Path(__file__).resolve().parents[1] / "media" / "images"
DISPATCHER, WORKER = "13900000004", "13900000007"
PASSWORD = "Grid141demo"


@pytest.fixture
def second_phone(browser, live_server):
    """Another phone (the grid worker's), beside the resident's `phone`."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        has_touch=True,
        permissions=["geolocation"],
        geolocation={"latitude": 29.5573, "longitude": 106.5512, "accuracy": 10},
    )
    page = context.new_page()
    yield page
    context.close()


def console_action(console, case_id: int, action: str, **fields: str) -> None:
    """Fill and submit the console's form for one workflow action on the case page."""
    form = console.locator(f"form[data-action='{action}']")
    for name, value in fields.items():
        if name == "assignee_id":  # the picker: one radio per person
            form.locator(f"input[name=assignee_id][value='{value}']").check()
            continue
        field = form.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()
    console.wait_for_url(f"**/console/cases/{case_id}?done={action}")


def test_a_hazard_from_report_to_closed_with_points(
    phone, second_phone, console, live_server, screenshot, send_report
):
    # a new resident, so the points are theirs alone
    resident_phone = f"1360000{random.randint(1000, 9999)}"
    answer = live_server.register(resident_phone, "Safe2live!", "居民老周")
    assert answer.status_code == 201, answer.text
    resident_token = answer.json()["access_token"]
    with live_server.api(live_server.login(WORKER)) as api:
        worker = api.get("/api/v1/me").json()
    grid_id = next(a["area_id"] for a in worker["assignments"] if a["duty"] == "grid_worker")
    dispatcher = live_server.api(live_server.login(DISPATCHER))
    point = dispatcher.get("/api/v1/risk-points", params={"area_id": grid_id}).json()["items"][0]

    # 1. the resident reports it from the phone, standing beside it in the demo grid
    resident = phone
    resident.context.set_geolocation(
        {"latitude": point["lat"] + 0.0002, "longitude": point["lng"], "accuracy": 15}
    )
    sign_in(resident, resident_phone, "Safe2live!")
    resident.goto("/app/report")
    expect(resident.locator("#position")).to_contain_text("精度 15 米")
    resident.set_input_files("#photo-input", str(IMAGES / "hopper_orientation_6.jpg"))
    resident.select_option("#category", "old_building")
    description = f"加油站旁挡墙开裂，有碎石掉落 {random.randint(1000, 9999)}"
    resident.fill("textarea[name=description]", description)
    resident.check("input[name=safe][value=yes]")
    send_report(resident)
    expect(resident.locator("#result .status")).to_have_text("已提交，等待受理")
    with live_server.api(resident_token) as api:
        case_id = api.get("/api/v1/me/reports").json()["items"][0]["id"]
    case = dispatcher.get(f"/api/v1/reports/{case_id}").json()
    assert case["grid"]["id"] == grid_id and case["description"] == description

    # 2. the dispatcher finds it in the console's queue, registers it and dispatches it
    console.goto("/console/cases?status=submitted")
    console.click(f"tr[data-case='{case_id}'] a")
    console.wait_for_url(f"**/console/cases/{case_id}")
    console_action(console, case_id, "register", level="general")
    console_action(console, case_id, "dispatch", assignee_id=str(worker["account"]["id"]))
    assert dispatcher.get(f"/api/v1/reports/{case_id}").json()["status"] == "dispatched"
    screenshot(console, "story-console-dispatched")

    # 3. the grid worker takes it on and reports it fixed from the phone, with an after photo
    worker_page = second_phone
    sign_in(worker_page, WORKER)
    worker_page.click("nav a[data-tab=cases]")
    worker_page.locator(".list a.item", has_text=description).click()
    worker_page.wait_for_url(f"**/app/case?id={case_id}")
    expect(worker_page.locator(".big-status .status")).to_have_text("已交办给责任人")
    screenshot(worker_page, "story-worker-case")
    worker_page.get_by_role("button", name="接单").click()
    expect(worker_page.locator(".big-status .status")).to_have_text("正在整改")
    worker_page.locator("#fixed-photo").set_input_files(str(IMAGES / "flower.jpg"))
    worker_page.fill("#fixed-form textarea", "已设置警戒，清理碎石并加固挡墙")
    worker_page.get_by_role("button", name="提交整改结果").click()
    expect(worker_page.locator(".big-status .status")).to_have_text("整改完成，等待核查")
    expect(worker_page.locator(".gallery figcaption", has_text="整改后")).to_have_count(1)
    screenshot(worker_page, "story-worker-fixed")

    # 4. the dispatcher sees the after photo on the case page, passes the check and closes it
    console.goto(f"/console/cases/{case_id}")
    expect(console.locator("[data-testid=case-status]")).to_have_attribute(
        "data-status", "pending_check"
    )
    console_action(console, case_id, "pass_check")
    expect(console.locator("[data-testid=case-status]")).to_have_attribute("data-status", "closed")
    screenshot(console, "story-console-closed")
    assert dispatcher.get(f"/api/v1/reports/{case_id}").json()["status"] == "closed"
    dispatcher.close()

    # 5. the resident sees it closed, the public steps of its timeline, and the points
    resident.goto("/app/reports")
    item = resident.locator(".list a.item", has_text=description)
    expect(item.locator(".status")).to_have_text("已办结")
    item.click()
    expect(resident.locator(".big-status .status")).to_have_text("已办结")
    steps = resident.locator(".timeline li b")
    expect(steps.first).to_have_text("已上报")
    expect(steps.last).to_have_text("核查通过，已办结")
    expect(resident.locator(".timeline")).to_contain_text("已报整改完成")
    screenshot(resident, "story-resident-closed")
    resident.goto("/app/points")
    expect(resident.locator(".points .balance b")).to_have_text("6")
    expect(resident.locator(".entries li")).to_have_count(2)
    screenshot(resident, "story-resident-points")
    resident.goto("/app/inbox")
    expect(resident.locator(".list .item").first).to_be_visible()
    screenshot(resident, "story-resident-inbox")
