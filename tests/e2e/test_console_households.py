"""Threatened households in a real browser: the dispatcher downloads the ledger's template,
fills two rows and imports it through the page (the households appear), imports a broken
ledger (every row's problem listed, nothing imported), changes a household through the form,
retires one and exports the area."""

from __future__ import annotations

import uuid

from evacuation_browser import demo_grid as _demo_grid
from evacuation_browser import fill_ledger as _fill
from openpyxl import load_workbook

DISPATCHER = "13900000004"  # 李值班, dispatcher of the demo township
GRID_WORKER = "13900000007"  # 周网格员, the demo grid's worker


def _household_rows(live_server, address: str) -> list[dict[str, object]]:
    with live_server.api(live_server.login(DISPATCHER)) as api:
        answer = api.get("/api/v1/households", params={"q": address, "limit": 200})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]


def test_a_dispatcher_keeps_the_ledger_through_the_page(console, live_server, screenshot, tmp_path):
    tag = uuid.uuid4().hex[:6]
    grid = _demo_grid(live_server)
    console.goto("/console/households")
    console.wait_for_selector("[data-testid=households]")
    assert "周网格员" in console.locator("[data-testid=households]").inner_text()
    screenshot(console, "console-households")

    # the template, filled with two households
    with console.expect_download() as download:
        console.click("[data-testid=ledger-template]")
    template = tmp_path / "template.xlsx"
    download.value.save_as(template)
    _fill(
        template,
        [
            {
                "网格编码": grid["code"],
                "地址": f"临江路{tag}号1-1",
                "户主姓名": "测试甲",
                "户主电话": "13600001111",
                "人数": 3,
                "独居老人": 1,
                "包保责任人电话": GRID_WORKER,
                "避险点": grid["shelter"],
                "十户联防组": "第三组",
            },
            {
                "网格编码": grid["code"],
                "地址": f"临江路{tag}号1-2",
                "户主姓名": "测试乙",
                "户主电话": "023-63861234",
                "人数": 2,
                "幼儿": 1,
                "包保责任人电话": GRID_WORKER,
            },
        ],
    )
    console.set_input_files("#import-form input[type=file]", str(template))
    console.click("#import-form button[type=submit]")
    success = console.locator("[data-testid=import-success]")
    success.wait_for()
    assert "2" in success.inner_text()
    screenshot(console, "console-households-imported")
    console.reload()
    table = console.locator("[data-testid=households]")
    table.wait_for()
    assert f"临江路{tag}号1-1" in table.inner_text()
    assert f"临江路{tag}号1-2" in table.inner_text()

    # a broken ledger: each row's problem listed with its row and column; nothing imported
    broken = tmp_path / "broken.xlsx"
    download.value.save_as(broken)
    _fill(
        broken,
        [
            {
                "网格编码": "999999999999999",
                "地址": f"坏行{tag}-1",
                "户主姓名": "坏甲",
                "户主电话": "13600002222",
                "人数": 2,
                "包保责任人电话": GRID_WORKER,
            },
            {
                "网格编码": grid["code"],
                "地址": f"坏行{tag}-2",
                "户主姓名": "坏乙",
                "户主电话": "12345",
                "人数": 2,
                "包保责任人电话": GRID_WORKER,
            },
            {
                "网格编码": grid["code"],
                "地址": f"坏行{tag}-3",
                "户主姓名": "坏丙",
                "户主电话": "13600003333",
                "人数": 1,
                "孕妇": 2,
                "包保责任人电话": GRID_WORKER,
            },
        ],
    )
    console.set_input_files("#import-form input[type=file]", str(broken))
    console.click("#import-form button[type=submit]")
    refused = console.locator("[data-testid=import-refused]")
    refused.wait_for()
    assert "未导入任何数据" in refused.inner_text()
    problems = console.locator("[data-testid=import-problems] tbody tr")
    listed = [r.split("\t") for r in problems.all_inner_texts()]
    by_row = {(cells[0], cells[1]) for cells in listed}
    assert ("2", "网格编码") in by_row
    assert ("3", "户主电话") in by_row
    assert ("4", "孕妇") in by_row
    assert f"{len(listed)}" in console.locator("[data-testid=problem-count]").inner_text()
    screenshot(console, "console-households-problems")
    assert _household_rows(live_server, f"坏行{tag}") == []

    # a household changed through the form
    row = console.locator("[data-testid=households] tr", has_text=f"临江路{tag}号1-2")
    row.locator("[data-edit]").click()
    form = console.locator("#household-form")
    form.locator("input[name=people]").fill("4")
    form.locator("input[name=pregnant]").fill("1")
    form.locator("input[name=watch_group]").fill("第四组")
    form.locator("button[type=submit]").click()
    console.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=households] tr')]"
        f".some(r => r.textContent.includes('临江路{tag}号1-2') && r.textContent.includes('第四组'))"
    )
    changed = _household_rows(live_server, f"临江路{tag}号1-2")[0]
    assert (changed["people"], changed["pregnant"], changed["watch_group"]) == (4, 1, "第四组")

    # one retired, after confirming
    console.on("dialog", lambda dialog: dialog.accept())
    console.locator("[data-testid=households] tr", has_text=f"临江路{tag}号1-1").locator(
        "[data-retire]"
    ).click()
    console.wait_for_function(
        "() => ![...document.querySelectorAll('[data-testid=households] tr')]"
        f".some(r => r.textContent.includes('临江路{tag}号1-1'))"
    )
    assert _household_rows(live_server, f"临江路{tag}号1-1") == []

    # the export of the area: the changed household is there, the retired one is not
    with console.expect_download() as exported:
        console.click("[data-testid=ledger-export]")
    export = tmp_path / "export.xlsx"
    exported.value.save_as(export)
    book = load_workbook(export, read_only=True)  # read-only holds the file until closed
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        addresses = {str(c) for row in rows for c in row if c}
    finally:
        book.close()
    assert f"临江路{tag}号1-2" in addresses
    assert f"临江路{tag}号1-1" not in addresses


def test_the_form_at_its_defaults_names_each_field(console, screenshot):
    console.goto("/console/households")
    console.click("[data-new]")
    form = console.locator("#household-form")
    form.locator("button[type=submit]").click()
    form.locator(".field-error:not(:empty)").first.wait_for()
    flagged = {e.get_attribute("data-for") for e in form.locator(".field-error:not(:empty)").all()}
    assert {"grid_id", "address", "head_name", "head_phone", "people", "helper_id"} <= flagged
    assert form.locator("[data-error]").inner_text().strip()
    screenshot(console, "console-households-form-errors")
    # a bad phone is named by the API itself, in the page's language
    form.locator("select[name=grid_id]").select_option(index=1)
    form.locator("input[name=address]").fill("测试路1号")
    form.locator("input[name=head_name]").fill("测试丁")
    form.locator("input[name=head_phone]").fill("12345")
    form.locator("input[name=people]").fill("2")
    form.locator("select[name=helper_id]").select_option(index=1)
    form.locator("button[type=submit]").click()
    console.wait_for_function(
        "() => document.querySelector('.field-error[data-for=head_phone]').textContent !== ''"
        " && document.querySelector('.field-error[data-for=address]').textContent === ''"
    )
    assert (
        "电话"
        in form.locator("[data-error]").inner_text()
        + form.locator(".field-error[data-for=head_phone]").inner_text()
    )
