"""The grid worker's phone: a case page with its kind, how far it is and one-tap navigation in
AMap and Baidu Maps; "cases for me" by deadline with the ones waiting for the check apart; a
callout as a red banner on the home page until it is answered; the patrol badge following a
check-in at once, also one the outbox sends later."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from browsing import sign_in_field
from playwright.sync_api import expect

from grid_backend.core import geo

IMAGES = Path(__file__).resolve().parents[1] / "media" / "images"
WORKER, DISPATCHER = "13900000007", "13900000004"


def sign_in(page, phone: str = WORKER) -> None:
    sign_in_field(page, phone)


def my_cases(live_server, *statuses: str) -> list[dict]:
    with live_server.api(live_server.login(WORKER)) as api:
        me = api.get("/api/v1/me").json()
        params = {"assignee_id": me["account"]["id"], "status": list(statuses), "sort": "due"}
        return api.get("/api/v1/reports", params={**params, "limit": 50}).json()["items"]


def test_case_page_shows_kind_distance_and_navigation_in_each_apps_datum(
    phone, live_server, screenshot
):
    case = my_cases(live_server, "dispatched")[0]
    with live_server.api(live_server.login(WORKER)) as api:
        full = api.get(f"/api/v1/reports/{case['id']}").json()
    sign_in(phone)
    phone.goto(f"/app/case?id={case['id']}")
    expect(phone.locator("#category")).to_have_text(full["category_text"])
    assert full["category_text"] != full["category"]  # a name, not the code
    # the phone is at the fixture's position: the distance is the one from there
    metres = geo.distance_m(106.5516, 29.5630, full["lng"], full["lat"])
    shown = phone.locator("#distance")
    expect(shown).to_contain_text("离您")
    expected = f"{round(metres)} 米" if metres < 1000 else f"{metres / 1000:.1f} 公里"
    expect(shown).to_contain_text(expected)
    amap = phone.locator(".nav-links a[data-app=amap]")
    baidu = phone.locator(".nav-links a[data-app=baidu]")
    expect(amap).to_have_text("高德地图导航")
    expect(baidu).to_have_text("百度地图导航")
    # AMap gets GCJ-02 (lng,lat), Baidu BD-09 (lat,lng), both converted by core.geo
    to = parse_qs(urlsplit(amap.get_attribute("href")).query)["to"][0].split(",")
    gcj = geo.wgs84_to_gcj02(full["lng"], full["lat"])
    assert abs(float(to[0]) - gcj[0]) < 1e-6 and abs(float(to[1]) - gcj[1]) < 1e-6
    query = parse_qs(urlsplit(baidu.get_attribute("href")).query)
    lat_b, lng_b = (float(v) for v in query["location"][0].split(","))
    bd = geo.wgs84_to_bd09(full["lng"], full["lat"])
    assert abs(lng_b - bd[0]) < 1e-6 and abs(lat_b - bd[1]) < 1e-6
    assert query["coord_type"] == ["bd09ll"]
    for link in (amap, baidu):
        box = link.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44
    screenshot(phone, "field-worker-case")


def test_case_page_says_the_distance_is_unknown_without_the_position(
    browser, live_server, screenshot
):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 360, "height": 740}, is_mobile=True
    )
    page = context.new_page()  # no geolocation permission: the phone does not share it
    try:
        case = my_cases(live_server, "dispatched")[0]
        sign_in(page)
        page.goto(f"/app/case?id={case['id']}")
        expect(page.locator("#distance")).to_have_text("离您的距离未知：本机未开放位置权限。")
        expect(page.locator(".nav-links a")).to_have_count(2)
        screenshot(page, "field-worker-case-no-position")
    finally:
        context.close()


def test_cases_for_me_by_deadline_with_overdue_marked_and_waiting_checks_apart(
    phone, live_server, screenshot
):
    todo = my_cases(live_server, "dispatched", "in_progress")
    waiting = my_cases(live_server, "pending_check")
    on_hold = my_cases(live_server, "suspended")
    assert todo and waiting and on_hold, "the demo gives the grid worker all three"
    sign_in(phone)
    phone.goto("/app/cases")
    items = phone.locator("#to-fix a.item")
    expect(items).to_have_count(len(todo))
    shown = [int(h.split("=")[1]) for h in items.evaluate_all("(n) => n.map((a) => a.href)")]
    ordered = sorted(todo, key=lambda r: (r["due_at"] is None, r["due_at"] or "", r["id"]))
    assert shown == [r["id"] for r in ordered]  # nearest deadline first, not by number
    late = [r["id"] for r in todo if r["overdue"]]
    assert late
    expect(phone.locator("#to-fix a.item.late")).to_have_count(len(late))
    expect(phone.locator("#to-fix a.item.late .overdue").first).to_contain_text("已超期")
    section = phone.locator("#waiting-check")
    expect(section.locator("h2")).to_have_text("已报整改，等待指挥中心核查")
    expect(section.locator("a.item")).to_have_count(len(waiting))
    for r in waiting:
        expect(phone.locator(f"#to-fix a[href='/app/case?id={r['id']}']")).to_have_count(0)
    # cases the command centre put on hold are still the worker's: listed apart, not lost
    held = phone.locator("#on-hold")
    expect(held.locator("h2")).to_have_text("已暂缓，待指挥中心恢复后处理")
    expect(held.locator("a.item")).to_have_count(len(on_hold))
    expect(held.locator("a.item").first).to_contain_text("暂缓")
    screenshot(phone, "field-worker-cases")


def test_a_pending_callout_is_a_red_banner_until_answered(phone, live_server, screenshot):
    with live_server.api(live_server.login(WORKER)) as api:
        me = api.get("/api/v1/me").json()
    grid = next(a["area_id"] for a in me["assignments"] if a["duty"] == "grid_worker")
    message = f"今夜有大暴雨，请立即到岗 {uuid.uuid4().hex[:4]}"
    with live_server.api(live_server.login(DISPATCHER)) as api:
        r = api.post(
            "/api/v1/warnings",  # grid workers are among the people called out by default
            json={
                "level": "orange",
                "type": "heavy_rain",
                "area_ids": [grid],
                "expires_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
                "message": message,
            },
        )
        assert r.status_code == 201, r.text
    sign_in(phone)
    banner = phone.locator("#callout-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("叫应：请点此回复“收到”")
    expect(banner).to_contain_text(message)
    assert "null" not in banner.inner_text() and "undefined" not in banner.inner_text()
    colour = banner.evaluate("(b) => getComputedStyle(b).backgroundColor")
    assert colour == "rgb(198, 40, 40)"  # --danger
    screenshot(phone, "field-worker-home-callout")
    # answer every callout waiting (earlier tests may have left some)
    banner.click()
    phone.wait_for_url("**/app/callouts")
    buttons = phone.locator("button.ack")
    expect(buttons.first).to_be_visible()
    while buttons.count():
        buttons.first.click()
        phone.wait_for_timeout(200)
    phone.goto("/app/")
    expect(phone.locator("#tile-callouts")).to_have_text("暂无待回复")
    expect(banner).to_be_hidden()


def make_patrol(live_server) -> dict:
    """A patrol for the grid worker whose window is open now, with one checkpoint."""
    with live_server.api(live_server.login(WORKER)) as api:
        me = api.get("/api/v1/me").json()
    grid_id = next(a["area_id"] for a in me["assignments"] if a["duty"] == "grid_worker")
    with live_server.api(live_server.login(DISPATCHER)) as api:
        point = api.get("/api/v1/risk-points", params={"area_id": grid_id}).json()["items"][0]
        opens = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(minutes=2)
        r = api.post(
            "/api/v1/patrol-plans",
            json={
                "name": f"徽章巡查 {uuid.uuid4().hex[:4]}",
                "grid_id": grid_id,
                "account_id": me["account"]["id"],
                "recurrence": {"kind": "daily", "time": opens.strftime("%H:%M")},
                "checkpoints": [{"risk_point_id": point["id"], "radius_m": 50}],
                "window_minutes": 120,
            },
        )
        assert r.status_code == 201, r.text
        plan = r.json()
    with live_server.api(live_server.login(WORKER)) as api:
        tasks = api.get("/api/v1/me/tasks", params={"limit": 50}).json()["items"]
    task = next(t for t in tasks if t["plan_id"] == plan["id"])
    return {"task": task, "point": point}


def check_in(page, lat: float, lng: float) -> None:
    page.context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 8})
    row = page.locator("li.checkpoint").first
    row.get_by_role("button", name="在此签到").click()
    expect(row.locator(".position")).to_contain_text("精度 8 米")
    row.locator("input[type=file]").set_input_files(str(IMAGES / "hopper.jpg"))
    row.get_by_role("button", name="签到", exact=True).click()


def test_the_patrol_badge_follows_a_check_in_at_once(phone, live_server, screenshot):
    setup = make_patrol(live_server)
    sign_in(phone)
    phone.goto(f"/app/task?id={setup['task']['id']}")
    badge = phone.locator("#task-status")
    expect(badge).to_have_text("待巡查")
    check_in(phone, setup["point"]["lat"], setup["point"]["lng"])
    expect(phone.locator("li.checkpoint .done")).to_have_text("✓ 已签到")
    expect(badge).to_have_text("巡查中")  # no reload
    screenshot(phone, "field-worker-task-badge")


def test_the_patrol_badge_follows_a_check_in_the_outbox_sends_later(phone, live_server, screenshot):
    setup = make_patrol(live_server)
    sign_in(phone)
    phone.goto(f"/app/task?id={setup['task']['id']}")
    badge = phone.locator("#task-status")
    expect(badge).to_have_text("待巡查")
    phone.context.set_offline(True)
    check_in(phone, setup["point"]["lat"], setup["point"]["lng"])
    expect(phone.locator("li.checkpoint .waiting")).to_have_text("等待发送")
    expect(badge).to_have_text("待巡查")
    screenshot(phone, "field-worker-task-queued")
    phone.context.set_offline(False)  # the outbox sends it when the network returns
    expect(phone.locator("li.checkpoint .done")).to_have_text("✓ 已签到", timeout=30000)
    expect(badge).to_have_text("巡查中")
    screenshot(phone, "field-worker-task-sent-later")
