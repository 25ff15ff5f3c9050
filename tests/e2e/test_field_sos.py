"""One-tap SOS on the field app's home page: a resident holds the button 2 s (the ring fills)
and an urgent case reaches the grid's responders; a short tap or key press sends nothing; a
call made offline waits on the phone and goes once when the network returns; the sender
cancels a false alarm within the minute; beyond the account's limit the phone says why."""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

from browsing import DEMO_PASSWORD, sign_in_field
from playwright.sync_api import expect

PASSWORD = "Safe2live!"
PHOTO = Path(__file__).resolve().parents[1] / "media" / "images" / "flower.jpg"
DISPATCHER = "13900000004"  # 李值班, dispatcher of the demo township
RESPONDER = "13900000010"  # 孙群防, responder of the demo grid the phone stands in


@cache
def _grid_point(url: str, token: str) -> tuple[float, float]:
    import httpx
    from shapely.geometry import shape

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        area_id = api.get("/api/v1/me").json()["assignments"][0]["area_id"]
        boundary = api.get(f"/api/v1/areas/{area_id}").json()["boundary"]
    point = shape(boundary).representative_point()
    return point.y, point.x


def stand_in_the_demo_grid(page, live_server) -> tuple[float, float]:
    """Put the phone inside the grid where the demo responders are on duty."""
    lat, lng = _grid_point(live_server.url, live_server.login(RESPONDER, DEMO_PASSWORD))
    page.context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 12})
    return lat, lng


def new_resident(live_server, name: str) -> str:
    """A resident of their own for each test: the SOS limit is per account."""
    phone = f"137{random.randint(10_000_000, 99_999_999)}"
    answer = live_server.register(phone, PASSWORD, name)
    assert answer.status_code == 201, answer.text
    return phone


def my_cases(live_server, phone: str) -> list[dict]:
    with live_server.api(live_server.login(phone, PASSWORD)) as api:
        return api.get("/api/v1/me/reports", params={"limit": 20}).json()["items"]


def hold(page, milliseconds: int) -> None:
    page.hover("#sos-button")
    page.mouse.down()
    page.wait_for_timeout(milliseconds)
    page.mouse.up()


def home(page, live_server, phone: str) -> None:
    stand_in_the_demo_grid(page, live_server)
    sign_in_field(page, phone, PASSWORD)
    expect(page.locator("#sos-button")).to_be_enabled()


def test_holding_the_button_two_seconds_alerts_the_grid_and_the_sender_may_cancel(
    phone, console, live_server, screenshot
):
    page = phone
    resident = new_resident(live_server, "居民老王")
    home(page, live_server, resident)
    console.goto("/console/cases")  # the township's duty officer, whose console will ring
    console.wait_for_selector("#live-status[data-state=on]", timeout=10000)
    expect(page.locator("#sos-button")).to_have_attribute(
        "aria-label", "一键呼救：按住 2 秒发出求救"
    )
    screenshot(page, "field-sos-home")

    page.hover("#sos-button")
    page.mouse.down()
    page.wait_for_timeout(1200)
    expect(page.locator("#sos-button")).to_have_class("sos-button holding")
    expect(page.locator("#sos-live")).to_have_text("请继续按住以发出求救…")
    screenshot(page, "field-sos-holding")  # the ring more than half full
    page.wait_for_timeout(1100)
    page.mouse.up()

    expect(page.locator("#sos-state")).to_have_text("呼救已发出：正在通知救援人员")
    expect(page.locator("#sos-detail")).to_contain_text("已通知")
    expect(page.locator("#sos-cancel")).to_contain_text("误报，撤销呼救")
    screenshot(page, "field-sos-sent")
    cases = my_cases(live_server, resident)
    assert len(cases) == 1
    case_id = cases[0]["id"]
    with live_server.api(live_server.login(DISPATCHER, DEMO_PASSWORD)) as api:
        case = api.get(f"/api/v1/reports/{case_id}").json()
        assert (case["channel"], case["urgent"], case["status"]) == ("sos", True, "submitted")
    with live_server.api(live_server.login(RESPONDER, DEMO_PASSWORD)) as api:
        mine = api.get("/api/v1/me/responses").json()["items"]
        assert case_id in [m["case"]["id"] for m in mine]
    alarm = console.locator(f"[data-alarm='{case_id}']")
    alarm.wait_for(timeout=10000)

    # a photo may follow the call: it reaches the case
    page.set_input_files("#sos-photo-input", str(PHOTO))
    expect(page.locator("#sos-photo-state")).to_have_text("✓ 照片已发送给救援人员。")
    with live_server.api(live_server.login(DISPATCHER, DEMO_PASSWORD)) as api:
        case = api.get(f"/api/v1/reports/{case_id}").json()
        assert len(case["photos"]) == 1
        assert "photo_added" in [e["action"] for e in case["timeline"]]
    screenshot(page, "field-sos-photo")

    page.click("#sos-cancel")
    expect(page.locator("#sos-state")).to_have_text("呼救已撤销")
    expect(page.locator("#sos-detail")).to_contain_text("这是一次误报")
    screenshot(page, "field-sos-cancelled")
    alarm.wait_for(state="detached", timeout=10000)  # the console stops ringing by itself
    expect(console.locator("[data-testid=live-panel]")).to_contain_text("呼救已由发送人取消")
    with live_server.api(live_server.login(DISPATCHER, DEMO_PASSWORD)) as api:
        case = api.get(f"/api/v1/reports/{case_id}").json()
        assert case["status"] == "closed"
        assert "sos_cancel" in [e["action"] for e in case["timeline"]]
    with live_server.api(live_server.login(RESPONDER, DEMO_PASSWORD)) as api:
        kinds = [n["kind"] for n in api.get("/api/v1/me/notifications").json()["items"]]
        assert "case.urgent_cancelled" in kinds


def test_a_short_tap_or_key_press_sends_nothing_a_held_key_does(phone, live_server, screenshot):
    page = phone
    resident = new_resident(live_server, "居民小李")
    home(page, live_server, resident)
    hold(page, 400)
    expect(page.locator("#sos-live")).to_have_text("未发送：请按住按钮 2 秒以发出求救。")
    expect(page.locator("#sos-button")).to_have_class("sos-button")  # the ring empties
    page.focus("#sos-button")
    page.keyboard.down("Enter")
    page.wait_for_timeout(500)
    page.keyboard.up("Enter")
    page.wait_for_timeout(2500)  # longer than a hold: still nothing
    expect(page.locator("#sos-result")).to_be_hidden()
    assert my_cases(live_server, resident) == []
    screenshot(page, "field-sos-short-tap")

    page.focus("#sos-button")
    page.keyboard.down(" ")
    page.wait_for_timeout(2300)
    page.keyboard.up(" ")
    expect(page.locator("#sos-state")).to_have_text("呼救已发出：正在通知救援人员")
    assert len(my_cases(live_server, resident)) == 1


def test_an_sos_made_offline_goes_once_when_the_network_returns(phone, live_server, screenshot):
    page = phone
    resident = new_resident(live_server, "居民老赵")
    home(page, live_server, resident)
    page.context.set_offline(True)
    hold(page, 2300)
    expect(page.locator("#sos-state")).to_have_text("没有信号：呼救已保存在本机")
    expect(page.locator("#pending")).to_have_text("1 项待发送")
    screenshot(page, "field-sos-offline")
    assert my_cases(live_server, resident) == []

    page.context.set_offline(False)  # the page hears "online" and sends what waits
    expect(page.locator("#sos-state")).to_have_text("呼救已发出：正在通知救援人员")
    expect(page.locator("#pending")).to_be_hidden()
    expect(page.locator("#sos-cancel")).to_be_visible()
    screenshot(page, "field-sos-online-again")
    page.reload()
    page.wait_for_timeout(1500)  # time for any second send to happen, if one would
    cases = my_cases(live_server, resident)
    assert len(cases) == 1
    assert cases[0]["status_text"]


def test_beyond_the_limit_the_phone_says_why(phone, live_server, screenshot):
    page = phone
    resident = new_resident(live_server, "居民小孙")
    with live_server.api(live_server.login(resident, PASSWORD)) as api:
        for _ in range(3):
            lat, lng = stand_in_the_demo_grid(page, live_server)
            body = {"location": {"lat": lat, "lng": lng}}
            assert api.post("/api/v1/sos", json=body).status_code == 201
    home(page, live_server, resident)
    hold(page, 2300)
    expect(page.locator("#sos-state")).to_have_text("呼救未发出")
    expect(page.locator("#sos-detail")).to_contain_text("110、119 或 120")
    expect(page.locator("#sos-detail")).to_contain_text("秒后可再次呼救")
    expect(page.locator("#pending")).to_be_hidden()  # not left to be sent by itself later
    screenshot(page, "field-sos-limited")
    assert len(my_cases(live_server, resident)) == 3
