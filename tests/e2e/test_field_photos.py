"""Photos from a phone on a weak network: a 12 MP photo is shrunk on the phone before it is
queued (at most 2048 px, upright, under 800 KB), its EXIF time and position are read on the
phone and stored as the phone's claim, and the position check still flags a far-away one; the
upload shows its progress under a banner that stays in sight; staff may send originals on Wi-Fi."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
from bigphoto import big_photo
from browsing import sign_in_field as sign_in
from playwright.sync_api import expect

RESIDENT = "13900000012"
WORKER = "13900000007"  # grid worker of the demo
ADMIN = "13900000001"  # sees every case in the console
BEIJING = (39.9042, 116.4074)  # where the photo says it was taken: far from the phone
HERE = (29.5630, 106.5516)
TOWNSHIP = (29.5611, 106.5634)  # in 七星岗街道, the demo dispatcher's
# The body of each upload as XMLHttpRequest counts it (Playwright cannot see a Blob body).
COUNT_UPLOADS = """
(() => {
  const send = XMLHttpRequest.prototype.send;
  window.__uploads = [];
  XMLHttpRequest.prototype.send = function (body) {
    const entry = { bytes: 0 };
    window.__uploads.push(entry);
    this.upload.addEventListener("progress", (e) => (entry.bytes = Math.max(entry.bytes, e.total)));
    return send.call(this, body);
  };
})();
"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    return {
        # held upright: stored on its side with EXIF orientation 6, taken in Beijing
        "upright": big_photo(folder / "IMG_0001.jpg", gps=BEIJING, orientation=6),
        "here": big_photo(folder / "IMG_0002.jpg", gps=HERE, seed=7),
    }


def viewport_shot(page, name: str) -> None:
    """What the phone's screen shows now (a full-page shot would not show what stays in sight)."""
    folder = Path(__file__).resolve().parents[2] / ".pytest-data" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    engine = "pg" if os.environ.get("GRID_DATABASE_URL", "").startswith("postgres") else "sqlite"
    page.screenshot(path=str(folder / f"{name}-{engine}.png"))


def fill_report(page, photo: Path, description: str, *, resident: bool = True) -> None:
    page.goto("/app/report")
    expect(page.locator("#position")).to_contain_text("12")
    page.set_input_files("#photo-input", str(photo))
    expect(page.locator("#photos img")).to_have_count(1)
    page.select_option("#category", "gas")
    page.fill("textarea[name=description]", description)
    if resident:
        page.check("input[name=safe][value=yes]")


def uploads(page) -> list[dict]:
    """The answers of the photo uploads this page made, with the bytes each request sent."""
    return page.evaluate("window.__uploads.map((u) => u.bytes)")


def watch_uploads(page) -> list[dict]:
    answers: list[dict] = []
    page.on(
        "response",
        lambda r: (
            answers.append(r.json())
            if r.url.endswith("/api/v1/media") and r.request.method == "POST"
            else None
        ),
    )
    return answers


def catch_uploads(page) -> list[dict]:
    """Like watch_uploads, for a page that reloads as soon as its upload is answered (then no
    body is left to read): the answers are read on their way to the page. (Chromium then
    reports no upload progress, which COUNT_UPLOADS counts.)"""
    answers: list[dict] = []

    def keep(route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        answer = route.fetch()
        if answer.ok:
            answers.append(answer.json())
        route.fulfill(response=answer)

    page.route("**/api/v1/media", keep)
    return answers


def test_a_large_photo_is_shrunk_upright_and_its_gps_read_on_the_phone_is_checked(
    phone, desktop, live_server, photos, send_report, screenshot
):
    page = phone
    page.context.add_init_script(COUNT_UPLOADS)
    answers = watch_uploads(page)
    sign_in(page, RESIDENT)
    description = f"楼道燃气味，照片很大 {random.randint(10000, 99999)}"
    fill_report(page, photos["upright"], description)
    assert photos["upright"].stat().st_size > 4_000_000
    send_report(page)
    expect(page.locator("#result h2")).to_have_text("已提交，感谢您的上报！")
    expect(page.locator("#result")).not_to_contain_text("null")
    screenshot(page, "field-photo-shrunk-sent")

    sent = uploads(page)
    assert len(sent) == 1
    assert 50_000 < sent[0] <= 800 * 1024  # bytes on the wire, multipart included
    photo = answers[-1]
    # upright: the photo was stored on its side, 4000 x 3000 with orientation 6
    assert (photo["width"], photo["height"]) == (1536, 2048)
    assert photo["gps_source"] == "phone"
    assert photo["gps_lat"] == pytest.approx(BEIJING[0], abs=1e-4)
    assert photo["gps_lng"] == pytest.approx(BEIJING[1], abs=1e-4)
    assert photo["captured_source"] == "phone"
    assert photo["captured_at"].startswith("2026-05-01T01:30:15")  # 09:30:15 +08:00

    case_id = int(
        re.search(r"id=(\d+)", page.locator("#result a.button").first.get_attribute("href"))[1]
    )
    with live_server.api(live_server.login(RESIDENT)) as api:
        case = api.get(f"/api/v1/reports/{case_id}").json()
    assert case["description"] == description
    assert case["photos"][0]["gps_source"] == "phone"
    assert case["exif_mismatch"] is True  # the photo was taken 1,450 km from where it is reported
    assert case["exif_distance_m"] > 1_000_000

    # staff see the flag, and that the photo's position is the phone's reading
    console = desktop
    console.goto("/console/login")
    console.fill("input[name=phone]", ADMIN)
    console.fill("input[name=password]", "Grid141demo")
    console.click("button[type=submit]")
    console.wait_for_url("**/console/**")
    console.goto(f"/console/cases/{case_id}")
    expect(console.locator(".badge.warn", has_text="照片拍摄地相距")).to_be_visible()
    expect(console.get_by_test_id("photo-gps-source")).to_have_text(
        "由上报人手机读取（照片发送前已压缩）"
    )
    screenshot(console, "console-case-photo-from-phone")


def test_the_upload_shows_its_progress_under_a_banner_that_stays_in_sight(
    phone, live_server, photos, screenshot
):
    page = phone
    sign_in(page, RESIDENT)
    fill_report(page, photos["here"], f"进度条 {random.randint(10000, 99999)}")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # slower than 3G, so the upload is still going while we look
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 300,
            "downloadThroughput": 200_000,
            "uploadThroughput": 30_000,
        },
    )
    page.click("#send")
    page.locator("#send-progress:not([hidden]), #precheck:not([hidden])").first.wait_for()
    if page.locator("#precheck").is_visible():
        page.click("#send-anyway")
    progress = page.locator("#send-progress")
    expect(progress).to_be_visible(timeout=15000)
    expect(progress).to_contain_text(re.compile(r"正在发送照片：\d+ KB / \d+ KB"))
    page.wait_for_function("() => document.querySelector('#send-progress progress').value > 0")
    page.mouse.wheel(0, 3000)
    banner = page.locator("#pending")
    expect(banner).to_contain_text("1 项待发送 · 正在发送")
    box = banner.bounding_box()
    assert box is not None and 0 <= box["y"] <= 80  # under the header, not scrolled away
    assert page.evaluate("window.scrollY") > 200
    viewport_shot(page, "field-photo-progress")

    # the outbox page, in another tab, shows the item's own progress and a way to retry it
    other = page.context.new_page()
    other.goto("/app/outbox")
    item = other.locator(".queue li").first
    expect(item.locator("progress")).to_be_visible(timeout=15000)
    expect(item).to_contain_text(re.compile(r"已发送 \d+ KB / \d+ KB"))
    screenshot(other, "field-outbox-progress")
    other.close()

    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    expect(page.locator("#result h2")).to_have_text("已提交，感谢您的上报！", timeout=60000)
    expect(banner).to_be_hidden()


def test_a_report_saved_offline_waits_with_its_shrunk_photo_and_a_retry_button(
    phone, live_server, photos, screenshot
):
    page = phone
    sign_in(page, RESIDENT)
    description = f"离线大照片 {random.randint(10000, 99999)}"
    fill_report(page, photos["here"], description)
    page.context.set_offline(True)
    page.click("#send")
    expect(page.locator("#result h2")).to_have_text("已保存在本机")
    expect(page.locator("#result")).not_to_contain_text("null")
    screenshot(page, "field-photo-offline-saved")
    kept = page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open('grid-field');
            open.onsuccess = () => {
                const get = open.result.transaction('outbox').objectStore('outbox').getAll();
                get.onsuccess = () => resolve(get.result.map(i => [i.photos[0].size, i.photos_meta[0]]));
            };
        })"""
    )
    assert len(kept) == 1
    size, meta = kept[0]
    assert size <= 800 * 1024
    assert meta == {
        "gps_lat": pytest.approx(HERE[0], abs=1e-4),
        "gps_lng": pytest.approx(HERE[1], abs=1e-4),
        "captured_at": "2026-05-01T09:30:15+08:00",
    }

    # back online, but the photo upload fails: the report keeps waiting, with its own retry
    page.route("**/api/v1/media", lambda route: route.abort("connectionreset"))
    page.context.set_offline(False)
    page.goto("/app/outbox")
    retry = page.locator(".queue li button", has_text="立即重试")
    expect(retry).to_be_visible()
    expect(page.locator(".queue li .state")).to_have_text("等待网络")
    screenshot(page, "field-outbox-retry")
    page.unroute("**/api/v1/media")
    retry.click()
    expect(page.locator("#queue-empty")).to_be_visible(timeout=15000)
    with live_server.api(live_server.login(RESIDENT)) as api:
        mine = api.get("/api/v1/me/reports", params={"limit": 20}).json()["items"]
    assert [r["description"] for r in mine].count(description) == 1


def test_staff_may_send_originals_on_wifi_and_shrunk_copies_on_mobile_data(
    phone, live_server, photos, send_report
):
    page = phone
    page.context.add_init_script(COUNT_UPLOADS)
    answers = watch_uploads(page)
    sign_in(page, WORKER)
    page.goto("/app/report")
    setting = page.locator("#originals")
    expect(setting).to_be_visible()
    expect(setting).not_to_be_checked()
    setting.check()
    page.reload()
    expect(page.locator("#originals")).to_be_checked()  # kept on the phone

    # headless Chromium names no connection type: unknown, not cellular, so originals go
    fill_report(page, photos["here"], f"原图 {random.randint(10000, 99999)}", resident=False)
    send_report(page)
    expect(page.locator("#result h2")).to_have_text("已提交，感谢您的上报！")
    assert uploads(page)[-1] > photos["here"].stat().st_size
    assert (answers[-1]["width"], answers[-1]["height"]) == (4000, 3000)
    assert answers[-1]["gps_source"] == "exif"  # the server read the original itself

    # on mobile data the shrunk copy goes, even with the setting on
    page.add_init_script(
        "Object.defineProperty(navigator, 'connection', {value: {type: 'cellular'}})"
    )
    fill_report(page, photos["here"], f"移动数据 {random.randint(10000, 99999)}", resident=False)
    send_report(page)
    expect(page.locator("#result h2")).to_have_text("已提交，感谢您的上报！")
    assert uploads(page)[-1] <= 800 * 1024
    assert answers[-1]["gps_source"] == "phone"


def case_in_hand(live_server) -> int:
    """A new case in the demo township, taken on by the demo grid worker."""
    resident = live_server.login(RESIDENT)
    with live_server.api(resident) as api:
        small = Path(__file__).resolve().parents[1] / "media" / "images" / "hopper.jpg"
        with small.open("rb") as f:
            photo = api.post("/api/v1/media", files={"file": f}).json()["id"]
        filed = api.post(
            "/api/v1/reports",
            json={
                "photo_ids": [photo],
                "category": "construction",
                "description": f"工地围挡倒塌 {random.randint(10000, 99999)}",
                "reporter_safe": True,
                "location": {
                    "lat": TOWNSHIP[0],
                    "lng": TOWNSHIP[1],
                    "datum": "wgs84",
                    "source": "gps",
                },
            },
        )
        assert filed.status_code == 201, filed.text
    case_id = filed.json()["id"]
    worker = live_server.login(WORKER)
    with live_server.api(worker) as api:
        worker_id = api.get("/api/v1/me").json()["account"]["id"]
    with live_server.api(live_server.login("13900000004")) as api:  # the dispatcher
        for body in (
            {"action": "register", "level": "general"},
            {"action": "dispatch", "assignee_id": worker_id},
        ):
            r = api.post(f"/api/v1/reports/{case_id}/actions", json=body)
            assert r.status_code == 200, r.text
    with live_server.api(worker) as api:
        r = api.post(f"/api/v1/reports/{case_id}/actions", json={"action": "acknowledge"})
        assert r.status_code == 200, r.text
    return case_id


def test_a_fix_reported_from_the_case_page_sends_its_after_photo_shrunk(phone, live_server, photos):
    """The worker's after photo (and a check-in's, through the same picker) is shrunk on the
    phone like a report's, with what the phone read from its EXIF."""
    case_id = case_in_hand(live_server)
    page = phone
    answers = catch_uploads(page)
    sign_in(page, WORKER)
    page.goto(f"/app/case?id={case_id}")
    page.locator("#fixed-photo").set_input_files(str(photos["here"]))
    expect(page.locator("#fixed-form .photos img")).to_have_count(1)  # prepared, then shown
    page.fill("#fixed-form textarea", "已重新加固围挡")
    page.get_by_role("button", name="提交整改结果").click()
    expect(page.locator(".big-status .status")).to_have_text("整改完成，等待核查")

    # the page reloads once the fix is sent: the upload's answer says what went up, a 4000 x
    # 3000 original as a 2048 px copy
    assert len(answers) == 1 and max(answers[0]["width"], answers[0]["height"]) == 2048
    assert answers[0]["gps_source"] == "phone"
    assert answers[0]["gps_lat"] == pytest.approx(HERE[0], abs=1e-4)
