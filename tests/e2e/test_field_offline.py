"""The field app on a weak network: reports made offline wait in IndexedDB (photos included)
and are sent once when the connection returns; a lost answer is retried with the same
Idempotency-Key and still makes one case; the service worker serves the shell offline."""

from __future__ import annotations

import random
from pathlib import Path

from browsing import sign_in_field
from playwright.sync_api import expect

PHOTO = Path(__file__).resolve().parents[1] / "media" / "images" / "hopper_orientation_6.jpg"
RESIDENT = "13900000012"


def sign_in(page, phone: str = RESIDENT) -> None:
    sign_in_field(page, phone)


def fill_report(page, description: str) -> None:
    expect(page.locator("#position")).to_contain_text("精度")
    page.set_input_files("#photo-input", str(PHOTO))
    expect(page.locator("#photos img")).to_have_count(1)
    page.select_option("#category", "road_transport")
    page.fill("textarea[name=description]", description)
    page.check("input[name=safe][value=yes]")


def reports_with(live_server, description: str) -> list[dict]:
    """The resident's cases with this description, asked of the server directly."""
    with live_server.api(live_server.login(RESIDENT)) as api:
        items = api.get("/api/v1/me/reports", params={"limit": 20}).json()["items"]
    return [r for r in items if r["description"] == description]


def wait_for_service_worker(page) -> None:
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=15000)
    page.wait_for_function(
        "caches.keys().then(k => k.some(n => n.startsWith('grid-field-')))", timeout=15000
    )


def test_a_report_made_offline_is_sent_once_when_the_network_returns(
    phone, live_server, screenshot
):
    page = phone
    sign_in(page)
    page.goto("/app/report")
    description = f"路口红绿灯不亮 {random.randint(10000, 99999)}"
    fill_report(page, description)

    page.context.set_offline(True)
    page.click("#send")
    expect(page.locator("#result h2")).to_have_text("已保存在本机")
    expect(page.locator("#pending")).to_have_text("1 项待发送")
    screenshot(page, "field-report-offline")
    assert reports_with(live_server, description) == []
    # the photo waits in IndexedDB as a Blob
    kept = page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open('grid-field');
            open.onsuccess = () => {
                const get = open.result.transaction('outbox').objectStore('outbox').getAll();
                get.onsuccess = () => resolve(get.result.map(i => [i.kind, i.photos.map(
                    p => p instanceof Blob && p.size)]));
            };
        })"""
    )
    assert kept == [["report", [PHOTO.stat().st_size]]]

    page.context.set_offline(False)  # the page hears "online" and sends what waits
    expect(page.locator("#pending")).to_be_hidden()
    found = reports_with(live_server, description)
    assert len(found) == 1
    assert found[0]["status_text"] == "已提交，等待受理"

    page.goto("/app/outbox")
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator(".sent li").first).to_contain_text("上报：道路交通")
    page.click("#send-now")  # sending again has nothing left to send
    expect(page.locator("#queue-empty")).to_be_visible()
    assert len(reports_with(live_server, description)) == 1


def test_a_lost_answer_is_retried_with_the_same_key_and_makes_one_case(
    phone, live_server, send_report
):
    page = phone
    sign_in(page)
    page.goto("/app/report")
    description = f"人行道井盖缺失 {random.randint(10000, 99999)}"
    fill_report(page, description)
    keys = []

    def lose_the_answer(route):
        keys.append(route.request.headers.get("idempotency-key"))
        route.fetch()  # the server files the case...
        route.abort("connectionreset")  # ...but the phone never hears back

    page.route("**/api/v1/reports", lose_the_answer)
    send_report(page)
    expect(page.locator("#result h2")).to_have_text("已保存在本机")
    assert len(reports_with(live_server, description)) == 1
    page.unroute("**/api/v1/reports")

    sent_again = []
    page.on(
        "response",
        lambda r: (
            sent_again.append((r.request.headers.get("idempotency-key"), r.status))
            if r.url.endswith("/api/v1/reports") and r.request.method == "POST"
            else None
        ),
    )
    page.goto("/app/outbox")
    page.click("#send-now")
    expect(page.locator("#queue-empty")).to_be_visible()
    assert sent_again == [(keys[0], 200)]  # the first result, replayed
    assert len(reports_with(live_server, description)) == 1


def test_the_service_worker_serves_the_shell_offline(phone, live_server, screenshot):
    page = phone
    sign_in(page)
    page.goto("/app/reports")
    expect(page.locator(".list a.item").first).to_be_visible()
    wait_for_service_worker(page)

    page.context.set_offline(True)
    answer = page.reload()
    assert answer is not None and answer.from_service_worker
    expect(page.locator(".bar h1")).to_have_text("我的上报")
    expect(page.locator("#net")).to_be_visible()
    # the last list seen is shown, marked as offline
    expect(page.locator(".offline-note")).to_contain_text("离线：数据截至")
    expect(page.locator(".list a.item").first).to_be_visible()
    screenshot(page, "field-offline-shell")

    # a page not opened before comes from the cache too, and takes a report
    page.goto("/app/report")
    expect(page.locator("#report-form")).to_be_visible()
    description = f"广告牌松动 {random.randint(10000, 99999)}"
    fill_report(page, description)
    page.click("#send")
    expect(page.locator("#result h2")).to_have_text("已保存在本机")
    page.goto("/app/outbox")
    expect(page.locator(".queue li.q-waiting")).to_contain_text("上报：道路交通")
    expect(page.locator(".queue li.q-waiting")).to_contain_text("1 张照片")
    screenshot(page, "field-outbox-waiting")

    page.context.set_offline(False)
    expect(page.locator("#queue-empty")).to_be_visible()
    assert len(reports_with(live_server, description)) == 1
