"""The console's evacuations: a dispatcher starts one over a grid with households and sees the
board; a status the helper records through the API updates the open board live; a shelter's
headcount shows occupancy and the 90 % warning; the export downloads with real dates; the end
and return; and a proposal made by the warnings job is confirmed with one click."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import openpyxl
from evacuation_browser import seed_households

WORKER = "13900000007"  # 周网格员, grid worker of the demo grid: the households' helper


def console_token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "grid_access")


def _households(tag: str) -> list[dict]:
    return [
        {"address": f"解放碑{tag}号1栋", "head_name": "王大爷", "head_phone": "13911110001",
         "people": 2, "elderly_alone": 1},
        {"address": f"解放碑{tag}号2栋", "head_name": "陈阿姨", "head_phone": "13911110002",
         "people": 4, "children": 1},
        {"address": f"解放碑{tag}号3栋", "head_name": "刘师傅", "head_phone": "13911110003",
         "people": 3},
    ]  # fmt: skip


def _number(page, key: str) -> int:
    return int(page.locator(f"[data-total={key}]").first.inner_text())


def test_a_dispatcher_runs_an_evacuation_from_the_board(console, live_server, screenshot, tmp_path):
    tag = uuid.uuid4().hex[:6]
    seeded = seed_households(
        live_server, WORKER, _households(tag), shelter={"name": f"解放碑小学{tag}", "capacity": 10}
    )
    console.goto("/console/evacuations")
    form = console.locator("#start-form")
    form.locator("button[type=submit]").click()  # every field at its default: nothing chosen
    assert "至少选择一个区域" in form.locator("[data-error]").inner_text()
    form.locator("select[name=area_ids]").select_option(str(seeded["grid_id"]))
    form.locator("textarea[name=note]").fill("红色暴雨预警，立即转移")
    form.locator("button[type=submit]").click()
    console.wait_for_url("**/console/evacuations/*")
    evacuation_id = int(console.url.rstrip("/").rsplit("/", 1)[-1])
    console.wait_for_selector("#live[data-state=on]", timeout=10000)
    console.wait_for_selector("#board-areas tr[data-area]")
    assert console.locator("[data-testid=evacuation-status]").inner_text() == "转移中"
    people, refused = _number(console, "people"), _number(console, "p_refused")
    assert people >= 9 and _number(console, "vulnerable_to_move") >= 2
    first = console.locator("#elapsed").inner_text()
    console.wait_for_timeout(1200)
    assert console.locator("#elapsed").inner_text() != first  # the clock ticks
    url = console.url

    # the helper records a refusal on the phone's API: the open board follows without a reload
    with live_server.api(live_server.login(WORKER)) as api:
        answer = api.post(
            f"/api/v1/evacuations/{evacuation_id}/households/{seeded['households'][0]}/status",
            json={"status": "refused", "reason": "老人不愿离家，要看守房子"},
        )
        assert answer.status_code == 201, answer.text
    console.wait_for_function(
        f"() => Number(document.querySelector('[data-total=p_refused]').textContent) === {refused + 2}",
        timeout=10000,
    )
    row = console.locator(f"#refused-rows tr[data-household='{seeded['households'][0]}']")
    row.wait_for()
    assert "老人不愿离家" in row.inner_text() and "王大爷" in row.inner_text()
    assert console.url == url

    # a headcount of 9 at a shelter of 10: occupancy shown, flagged at 90 %
    checkin = console.locator("#checkin-form")
    checkin.locator("select[name=shelter_id]").select_option(str(seeded["shelter_id"]))
    checkin.locator("input[value=headcount]").check()
    checkin.locator("button[type=submit]").click()  # no number given: said so
    assert "到达人数" in checkin.locator("[data-error]").inner_text()
    checkin.locator("input[name=people]").fill("9")
    checkin.locator("button[type=submit]").click()
    shelter = console.locator(f"#shelter-rows li[data-shelter='{seeded['shelter_id']}']")
    shelter.and_(console.locator("[data-state=near]")).wait_for(timeout=10000)
    assert "9 / 10" in shelter.inner_text() and "接近满员" in shelter.inner_text()
    assert "9 / 10" in checkin.locator("[data-done]").inner_text()
    # a household checked in: moved, and the shelter is over its capacity
    checkin.locator("input[value=household]").check()
    checkin.locator("select[name=household_id]").select_option(str(seeded["households"][1]))
    checkin.locator("button[type=submit]").click()
    shelter.and_(console.locator("[data-state=over]")).wait_for(timeout=10000)
    assert "13 / 10" in shelter.inner_text() and "超出容量" in shelter.inner_text()
    screenshot(console, "console-evacuation-board")

    # the export for the record: real dates, the households' statuses
    with console.expect_download() as download:
        console.locator("[data-testid=export]").click()
    path = tmp_path / "evacuation.xlsx"
    download.value.save_as(path)
    book = openpyxl.load_workbook(path)
    rows = {r[1]: r for r in book["受威胁户"].iter_rows(values_only=True)}
    moved = rows[f"解放碑{tag}号2栋"]
    assert moved[7] == "已转移" and isinstance(moved[13], datetime)
    assert rows[f"解放碑{tag}号1栋"][10] == "老人不愿离家，要看守房子"

    # end and return, after a confirmation
    console.locator("#end-button").click()
    console.locator("#end-dialog textarea").fill("预警解除")
    console.locator("#end-confirm").click()
    console.wait_for_selector("[data-testid=evacuation-status]:text-is('已结束')", timeout=10000)
    assert not console.locator("#end-button").count()
    screenshot(console, "console-evacuation-ended")
    with live_server.api(console_token(console)) as api:
        task = api.get(
            f"/api/v1/evacuations/{evacuation_id}/households/{seeded['households'][1]}"
        ).json()
        assert task["returned_at"] is not None


def test_a_proposal_of_the_warnings_job_is_confirmed_with_one_click(
    console, live_server, screenshot
):
    tag = uuid.uuid4().hex[:6]
    seeded = seed_households(live_server, WORKER, _households(tag))
    console.goto("/console/evacuations")  # signed in; the token is the page's
    with live_server.api(console_token(console)) as api:
        warning = api.post(
            "/api/v1/warnings",
            json={
                "level": "orange",
                "type": "heavy_rain",
                "area_ids": [seeded["grid_id"]],
                "expires_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
                "message": f"橙色暴雨预警 {tag}",
                "callout": False,
            },
        )
        assert warning.status_code == 201, warning.text
        live_server.cli("jobs", "run", "evacuation.warnings")
        proposals = api.get("/api/v1/evacuations", params={"status": "proposed"}).json()["items"]
    proposal = next(p for p in proposals if p["warning_id"] == warning.json()["id"])
    console.goto("/console/evacuations")
    card = console.locator(f"[data-testid=proposed] [data-evacuation='{proposal['id']}']")
    covers = re.search(r"涉及 (\d+) 户、(\d+) 人", card.locator("[data-covers]").inner_text())
    assert covers and int(covers[1]) >= 3 and int(covers[2]) >= 9  # what confirming will move
    screenshot(console, "console-evacuations-list")
    card.locator("[data-confirm]").click()
    console.wait_for_url(f"**/console/evacuations/{proposal['id']}")
    console.wait_for_selector("[data-testid=evacuation-status]:text-is('转移中')")
    console.wait_for_selector("#board-areas tr[data-area]")
    assert _number(console, "households") >= 3
