"""The field app for grid workers: today's patrol, check-ins with photo and position at each
checkpoint, a hazard fixed on the spot during the patrol, and the patrol log that finishes it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from browsing import sign_in_field as sign_in
from playwright.sync_api import expect

IMAGES = Path(__file__).resolve().parents[1] / "media" / "images"
DISPATCHER, WORKER = "13900000004", "13900000007"


def make_patrol(live_server) -> dict:
    """A plan for the demo grid worker whose first window opens in two minutes (tasks can be
    started 30 minutes early), with two checkpoints: the grid's risk point and a street corner."""
    with live_server.api(live_server.login(WORKER)) as api:
        me = api.get("/api/v1/me").json()
    grid_id = next(a["area_id"] for a in me["assignments"] if a["duty"] == "grid_worker")
    with live_server.api(live_server.login(DISPATCHER)) as api:
        point = api.get("/api/v1/risk-points", params={"area_id": grid_id}).json()["items"][0]
        opens = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(minutes=2)
        name = f"双湾网格日常巡查 {random.randint(100, 999)}"
        plan = api.post(
            "/api/v1/patrol-plans",
            json={
                "name": name,
                "grid_id": grid_id,
                "account_id": me["account"]["id"],
                "recurrence": {"kind": "daily", "time": opens.strftime("%H:%M")},
                "checkpoints": [
                    {"risk_point_id": point["id"], "radius_m": 50},
                    {
                        "lat": point["lat"] + 0.0004,
                        "lng": point["lng"],
                        "datum": "wgs84",
                        "name": "双湾社区北口",
                        "radius_m": 50,
                    },
                ],
                "ordered": True,
                "window_minutes": 120,
            },
        )
        assert plan.status_code == 201, plan.text
    return {"plan": plan.json(), "point": point, "name": name}


def check_in(page, row, lat: float, lng: float, photo: str) -> None:
    page.context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 8})
    row.get_by_role("button", name="在此签到").click()
    expect(row.locator(".position")).to_contain_text("精度 8 米")
    row.locator("input[type=file]").set_input_files(str(IMAGES / photo))
    expect(row.locator(".photos img")).to_have_count(1)
    row.get_by_role("button", name="签到", exact=True).click()
    expect(row.locator(".done")).to_have_text("✓ 已签到")


def test_grid_worker_patrols_checks_in_fixes_on_the_spot_and_finishes(
    phone, live_server, screenshot
):
    setup = make_patrol(live_server)
    point, checkpoints = setup["point"], setup["plan"]["checkpoints"]
    page = phone
    sign_in(page, WORKER)
    expect(page.locator("#tile-tasks")).to_contain_text("项待完成")
    screenshot(page, "field-home-worker")

    page.click("nav a[data-tab=tasks]")
    task_link = page.locator(".list a.item", has_text=setup["name"]).first
    expect(task_link).to_contain_text("已签到 0/2 个点位")
    screenshot(page, "field-tasks")
    task_link.click()
    page.wait_for_url("**/app/task?id=*")
    task_id = int(page.url.rsplit("=", 1)[1])
    expect(page.locator(".bar h1")).to_have_text(setup["name"])
    rows = page.locator("li.checkpoint")
    expect(rows).to_have_count(2)

    check_in(page, rows.nth(0), point["lat"], point["lng"], "hopper.jpg")
    screenshot(page, "field-task-checked-in")

    # a hazard found on the way, fixed there and then (before and after photos)
    page.click("text=上报或即查即改")
    page.wait_for_url("**/app/report?task=*")
    expect(page.locator("#safe-box")).to_be_hidden()  # staff are not asked
    expect(page.locator("#position")).to_contain_text("精度 8 米")
    page.set_input_files("#photo-input", str(IMAGES / "flower.jpg"))
    page.select_option("#category", "fire")
    page.fill("textarea[name=description]", "消防通道堆放杂物，已当场清理")
    page.check("#fixed")
    page.set_input_files("#after-input", str(IMAGES / "hopper.jpg"))
    expect(page.locator("#after-photos img")).to_have_count(1)
    screenshot(page, "field-fix-on-spot")
    page.click("#send")
    expect(page.locator("#result .status")).to_have_text("整改完成，等待核查")
    page.click("#back-to-patrol")
    page.wait_for_url(f"**/app/task?id={task_id}")

    rows = page.locator("li.checkpoint")
    check_in(page, rows.nth(1), point["lat"] + 0.0004, point["lng"], "flower.jpg")
    form = page.locator("#finish-form")
    expect(form.locator("fieldset label")).to_contain_text("消防通道堆放杂物")
    form.locator("input[name=households_visited]").fill("12")
    form.locator("input[name=issues_found]").fill("1")
    form.locator("input[name=fixed_on_spot]").fill("1")
    form.locator("textarea[name=narrative]").fill("走访商户12户，消防通道杂物已清理。")
    screenshot(page, "field-task-finish")
    form.get_by_role("button", name="提交巡查日志").click()
    expect(page.locator(".card .status")).to_have_text("已完成")
    expect(page.locator("dl.facts")).to_contain_text("12")
    screenshot(page, "field-task-done")

    with live_server.api(live_server.login(WORKER)) as api:
        task = api.get(f"/api/v1/tasks/{task_id}").json()
        fixed = api.get("/api/v1/me/reports", params={"limit": 5}).json()["items"][0]
    assert task["status"] == "completed"
    assert [c["checkpoint_id"] for c in task["check_ins"]] == [c["id"] for c in checkpoints]
    assert all(c["within_radius"] and not c["flagged"] for c in task["check_ins"])
    assert all(len(c["photo_ids"]) == 1 for c in task["check_ins"])
    assert task["log"]["households_visited"] == 12
    assert task["log"]["hazard_report_ids"] == [fixed["id"]]
    assert task["skipped_checkpoint_ids"] == []
    assert fixed["status"] == "pending_check"
