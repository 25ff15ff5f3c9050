"""The console's hotline intake in a real browser: the demo dispatcher takes a 12345 call from
someone with no account, finds the place by name, sees the possible duplicates, files the case
and reads its number; the caller's SMS is on the case (the development adapter's record). The
form at its defaults names every field that needs filling, in the page's language."""

from __future__ import annotations

from playwright.sync_api import expect

CALLER = "13700001234"  # no demo account has this number
SCRIPT = '<img src=x onerror="window.__xss=1">'


def test_a_hotline_case_is_filed_and_the_caller_is_texted(console, live_server, screenshot):
    page = console
    nav = page.locator("nav.sidenav a", has_text="热线受理")
    nav.click()
    page.wait_for_selector("#hotline-map[data-ready=true]", timeout=20000)
    form = page.locator("#hotline-form")
    form.locator("select[name=channel]").select_option("hotline_12345")
    form.locator("input[name=caller_phone]").fill(CALLER)
    form.locator("input[name=caller_name]").fill("赵来电" + SCRIPT)
    form.locator("input[name=place_search]").fill("网格")
    first = page.locator("#place-results button").first
    first.wait_for()
    first.click()
    expect(page.locator("#chosen-place")).to_contain_text("地点")
    form.locator("select[name=category]").select_option(index=1)
    page.wait_for_function("() => document.getElementById('dup-hint').textContent.includes('附近')")
    form.locator("textarea[name=description]").fill("小区门口路灯杆倾斜" + SCRIPT)
    form.locator("button[type=submit]").click()
    result = page.locator("[data-testid=hotline-result]")
    expect(result).to_be_visible()
    number = page.locator("[data-testid=case-number]").inner_text().lstrip("#")
    assert number.isdigit()
    told = page.locator("[data-testid=caller-told]")
    expect(told).to_contain_text(CALLER)  # the dispatcher may call them back
    assert told.get_attribute("data-sms") == "sent"
    screenshot(page, "console-hotline-filed")
    assert page.evaluate("window.__xss") is None

    page.locator("[data-testid=case-link]").click()
    page.wait_for_url(f"**/console/cases/{number}")
    expect(page.locator("[data-testid=case-calls]")).to_contain_text("12345 热线")
    expect(page.locator("[data-testid=call-sms]")).to_contain_text("短信已发送")
    expect(page.locator("[data-testid=call-sms-text]")).to_contain_text(f"第{number}号案件")
    expect(page.locator("body")).to_contain_text("赵来电" + SCRIPT)  # as text
    assert page.evaluate("window.__xss") is None
    with live_server.api(live_server.login("13900000004")) as api:
        case = api.get(f"/api/v1/reports/{number}").json()
    assert case["channel"] == "hotline_12345"
    assert [c["sms_status"] for c in case["calls"]] == ["sent"]
    screenshot(page, "console-hotline-case")


def test_the_form_at_its_defaults_names_each_field(console, screenshot):
    page = console
    page.goto("/console/hotline?lang=en")
    form = page.locator("#hotline-form")
    form.locator("button[type=submit]").click()
    form.locator(".field-error:not(:empty)").first.wait_for()
    flagged = {e.get_attribute("data-for") for e in form.locator(".field-error:not(:empty)").all()}
    assert {"caller_phone", "location", "category", "description"} <= flagged
    assert "Pick the place" in form.locator(".field-error[data-for=location]").inner_text()
    assert form.locator("[data-error]").inner_text().strip()
    screenshot(page, "console-hotline-form-errors")
    # a bad phone and an address naming no place are named by the API, in the page's language
    page.goto("/console/hotline?lang=zh-CN")
    form.locator("input[name=caller_phone]").fill("12345")
    form.locator("input[name=address]").fill("火星路1号")
    form.locator("select[name=category]").select_option(index=1)
    form.locator("textarea[name=description]").fill("测试")
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        "() => document.querySelector('.field-error[data-for=caller_phone]').textContent !== ''"
    )
    assert (
        "手机号"
        in form.locator("[data-error]").inner_text()
        + form.locator(".field-error[data-for=caller_phone]").inner_text()
    )
    form.locator("input[name=caller_phone]").fill("13700005678")
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        "() => document.querySelector('.field-error[data-for=address]').textContent !== ''"
    )
    assert "火星路1号" in form.locator(".field-error[data-for=address]").inner_text()
