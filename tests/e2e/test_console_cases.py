"""Cases in a real browser: a dispatcher registers and dispatches a new case through the case
page's forms, and dispatches several cases at once from the queue."""

from __future__ import annotations

import uuid
from pathlib import Path

DISPATCHER = "13900000004"  # 李值班
RESIDENT = "13900000012"  # 居民小杨
WORKER = "周网格员"
PHOTO = Path(__file__).resolve().parents[1] / "media" / "images" / "hopper.jpg"


def new_case(live_server, description: str) -> int:
    """A resident's report at the position of a demo case, through the API."""
    with live_server.api(live_server.login(DISPATCHER)) as staff:
        demo = staff.get("/api/v1/reports", params={"limit": 1}).json()["items"][0]
        where = staff.get(f"/api/v1/reports/{demo['id']}").json()
    with live_server.api(live_server.login(RESIDENT)) as api:
        photo = api.post(
            "/api/v1/media", files={"file": ("hazard.jpg", PHOTO.read_bytes(), "image/jpeg")}
        )
        photo.raise_for_status()
        answer = api.post(
            "/api/v1/reports",
            json={
                "category": "fire",
                "description": description,
                "location": {"lat": where["lat"], "lng": where["lng"]},
                "photo_ids": [photo.json()["id"]],
                "reporter_safe": True,
            },
        )
        answer.raise_for_status()
        return answer.json()["id"]


def case_of(live_server, case_id: int) -> dict:
    with live_server.api(live_server.login(DISPATCHER)) as api:
        return api.get(f"/api/v1/reports/{case_id}").json()


def test_a_dispatcher_registers_and_dispatches_a_case(console, live_server, screenshot):
    marker = f"消防通道堵塞 {uuid.uuid4().hex[:6]}"
    case_id = new_case(live_server, marker)
    console.goto(f"/console/cases?q={marker.split()[-1]}")
    assert console.locator("tr[data-case]").count() == 1
    screenshot(console, "console-cases")
    console.click(f"tr[data-case='{case_id}'] a")
    console.wait_for_url(f"**/console/cases/{case_id}")
    forms = console.locator("form.action-form")
    assert sorted(forms.evaluate_all("fs => fs.map(f => f.dataset.action)")) == [
        "merge",
        "register",
        "reject",
        "relocate",
    ]
    # the thumbnail opens large
    console.click("a.photo")
    console.wait_for_selector("#photo-viewer[open] img", state="visible")
    assert console.locator("#photo-viewer img").get_attribute("src").endswith("/display")
    console.keyboard.press("Escape")

    register = console.locator("form[data-action='register']")
    register.locator("select[name=level]").select_option("general")
    register.locator("button[type=submit]").click()
    console.wait_for_url(f"**/console/cases/{case_id}?done=register")
    assert console.locator(".flash").inner_text() == "已立案"
    assert console.locator("[data-testid=case-status]").get_attribute("data-status") == "registered"

    dispatch = console.locator("form[data-action='dispatch']")
    dispatch.locator("button[type=submit]").click()  # no one chosen: refused next to the form
    console.wait_for_load_state()
    problem = console.locator("form[data-action='dispatch'] [data-problem='dispatch']")
    assert "请指定承办对象" in problem.inner_text()

    dispatch = console.locator("form[data-action='dispatch']")
    option = dispatch.locator("select[name=assignee_id] option", has_text=WORKER).first
    dispatch.locator("select[name=assignee_id]").select_option(option.get_attribute("value"))
    dispatch.locator("input[name=due_at]").fill("2099-06-01T18:00")
    dispatch.locator("button[type=submit]").click()
    console.wait_for_url(f"**/console/cases/{case_id}?done=dispatch")
    case = case_of(live_server, case_id)
    assert case["status"] == "dispatched"
    assert case["rectify_due_at"].startswith("2099-06-01T10:00")
    timeline = console.locator("[data-testid=timeline] li").evaluate_all(
        "items => items.map(i => i.dataset.action)"
    )
    assert timeline[-2:] == ["register", "dispatch"]
    assert "2099-06-01 18:00" in console.locator("[data-testid=deadlines]").inner_text()
    screenshot(console, "console-case")


def test_bulk_dispatch_from_the_queue(console, live_server, screenshot):
    tag = uuid.uuid4().hex[:6]
    ids = [new_case(live_server, f"楼道堆放杂物 {tag}") for _ in range(3)]
    with live_server.api(live_server.login(DISPATCHER)) as api:
        for case_id in ids[:2]:
            api.post(
                f"/api/v1/reports/{case_id}/actions", json={"action": "register"}
            ).raise_for_status()
    console.goto(f"/console/cases?q={tag}")
    assert console.locator("tr[data-case]").count() == 3
    console.check("#select-all")
    assert console.locator("#selected-count").inner_text() == "已选 3 件"
    picker = console.locator("#bulk-dispatch select[name=assignee_id]")
    picker.select_option(picker.locator("option", has_text=WORKER).first.get_attribute("value"))
    console.click("#bulk-submit")
    console.wait_for_url("**/console/cases/dispatch")
    outcome = dict(
        zip(
            console.locator("tr[data-case]").evaluate_all("rs => rs.map(r => r.dataset.case)"),
            console.locator("tr[data-case]").evaluate_all("rs => rs.map(r => r.dataset.ok)"),
            strict=True,
        )
    )
    assert outcome == {str(ids[0]): "true", str(ids[1]): "true", str(ids[2]): "false"}
    assert (
        "2 件已交办给周网格员，1 件未能交办"
        in console.locator("[data-testid=bulk-summary]").inner_text()
    )
    screenshot(console, "console-bulk-dispatch")
    assert [case_of(live_server, i)["status"] for i in ids] == [
        "dispatched",
        "dispatched",
        "submitted",
    ]
