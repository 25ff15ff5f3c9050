"""The landing page in a real browser: it renders in Chinese by default and switches to English."""

from __future__ import annotations


def test_home_page_speaks_chinese_then_english_on_request(desktop, screenshot):
    desktop.goto("/")
    assert desktop.locator("h1").inner_text() == "应急管理网格化治理"
    assert desktop.locator("html").get_attribute("lang") == "zh-CN"
    desktop.click("a[href='?lang=en']")
    assert desktop.locator("h1").inner_text() == "Grid governance for emergency management"
    desktop.goto("/")  # the choice is kept in a cookie
    assert desktop.locator("a[href='/console/']").inner_text() == "Street-office console"
    screenshot(desktop, "home")
