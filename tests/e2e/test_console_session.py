"""Signing in to the console in a real browser: wrong password, then the dispatcher's session."""

from __future__ import annotations


def test_the_dispatcher_signs_in_and_the_pages_can_call_the_api(desktop, screenshot):
    desktop.goto("/console/login")
    desktop.fill("input[name=phone]", "13900000004")
    desktop.fill("input[name=password]", "not-the-password")
    desktop.click("button[type=submit]")
    assert desktop.locator("p.error").inner_text() == "手机号或密码错误"
    screenshot(desktop, "console-login-error")

    desktop.fill("input[name=password]", "Grid141demo")
    desktop.click("button[type=submit]")
    desktop.wait_for_url("**/console/")
    cookies = {c["name"]: c for c in desktop.context.cookies()}
    assert cookies["grid_access"]["httpOnly"]
    assert "grid_csrf" not in cookies  # the visitor nonce is spent; the session's token rules
    # the page's scripts call the API with the cookie and the session's CSRF token from the page
    status = desktop.evaluate(
        """async () => {
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          const bare = await fetch('/api/v1/me/notifications/read-all', {method: 'POST'});
          const signed = await fetch('/api/v1/me/notifications/read-all',
            {method: 'POST', headers: {'X-CSRF-Token': csrf}});
          const me = await (await fetch('/api/v1/me')).json();
          return [bare.status, signed.status, me.account.name];
        }"""
    )
    assert status == [403, 200, "李值班"]
    # a token the page did not give (the old double submit: any value in cookie and header)
    forged = desktop.evaluate(
        """async () => {
          document.cookie = 'grid_csrf=AAAA; path=/';
          const r = await fetch('/api/v1/me/notifications/read-all',
            {method: 'POST', headers: {'X-CSRF-Token': 'AAAA'}});
          return [r.status, (await r.json()).code];
        }"""
    )
    assert forged == [403, "csrf_failed"]
