"""The third link, end to end in a real browser (转移避险): the dispatcher imports three
households from the Excel ledger, issues an orange warning over their grid, and confirms the
evacuation the warnings job proposes with one click; the helper on a phone moves two households
to the shelter (one while offline) and records that the third refuses, which reaches the grid
leader; the board follows live; the shelter checks the two in; the warning is lifted from the
console and the households are returned."""

from __future__ import annotations

import uuid

from browsing import sign_in_field
from evacuation_browser import demo_grid, fill_ledger
from playwright.sync_api import expect

DISPATCHER = "13900000004"  # 李值班, dispatcher of the demo township
LEADER = "13900000006"  # the demo grid's leader: told of refusals
WORKER = "13900000007"  # 周网格员, the demo grid's worker: the households' helper


def _token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "grid_access")


def _total(page, key: str) -> int:
    return int(page.locator(f"[data-total={key}]").first.inner_text())


def _import_ledger(console, grid: dict, tag: str, tmp_path, screenshot) -> None:
    console.goto("/console/households")
    with console.expect_download() as download:
        console.click("[data-testid=ledger-template]")
    ledger = tmp_path / "ledger.xlsx"
    download.value.save_as(ledger)

    def row(address: str, head: str, people: int, **vulnerable: int) -> dict[str, object]:
        return {
            "网格编码": grid["code"], "地址": f"{address}{tag}", "户主姓名": head,
            "户主电话": "13600005555", "人数": people, "包保责任人电话": WORKER,
            "避险点": grid["shelter"], **vulnerable,
        }  # fmt: skip

    fill_ledger(
        ledger,
        [
            row("滨江一巷", "独居张", 1, 独居老人=1),
            row("滨江二巷", "赵家", 4, 幼儿=2),
            row("滨江三巷", "钱家", 3),
        ],
    )
    console.set_input_files("#import-form input[type=file]", str(ledger))
    console.click("#import-form button[type=submit]")
    expect(console.locator("[data-testid=import-success]")).to_contain_text("3")
    screenshot(console, "journey-1-ledger-imported")


def _end_running(live_server) -> None:
    """Browser tests share one server: evacuations others left running over the demo grid
    would hold its households too."""
    with live_server.api(live_server.login(DISPATCHER)) as api:
        for status in ("active", "proposed"):
            listed = api.get("/api/v1/evacuations", params={"status": status, "limit": 200})
            for other in listed.json()["items"]:
                if other["manageable"]:
                    ended = api.post(f"/api/v1/evacuations/{other['id']}/end", json={})
                    assert ended.status_code == 200, ended.text


def test_households_move_from_the_ledger_to_the_shelter_and_back(
    console, phone, live_server, screenshot, tmp_path
):
    tag = uuid.uuid4().hex[:6]
    grid = demo_grid(live_server)
    _end_running(live_server)
    _import_ledger(console, grid, tag, tmp_path, screenshot)
    alone, family, refusing = (f"{n}{tag}" for n in ("滨江一巷", "滨江二巷", "滨江三巷"))

    # an orange warning over the grid, issued on the warnings page, without a callout
    console.goto("/console/warnings")
    form = console.locator("#warning-form")
    expect(form.locator("select[name=level]")).to_have_value("orange")  # the default
    form.locator("select[name=area_ids]").select_option(str(grid["id"]))
    form.locator("textarea[name=message]").fill(f"橙色暴雨预警 {tag}：请立即转移")
    form.locator("input[name=callout]").uncheck()
    form.locator("button[type=submit]").click()
    row = console.locator("[data-testid=warnings] tr", has_text=tag)
    expect(row).to_contain_text("生效中")
    with live_server.api(_token(console)) as api:
        warnings = api.get("/api/v1/warnings", params={"limit": 20}).json()["items"]
        warning = next(w for w in warnings if tag in w["message"])

    # the warnings job proposes an evacuation; one click confirms it
    live_server.cli("jobs", "run", "evacuation.warnings")
    with live_server.api(_token(console)) as api:
        proposed = api.get("/api/v1/evacuations", params={"status": "proposed", "limit": 200})
    run = next(e["id"] for e in proposed.json()["items"] if e["warning_id"] == warning["id"])
    console.goto("/console/evacuations")
    card = console.locator(f"[data-testid=proposed] [data-evacuation='{run}']")
    expect(card.locator("[data-covers]")).to_contain_text("户")
    screenshot(console, "journey-2-proposed")
    card.locator("[data-confirm]").click()
    console.wait_for_url(f"**/console/evacuations/{run}")
    expect(console.locator("[data-testid=evacuation-status]")).to_have_text("转移中")
    console.wait_for_selector("#live[data-state=on]", timeout=10000)
    console.wait_for_selector("#board-areas tr[data-area]")
    moved_before, refused_before = _total(console, "p_moved"), _total(console, "p_refused")
    board_url = console.url

    # the helper's phone: the three households, those with vulnerable people first
    sign_in_field(phone, WORKER)
    phone.goto("/app/evacuation")
    cards = phone.locator(f"section.household:has(h2:text-matches('{tag}$'))")
    expect(cards).to_have_count(3)
    assert cards.locator("h2").last.inner_text() == refusing

    def card_of(address: str):
        return cards.filter(has=phone.locator("h2", has_text=address))

    def move(address: str, queued: bool) -> None:
        household = card_of(address)
        household.get_by_role("button", name="已联系").click()
        expect(household.locator(".sending")).to_have_text(
            "已排队：联网后发送" if queued else "✓ 已发送"
        )
        household.get_by_role("button", name="已转移").click()
        form = household.locator("form.status-form")
        expect(form.locator("select")).to_have_value(f"shelter:{grid['shelter_id']}")
        form.get_by_role("button", name="发送").click()
        expect(household.locator(".sending")).to_have_text(
            "已排队：联网后发送" if queued else "✓ 已发送"
        )

    move(alone, queued=False)
    phone.context.set_offline(True)
    move(family, queued=True)
    expect(phone.locator("#pending")).to_be_visible()  # the two taps wait for the network
    screenshot(phone, "journey-3-phone-offline")
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    expect(phone.locator("#pending")).to_be_hidden(timeout=15000)
    expect(card_of(family).locator(".sending")).to_have_text("✓ 已发送")  # no longer "queued"

    declining = card_of(refusing)
    declining.get_by_role("button", name="拒绝转移").click()
    declining.locator("textarea[name=reason]").fill("要看守店铺，不肯离开")
    declining.get_by_role("button", name="发送").click()
    expect(declining.locator(".sending")).to_have_text("✓ 已发送")
    screenshot(phone, "journey-4-phone-done")

    # the board followed without a reload: five people moved, three refused, named in the list
    expect(console.locator("[data-total=p_moved]").first).to_have_text(
        str(moved_before + 5), timeout=10000
    )
    expect(console.locator("[data-total=p_refused]").first).to_have_text(str(refused_before + 3))
    expect(console.locator("#refused-rows tr", has_text=refusing)).to_contain_text("要看守店铺")
    assert console.url == board_url
    with live_server.api(live_server.login(LEADER)) as api:
        told = api.get("/api/v1/me/notifications", params={"limit": 50}).json()["items"]
    assert any(n["kind"] == "evacuation.refused" and refusing in str(n) for n in told)

    # the shelter checks the two households in
    with live_server.api(_token(console)) as api:
        tasks = api.get(f"/api/v1/evacuations/{run}/households", params={"limit": 200})
        ids = {t["address"]: t["household_id"] for t in tasks.json()["items"]}
    checkin = console.locator("#checkin-form")
    checkin.locator("select[name=shelter_id]").select_option(str(grid["shelter_id"]))
    checkin.locator("input[value=household]").check()
    for address in (alone, family):
        checkin.locator("select[name=household_id]").select_option(str(ids[address]))
        checkin.locator("button[type=submit]").click()  # clears the last answer at once
        expect(checkin.locator("[data-done]")).to_contain_text(" / ")
    screenshot(console, "journey-5-board")

    # the warning is lifted on the warnings page; the evacuation ends, households return
    console.goto("/console/warnings")
    console.locator("[data-testid=warnings] tr", has_text=tag).locator("[data-lift]").click()
    dialog = console.locator("#lift-dialog")
    dialog.locator("#lift-confirm").click()  # no reason: the form asks for one
    expect(dialog).to_be_visible()
    dialog.locator("textarea").fill("雨势减弱，预警解除")
    dialog.locator("#lift-confirm").click()
    expect(console.locator("[data-testid=warnings] tr", has_text=tag)).to_contain_text("已解除")
    live_server.cli("jobs", "run", "evacuation.warnings")
    console.goto(board_url)
    expect(console.locator("[data-testid=evacuation-status]")).to_have_text("已结束")
    screenshot(console, "journey-6-ended")
    with live_server.api(_token(console)) as api:
        for address in (alone, family):
            task = api.get(f"/api/v1/evacuations/{run}/households/{ids[address]}").json()
            assert task["status"] == "moved" and task["arrived_at"] and task["returned_at"]
