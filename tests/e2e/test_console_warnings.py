"""A warning's acknowledgement board updates live: a warning with a callout is issued through
the page, a recipient acknowledges through the API, and the board changes without a reload."""

from __future__ import annotations

import uuid
from pathlib import Path

RESPONDER = "13900000010"  # 孙群防, responder of the demo grid
ROOT = Path(__file__).resolve().parents[2]


def console_token(page) -> str:
    """The signed-in console's access token (its cookie), so the test needs no second sign-in
    (sign-ins are rate-limited per address, and the browser tests share one server)."""
    return next(c["value"] for c in page.context.cookies() if c["name"] == "grid_access")


def test_a_warnings_acknowledgement_board_updates_live(console, live_server, screenshot):
    console.goto("/console/warnings")
    form = console.locator("#warning-form")
    message = f"今夜有暴雨 {uuid.uuid4().hex[:6]}，请做好防范"
    form.locator("select[name=level]").select_option("red")
    form.locator("textarea[name=message]").fill(message)
    form.locator("button[type=submit]").click()
    console.wait_for_url("**/console/warnings?*callout_id=*")
    console.wait_for_selector("#live[data-state=on]", timeout=10000)
    console.wait_for_selector("#board-people tr")
    totals = console.locator("[data-testid=board-totals]")
    callout_id = int(totals.get_attribute("data-callout"))
    acked_before = int(console.locator("[data-total=acked]").inner_text())
    assert acked_before == 0
    person = console.locator("#board-people tr", has_text="孙群防")
    assert person.get_attribute("data-status") == "pending"
    url = console.url

    with live_server.api(live_server.login(RESPONDER)) as api:
        answer = api.post(f"/api/v1/callouts/{callout_id}/ack")
        assert answer.status_code == 200, answer.text

    console.wait_for_selector("[data-total=acked]:text-is('1')", timeout=10000)
    console.wait_for_selector("#board-people tr[data-status=acked]:has-text('孙群防')")
    assert console.url == url  # no reload, no navigation
    screenshot(console, "console-warnings")


def test_an_urgent_case_shows_who_was_alerted(console, live_server, screenshot):
    with live_server.api(console_token(console)) as api:
        point = api.get("/api/v1/map/risk-points").json()["features"][0]  # in 七星岗街道
    lng, lat = point["geometry"]["coordinates"]
    resident = live_server.login("13900000012")
    with live_server.api(resident) as api:
        photo = api.post(
            "/api/v1/media",
            files={"file": ("hopper.jpg", (ROOT / "tests/media/images/hopper.jpg").read_bytes())},
        ).json()["id"]
        case = api.post(
            "/api/v1/reports",
            json={
                "category": "landslide",
                "description": "山体滑坡，道路被埋",
                "location": {"lat": lat, "lng": lng},
                "photo_ids": [photo],
                "urgent": True,
                "reporter_safe": True,
            },
        )
        assert case.status_code == 201, case.text
    console.goto("/console/urgent")
    card = console.locator(f"[data-case='{case.json()['id']}']")
    card.wait_for()
    assert "已通知" in card.inner_text()
    card.locator("[data-suggest]").click()
    console.wait_for_selector(f"[data-suggestions='{case.json()['id']}'] h3")
    screenshot(console, "console-urgent")
