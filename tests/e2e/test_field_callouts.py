"""Callouts on the phone: a grid worker sees the callout, taps "received" with no signal, and
the acknowledgement reaches the server once the network returns."""

from __future__ import annotations

import random

from browsing import sign_in_field as sign_in
from playwright.sync_api import expect

DISPATCHER, WORKER = "13900000004", "13900000007"


def test_grid_worker_acknowledges_a_callout_made_while_offline(phone, live_server, screenshot):
    worker_token = live_server.login(WORKER)
    with live_server.api(worker_token) as api:
        me = api.get("/api/v1/me").json()
    grid_id = next(a["area_id"] for a in me["assignments"] if a["duty"] == "grid_worker")
    message = f"暴雨黄色预警：请立即到岗，巡查易涝点 {random.randint(1000, 9999)}"
    with live_server.api(live_server.login(DISPATCHER)) as api:
        answer = api.post(
            "/api/v1/callouts",
            json={"area_ids": [grid_id], "message": message, "duties": ["grid_worker"]},
        )
        assert answer.status_code == 201, answer.text
        callout_id = answer.json()["id"]

    page = phone
    sign_in(page, WORKER)
    expect(page.locator("#tile-callouts")).to_contain_text("条待回复")
    page.click("a.tile[href='/app/callouts']")
    card = page.locator(f"[data-callout='{callout_id}']")
    expect(card.locator(".message")).to_have_text(message)
    screenshot(page, "field-callouts")

    page.context.set_offline(True)
    card.get_by_role("button", name="收到").click()
    expect(card.locator(".waiting")).to_have_text("等待发送")
    with live_server.api(worker_token) as api:
        pending = api.get("/api/v1/me/callouts", params={"status": "pending"}).json()["items"]
    assert callout_id in [c["id"] for c in pending]

    page.context.set_offline(False)
    expect(page.locator("#pending")).to_be_hidden()
    with live_server.api(worker_token) as api:
        acked = api.get("/api/v1/me/callouts", params={"status": "acked"}).json()["items"]
    assert callout_id in [c["id"] for c in acked]
    page.reload()
    expect(card.locator(".done")).to_contain_text("已回复收到")
