"""The console's people page: duties by area inside the caller's area, grids lacking a leader,
worker or emergency officer highlighted, residents' numbers masked."""

from __future__ import annotations

import re

from factories import G1, G3, T1, file_report, make_person, make_tree


def row_of(page: str, area_id: int) -> str:
    found = re.search(rf'<tr data-area="{area_id}" class="([^"]*)">(.*?)</tr>', page, re.S)
    assert found, area_id
    return found.group(1) + found.group(2)


async def test_duties_by_grid_with_the_gaps_highlighted(client):
    ids = await make_tree()
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    await make_person(
        ("grid_leader", G1), ("grid_worker", G1), ("emergency_officer", G1), name="全能"
    )
    await make_person(("grid_leader", "500103001001002"), name="张网格长")
    await make_person(("grid_worker", G3), name="别处网格员")
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/people")
    assert page.status_code == 200, page.text
    g1 = row_of(page.text, ids[G1])
    assert "lacking" not in g1.split("\n")[0] and "全能" in g1
    g2 = row_of(page.text, ids["500103001001002"])
    assert g2.startswith("level-grid lacking")
    assert "张网格长" in g2 and "网格员" in g2 and "应急管理员" in g2
    assert "别处网格员" not in page.text  # another township's
    assert 'data-testid="coverage"' in page.text
    # a dispatcher appoints grid duties, not dispatchers or commanders
    options = re.findall(
        r'<option value="([a-z_]+)">', page.text.split('name="duty"')[1].split("</select>")[0]
    )
    assert "grid_worker" in options and "dispatcher" not in options and "commander" not in options


async def test_residents_are_found_by_full_phone_with_the_number_masked(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    worker = await make_person(("grid_worker", G1), name="周网格员")
    resident = await make_person(name="居民小杨")
    await file_report(client, resident)  # in G1: a resident of the dispatcher's township
    newcomer = await make_person(name="新志愿者")  # of no area yet
    elsewhere = await make_person(name="别处居民")
    await file_report(client, elsewhere, grid=G3)
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/people", params={"q": resident.phone})
    accounts = page.text[page.text.index('data-testid="accounts"') :]
    assert "居民小杨" in accounts
    assert resident.phone not in accounts  # only the search box keeps what was typed
    assert f"{resident.phone[:3]}****{resident.phone[-4:]}" in accounts
    page = await client.get("/console/people", params={"q": newcomer.phone})
    accounts = page.text[page.text.index('data-testid="accounts"') :]
    assert "新志愿者" not in accounts and "新***" in accounts
    page = await client.get("/console/people", params={"q": elsewhere.phone})
    accounts = page.text[page.text.index('data-testid="accounts"') :]
    assert "别处居民" not in accounts and "别*" not in accounts
    # staff of the area keep their number (the command centre calls them)
    page = await client.get("/console/people", params={"q": "周"})
    assert worker.phone in page.text


async def test_grid_workers_do_not_manage_people(client):
    await make_tree()
    worker = await make_person(("grid_worker", G1))
    client.cookies.set("grid_access", worker.token)
    page = await client.get("/console/people")
    assert page.status_code == 200
    assert 'data-testid="duties"' not in page.text
    leader = await make_person(("grid_leader", G1))
    client.cookies.set("grid_access", leader.token)
    page = await client.get("/console/people")
    assert 'data-testid="duties"' in page.text
    assert 'id="appoint-form"' not in page.text  # a grid leader reads, managers appoint
