"""The console's households page (web/console/households.py) as the server renders it: the
area's households with their badges, the filters, pages of 50, the form only for managers,
phones masked as the API masks them, every view audited, residents refused."""

from __future__ import annotations

from factories import G2

from grid_backend.core.tables import AuditEntry

SCRIPT = "<script>alert(1)</script>"


def _rows(page: str) -> int:
    return page.count("<tr data-household=")


async def test_a_dispatcher_sees_the_area_s_households_filters_and_the_form(hw):
    frail = await hw.household(address="一组1号" + SCRIPT, head_name="独居" + SCRIPT)
    plain = await hw.household(
        address="一组2号", head_phone="13712345678", elderly_alone=0, children=0
    )
    hw.client.cookies.set("grid_access", hw.dispatcher.token)
    page = await hw.client.get("/console/households")
    assert page.status_code == 200, page.text
    assert _rows(page.text) == 2
    assert SCRIPT not in page.text and "一组1号&lt;script&gt;" in page.text
    assert "独居老人 1" in page.text and "幼儿 2" in page.text  # vulnerable members as badges
    assert "13712345678" in page.text and "较场口小学" in page.text and "周网格员" in page.text
    assert 'id="household-form"' in page.text and "data-retire" in page.text
    # filters: vulnerable only, a search, a helper, a shelter
    page = await hw.client.get("/console/households", params={"vulnerable": "true"})
    assert _rows(page.text) == 1 and f'data-household="{frail["id"]}"' in page.text
    page = await hw.client.get("/console/households", params={"q": "一组2"})
    assert _rows(page.text) == 1 and f'data-household="{plain["id"]}"' in page.text
    page = await hw.client.get("/console/households", params={"helper_id": hw.leader.id})
    assert _rows(page.text) == 0 and 'data-testid="households-empty"' in page.text
    page = await hw.client.get(
        "/console/households", params={"shelter_id": hw.shelter["id"], "q": "一组"}
    )
    assert _rows(page.text) == 2
    # every view is the audited list
    views = await AuditEntry.count().where(AuditEntry.action == "household.list").run()
    assert views == 5


async def test_pages_of_fifty_follow_the_cursor(hw):
    for i in range(51):
        await hw.household(address=f"二组{i}号", head_phone=f"1360000{i:04d}")
    hw.client.cookies.set("grid_access", hw.dispatcher.token)
    first = await hw.client.get("/console/households")
    assert _rows(first.text) == 50 and 'data-testid="next-page"' in first.text
    cursor = first.text.split("cursor=")[1].split('"')[0].replace("&amp;", "&")
    from urllib.parse import unquote

    second = await hw.client.get(
        "/console/households", params={"cursor": unquote(cursor), "area_id": ""}
    )
    assert second.status_code == 200, second.text
    assert _rows(second.text) == 1 and "next-page" not in second.text
    assert "二组50号" in second.text


async def test_a_micro_grid_worker_sees_masked_phones_and_no_form(hw):
    await hw.household(head_phone="13712345678")
    await hw.household(
        address="别处1号", grid_id=hw.areas[G2], helper_id=hw.worker2.id, shelter_id=None
    )
    hw.client.cookies.set("grid_access", hw.micro_worker.token)
    page = await hw.client.get("/console/households")
    assert page.status_code == 200, page.text
    assert "137****5678" in page.text and "13712345678" not in page.text
    assert "别处1号" not in page.text
    assert 'id="household-form"' not in page.text and "data-retire" not in page.text
    assert "/api/v1/households/template" in page.text  # any staff may fetch the template


async def test_a_resident_is_refused(hw):
    resident = await hw.person(name="张三")
    hw.client.cookies.set("grid_access", resident.token)
    page = await hw.client.get("/console/households")
    assert page.status_code == 403
