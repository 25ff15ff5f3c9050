"""The webhooks page in a real browser: an admin registers a subscriber (its secret shown
once, its name kept as text), pauses it; a dispatcher is told the page is the admins'."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from browsing import sign_in_console

ADMIN = "13900000001"  # the demo admin of the city
NAME = "城市大脑<img src=x onerror=window.__xss=1>"


def test_an_admin_registers_and_pauses_a_subscriber(desktop, live_server, screenshot):
    sign_in_console(desktop, ADMIN)
    desktop.goto("/console/webhooks")
    form = desktop.locator("#webhook-form")
    form.locator("input[name=name]").fill(NAME)
    form.locator("input[name=url]").fill("https://93.184.215.14/hook")
    form.locator("input[value='warning.issued']").check()
    form.locator("button[type=submit]").click()
    secret = desktop.locator("[data-testid=webhook-secret] code")
    secret.wait_for()
    assert len(secret.inner_text()) >= 32
    screenshot(desktop, "console-webhooks-secret")
    desktop.goto("/console/webhooks")
    row = desktop.locator("[data-testid=webhooks-table] tr", has_text="城市大脑")
    assert NAME in row.inner_text()  # text, not markup
    assert "预警发布" in row.inner_text()
    assert "启用中" in row.inner_text()
    assert desktop.evaluate("window.__xss") is None
    row.locator("[data-act=pause]").click()
    desktop.wait_for_selector("[data-testid=webhooks-table] tr:has-text('已暂停')")
    # a URL to a private address is refused, with the reason
    form = desktop.locator("#webhook-form")
    form.locator("input[name=name]").fill("内网")
    form.locator("input[name=url]").fill("http://10.0.0.8/hook")
    form.locator("button[type=submit]").click()
    error = desktop.locator("#webhook-error")
    error.wait_for()
    assert "内网" in error.inner_text()
    screenshot(desktop, "console-webhooks")
    violations = Axe().run(desktop).response["violations"]
    assert [v["id"] for v in violations] == []


def test_a_dispatcher_is_told_webhooks_are_the_admins(console):
    console.goto("/console/webhooks")
    assert "由系统管理员维护" in console.locator("main").inner_text()
    assert console.locator("#webhook-form").count() == 0
