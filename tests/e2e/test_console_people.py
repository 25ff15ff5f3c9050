"""People and duties in a real browser: grids lacking someone are highlighted, and a resident
found by their full number (masked) is given a duty through the page."""

from __future__ import annotations

import uuid

DISPATCHER = "13900000004"  # 李值班, dispatcher of 七星岗街道


def test_a_resident_is_appointed_responder_through_the_page(console, live_server, screenshot):
    phone = "136" + str(uuid.uuid4().int)[:8]
    answer = live_server.register(phone, "Safe2live!", "新志愿者")
    assert answer.status_code == 201, answer.text
    console.goto("/console/people")
    console.wait_for_selector("[data-testid=duties]")
    console.fill("input[name=q]", phone)
    console.click("button:text('查找')")
    # a resident of no area yet: the name is masked like the number
    person = console.locator("[data-testid=accounts] li", has_text="新***")
    assert f"{phone[:3]}****{phone[-4:]}" in person.inner_text()
    assert phone not in person.inner_text()
    person.locator("[data-appoint]").click()
    form = console.locator("#appoint-form")
    form.locator("select[name=duty]").select_option("responder")
    grid = form.locator("select[name=area_id] option:not([hidden])").first
    grid_name = grid.inner_text().split(" (")[0]
    form.locator("select[name=area_id]").select_option(grid.get_attribute("value"))
    form.locator("button[type=submit]").click()
    console.wait_for_selector("[data-testid=duties] .assignment:has-text('新志愿者')")
    row = console.locator("[data-testid=duties] tr", has_text="新志愿者")
    assert grid_name in row.inner_text() and "群防员" in row.inner_text()
    screenshot(console, "console-people")
    # and the duty is ended again from the page
    console.on("dialog", lambda dialog: dialog.accept())
    row.locator(".assignment:has-text('新志愿者') [data-end]").click()
    console.wait_for_load_state()
    console.wait_for_function(
        "() => ![...document.querySelectorAll('[data-testid=duties] .assignment')]"
        ".some(e => e.textContent.includes('新志愿者'))"
    )
