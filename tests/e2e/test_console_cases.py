"""Cases in a real browser: a dispatcher filters the queue with the form as people use it,
takes the one-click views and the urgent-first order, registers and dispatches a new case
through the case page's forms (confirming a dispatch outside the grid), dispatches several
cases at once from the queue, and the table fits a 1366 px screen in both languages."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

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
    # the grid's team is listed first, each with their open cases
    team = dispatch.locator("[data-testid=team] label.person")
    assert team.count() >= 1
    assert all("在办" in t for t in team.all_inner_texts())
    dispatch.locator("[data-testid=team] label.person", has_text=WORKER).click()
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
    # the team of the selected cases' grid comes first
    team = console.locator("#bulk-dispatch [data-testid=team] label.person")
    assert any(WORKER in t for t in team.all_inner_texts())
    team.filter(has_text=WORKER).first.click()
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


def test_the_filter_form_with_every_field_at_its_default(console, screenshot):
    console.goto("/console/cases")
    everything = console.locator("tr[data-case]").count()
    assert everything > 0
    with console.expect_navigation() as answer:
        console.click("#case-filters button[type=submit]")  # nothing chosen at all
    assert answer.value.status == 200
    assert "assignee_id=&" in console.url and "from=&" in console.url  # sent blank, as browsers do
    assert console.locator("tr[data-case]").count() == everything

    # one choice among the defaults filters by it alone
    form = console.locator("#case-filters")
    form.locator("select[name=status]").select_option("submitted")
    with console.expect_navigation() as answer:
        form.locator("button[type=submit]").click()
    assert answer.value.status == 200
    statuses = console.locator("tr[data-case]").evaluate_all("rs => rs.map(r => r.dataset.status)")
    assert statuses and set(statuses) == {"submitted"}
    assert console.locator("#case-filters select[name=status]").input_value() == "submitted"
    # which is the 待受理 view, so it is marked
    assert console.locator("[data-view=awaiting]").get_attribute("aria-current") == "page"
    screenshot(console, "console-cases-filtered")


def test_a_one_click_view_and_the_urgent_first_order(console, live_server, screenshot):
    console.goto("/console/cases")
    console.click("[data-view=urgent]")
    console.wait_for_url("**/console/cases?*urgent=true*")
    assert console.locator("[data-view=urgent]").get_attribute("aria-current") == "page"
    rows = console.locator("tr[data-case]")
    assert rows.count() > 0
    assert rows.count() == console.locator("tr[data-case] .badge.danger", has_text="紧急").count()

    console.goto("/console/cases")
    form = console.locator("#case-filters")
    form.locator("select[name=sort]").select_option("urgent")
    with console.expect_navigation() as answer:
        form.locator("button[type=submit]").click()
    assert answer.value.status == 200
    ids = [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.case)")]
    with live_server.api(live_server.login(DISPATCHER)) as api:
        cases = {
            i["id"]: i for i in api.get("/api/v1/reports", params={"limit": 200}).json()["items"]
        }
    urgent = [cases[i]["urgent"] for i in ids]
    assert urgent == sorted(urgent, reverse=True) and urgent[0]  # every urgent case first
    for group in (True, False):  # then by the nearest deadline, cases without one last
        due = [cases[i]["due_at"] for i in ids if cases[i]["urgent"] is group]
        dated = [d for d in due if d]
        assert due == dated + [None] * (len(due) - len(dated))
        assert dated == sorted(dated)
    screenshot(console, "console-cases-urgent-first")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_case_table_fits_a_1366_screen(console, lang, screenshot):
    console.set_viewport_size({"width": 1366, "height": 768})
    console.goto(f"/console/cases?lang={lang}")
    sizes = console.evaluate(
        """() => ({table: document.querySelector("[data-testid=case-table]").scrollWidth,
                   page: document.documentElement.scrollWidth, view: window.innerWidth})"""
    )
    assert sizes["table"] <= sizes["view"] and sizes["page"] <= sizes["view"], sizes
    frame = console.locator(".table-frame")
    assert frame.evaluate("f => f.scrollWidth <= f.clientWidth")  # no sideways scrolling either
    screenshot(console, f"console-cases-1366-{lang}")


def test_dispatching_outside_the_grid_asks_first(console, live_server, screenshot):
    case_id = new_case(live_server, f"电动车楼道充电 {uuid.uuid4().hex[:6]}")
    with live_server.api(live_server.login(DISPATCHER)) as api:
        api.post(
            f"/api/v1/reports/{case_id}/actions", json={"action": "register"}
        ).raise_for_status()
    console.goto(f"/console/cases/{case_id}")
    dispatch = console.locator("form[data-action='dispatch']")
    others = dispatch.locator("[data-testid=others] label.person")
    everyone = others.count()
    assert everyone > 10
    # search the township instead of scrolling through it
    name = others.nth(everyone // 2).locator(".name").inner_text()
    dispatch.locator("input.person-search").fill(name)
    visible = dispatch.locator("[data-testid=others] label.person:visible")
    assert 1 <= visible.count() < everyone
    visible.filter(has_text=name).first.click()
    dispatch.locator("button[type=submit]").click()
    dialog = dispatch.locator("dialog.outside-dialog")
    dialog.wait_for(state="visible")
    assert name in dialog.inner_text()
    screenshot(console, "console-dispatch-outside-grid")
    dialog.locator("[data-answer=no]").click()  # not sent
    assert case_of(live_server, case_id)["status"] == "registered"
    dispatch.locator("button[type=submit]").click()
    dialog.locator("[data-answer=yes]").click()
    console.wait_for_url(f"**/console/cases/{case_id}?done=dispatch")
    assert case_of(live_server, case_id)["status"] == "dispatched"
