"""An evacuation's record as Excel (GET /api/v1/evacuations/{id}/export.xlsx) and what the
console's pages read beside the board: a summary sheet per level, the households with their
statuses and real dates in Shanghai time, text never a formula, scoped like the board,
audited; the list's rates and the refusal's reason."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
import pytest
from evacuation_runs import C1, G1, G2, SCRIPT, make_run_world

from grid_backend.core.tables import AuditEntry
from grid_backend.evacuation import runs
from grid_backend.people.duty import grants_of

FORMULA = '=HYPERLINK("http://evil.example","点我")'


@pytest.fixture
async def world(client):
    return await make_run_world(client)


async def _export(world, evacuation_id: int, person):
    return await world.client.get(
        f"/api/v1/evacuations/{evacuation_id}/export.xlsx", headers=person.headers
    )


async def test_the_export_holds_each_level_and_every_household_with_real_dates(world):
    a = await world.household(G1, people=4, elderly_alone=1, address=FORMULA, head_name=SCRIPT)
    b = await world.household(G1, people=2)
    c = await world.household(G2, people=5)
    shelter = await world.shelter(capacity=10)
    run = (await world.start(area_ids=[world.areas[C1]]))["id"]
    r = await world.status(run, b["id"], status="refused", reason="=1+1 不愿离家")
    assert r.status_code == 201, r.text
    r = await world.client.post(
        f"/api/v1/evacuations/{run}/shelters/{shelter}/arrivals",
        json={"household_id": a["id"]},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 201, r.text

    answer = await _export(world, run, world.dispatcher)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f'filename="evacuation-{run}.xlsx"' in answer.headers["content-disposition"]
    assert answer.headers["x-row-count"] == "3"
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["区县", "街道（乡镇）", "社区", "网格", "受威胁户", "说明"]
    community = [[c.value for c in row] for row in book["社区"].iter_rows()]
    assert community[0][0] == "区域" or community[0][0]  # a header row in Chinese
    total = community[-1]
    assert total[0] == "合计" and total[1:3] == [3, 11]  # households, people
    assert total[-1] == pytest.approx(4 / 11, abs=1e-4)  # a's 4 moved of 11
    households = list(book["受威胁户"].iter_rows(values_only=True))
    assert len(households) == 4
    by_address = {row[1]: row for row in households[1:]}
    moved = by_address[FORMULA]
    assert moved[2] == SCRIPT and moved[3].startswith("139") and "****" in moved[3]
    assert moved[7] == "已转移" and moved[8] == "到安置点" and moved[9] == "较场口小学"
    assert isinstance(moved[12], datetime) and isinstance(moved[13], datetime)
    refused = by_address[b["address"]]
    assert refused[7] == "拒绝转移" and refused[10] == "=1+1 不愿离家"
    assert by_address[c["address"]][7] == "待转移" and by_address[c["address"]][12] is None
    # text stays text: no cell of the workbook is a formula
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row)
    # Shanghai wall-clock time: the check-in happened "now" on the test clock
    when = moved[13]
    assert when.tzinfo is None
    audit = await AuditEntry.select(AuditEntry.detail).where(
        AuditEntry.action == "evacuation.export"
    )
    assert len(audit) == 1


async def test_the_export_is_scoped_like_the_board_and_in_english_on_request(world):
    await world.household(G1, people=3)
    await world.household(G2, people=5)
    run = (await world.start(area_ids=[world.areas[C1]]))["id"]
    assert (await _export(world, run, world.dispatcher2)).status_code == 404  # T2
    mine = await _export(world, run, world.worker)  # G1's worker: G1 only
    assert mine.status_code == 200, mine.text
    assert mine.headers["x-row-count"] == "1"
    english = await world.client.get(
        f"/api/v1/evacuations/{run}/export.xlsx",
        headers={**world.dispatcher.headers, "Accept-Language": "en"},
    )
    book = openpyxl.load_workbook(io.BytesIO(english.content))
    assert book.sheetnames == [
        "District",
        "Township",
        "Community",
        "Grid",
        "Household list",
        "About",
    ]
    rows = list(book["Household list"].iter_rows(values_only=True))
    assert rows[0][0] == "Grid" and {r[7] for r in rows[1:]} == {"Pending"}
    missing = await _export(world, 999_999, world.dispatcher)
    assert missing.status_code == 404
    assert missing.json()["code"] == "evacuation_not_found"


async def test_the_lists_rates_the_boards_paths_and_a_refusals_reason(world):
    a = await world.household(G1, people=4)
    b = await world.household(G2, people=6)
    run = (await world.start(area_ids=[world.areas[C1]]))["id"]
    r = await world.status(run, a["id"], status="moved", destination="relatives", note="电话确认")
    assert r.status_code == 201, r.text
    r = await world.status(run, b["id"], by=world.worker2, status="refused", reason=SCRIPT)
    assert r.status_code == 201, r.text
    grants = await grants_of(world.dispatcher.id)
    assert await runs.rates(evacuation_ids=[run], grants=grants) == {run: 0.4}
    assert await runs.rates(evacuation_ids=[run], grants=await grants_of(world.worker.id)) == {
        run: 1.0
    }
    board = (
        await world.client.get(
            f"/api/v1/evacuations/{run}/board?level=grid", headers=world.dispatcher.headers
        )
    ).json()
    paths = {a["area"]["code"]: a["path"] for a in board["areas"]}
    assert paths[G1].startswith(board["areas"][0]["path"][:3]) and paths[G1] != paths[G2]
    refused = (
        await world.client.get(
            f"/api/v1/evacuations/{run}/households?status=refused",
            headers=world.dispatcher.headers,
        )
    ).json()["items"]
    assert [(h["household_id"], h["reason"]) for h in refused] == [(b["id"], SCRIPT)]
