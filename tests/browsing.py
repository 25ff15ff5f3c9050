"""What the browser tests (and the phone benchmark) share: how Debian's Chromium is launched,
and signing in through the login forms, as people do."""

from __future__ import annotations

from playwright.sync_api import expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_PASSWORD = "Grid141demo"  # every demo account's
DISPATCHER = "13900000004"  # 李值班, dispatcher of 七星岗街道 in the demo


def _query(language: str | None) -> str:
    return f"?lang={language}" if language else ""


def sign_in_console(
    page, phone: str = DISPATCHER, password: str = DEMO_PASSWORD, *, language: str | None = None
) -> None:
    """The console's login form; lands on the dashboard."""
    page.goto("/console/login" + _query(language))
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/**")


def sign_in_field(
    page, phone: str, password: str = DEMO_PASSWORD, *, language: str | None = None
) -> None:
    """The phone app's login form; lands on its home page, which greets the person."""
    page.goto("/app/login" + _query(language))
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/app/")
    expect(page.locator("#who")).not_to_be_empty()
