"""Evacuation on the phone: a helper (the demo grid worker) sees their households most
vulnerable first then nearest, moves one to the shelter online, another while offline (sent
exactly once when the network returns), records a refusal with its reason; the resident linked
to a household sees the notice card, answers "I am safe", and the helper's page shows it."""

from __future__ import annotations

import random

from browsing import sign_in_field as sign_in
from field_evacuation import RESIDENT, SCRIPT, WORKER, evacuate
from playwright.sync_api import expect


def test_helper_moves_households_and_sees_the_residents_answer(phone, live_server, screenshot):
    tag = random.randint(1000, 9999)
    worker_token = live_server.login(WORKER)
    run, seeded = evacuate(live_server, tag)
    ids = seeded["households"]
    far, frail, near, kids = (f"{n}{tag}" for n in ("远处", "独居", "近处", "幼儿"))

    def task(address):
        with live_server.api(worker_token) as api:
            r = api.get(f"/api/v1/evacuations/{run}/households/{ids[address]}")
            return r.json()

    def timeline(address):
        with live_server.api(worker_token) as api:
            return api.get(f"/api/v1/evacuations/{run}/households/{ids[address]}/timeline").json()

    page = phone
    alerts: list[str] = []  # a payload that ran would open a dialog
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    sign_in(page, WORKER)
    banner = page.locator("#evacuation-banner")
    expect(banner).to_contain_text("转移避险")
    screenshot(page, "field-evacuation-home-helper")
    banner.click()
    page.wait_for_url("**/app/evacuation")
    cards = page.locator(f"section.household:has(h2:text-matches('{tag}$'))")
    expect(cards).to_have_count(4)
    # most vulnerable first (the elderly alone and disabled before young children), then nearest
    assert cards.locator("h2").all_text_contents() == [frail, kids, near, far]
    assert SCRIPT in cards.nth(2).locator(".head b").text_content()  # a name, shown as text
    first = cards.nth(0)
    expect(first.locator("a.call")).to_have_attribute("href", "tel:13912345678")
    expect(first.locator("a", has_text="导航")).to_have_attribute(
        "href", "geo:29.580000,106.580000?q=29.580000,106.580000"
    )
    expect(first.locator(".members")).to_contain_text("1 名独居老人")
    screenshot(page, "field-evacuation-list")

    # online: moved to the shelter (no contact first: a note says how it is known)
    first.get_by_role("button", name="已转移").click()
    form = first.locator("form.status-form")
    expect(form.locator("select")).to_have_value(f"shelter:{seeded['shelter']}")
    form.get_by_role("button", name="发送").click()
    expect(form.locator(".error")).to_contain_text("请说明如何得知")
    form.locator("textarea[name=note]").fill("电话确认已到学校")
    screenshot(page, "field-evacuation-move-form")
    form.get_by_role("button", name="发送").click()
    expect(first.locator(".sending")).to_have_text("✓ 已发送")
    expect(first.locator(".status")).to_contain_text(f"七星岗小学{tag}")
    assert task(frail)["status"] == "moved" and task(frail)["shelter_id"] == seeded["shelter"]
    screenshot(page, "field-evacuation-moved")

    # offline: contacted, then moved to relatives, kept and sent once the network returns
    third = cards.nth(2)
    page.context.set_offline(True)
    third.get_by_role("button", name="已联系").click()
    expect(third.locator(".sending")).to_have_text("已排队：联网后发送")
    third.get_by_role("button", name="已转移").click()
    third.locator("select").select_option("relatives")
    third.get_by_role("button", name="发送").click()
    expect(third.locator(".sending")).to_have_text("已排队：联网后发送")
    expect(page.locator("#pending")).to_contain_text("2")
    screenshot(page, "field-evacuation-offline")
    assert task(near)["status"] == "pending"
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#pending")).to_be_hidden(timeout=15000)
    events = timeline(near)
    assert [(e["from_status"], e["status"], e["destination"]) for e in events] == [
        ("pending", "contacted", ""),
        ("contacted", "moved", "relatives"),
    ]  # each exactly once
    assert all(e["lat"] is not None for e in events)  # with the phone's position

    # a refusal needs its reason
    second = cards.nth(1)
    second.get_by_role("button", name="拒绝转移").click()
    second.get_by_role("button", name="发送").click()
    expect(second.locator(".error")).to_have_text("请填写拒绝原因。")
    second.locator("textarea[name=reason]").fill("老人不愿离开")
    second.get_by_role("button", name="发送").click()
    expect(second.locator(".sending")).to_have_text("✓ 已发送")
    assert task(kids)["status"] == "refused"

    # the resident linked to the far household: the notice card, then "I am safe"
    page.goto("/app/")
    page.click("#logout")
    page.wait_for_url("**/app/login**")
    sign_in(page, RESIDENT)
    notice = page.locator(  # the resident's other linked households have cards of their own
        f"section.evacuation-notice[data-evacuation='{run}']",
        has=page.locator("p.shelter", has_text=f"七星岗小学{tag}"),
    )
    expect(notice.locator(".shelter")).to_have_text(f"前往：七星岗小学{tag}")
    expect(notice.locator("a.route")).to_have_attribute(
        "href",
        "geo:29.565000,106.553000?q=29.565000,106.553000("
        + "%E4%B8%83%E6%98%9F%E5%B2%97%E5%B0%8F%E5%AD%A6"
        + str(tag)
        + ")",
    )
    screenshot(page, "field-evacuation-resident")
    notice.get_by_role("button", name="我已安全").click()
    expect(notice.locator(".sending")).to_contain_text("您已回复：我已安全")
    assert [e["status"] for e in timeline(far)] == ["answer_safe"]
    assert task(far)["status"] == "pending"  # the helper's to change
    page.reload()
    expect(notice.locator(".sending")).to_contain_text("您已回复：我已安全")
    with live_server.api(live_server.login(RESIDENT)) as api:
        told = api.get("/api/v1/me/notifications?limit=50").json()["items"]
    assert any(n["kind"] == "evacuation.notice" for n in told)

    page.click("#logout")
    page.wait_for_url("**/app/login**")
    sign_in(page, WORKER)
    page.goto("/app/evacuation")
    expect(cards.nth(3).locator(".answer")).to_contain_text("居民回复：我已安全")
    expect(cards.nth(3).locator(".status")).to_have_text("未联系")
    screenshot(page, "field-evacuation-answer")
    page.goto("/app/evacuation?lang=en")
    expect(cards.nth(3).locator(".answer")).to_contain_text("Resident says: I am safe")
    expect(cards.nth(0).locator(".status")).to_contain_text(f"Moved to 七星岗小学{tag}")
    screenshot(page, "field-evacuation-english")
    assert alerts == []
