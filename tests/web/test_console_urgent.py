"""The console's urgent cases page: urgent cases of the area with their response records."""

from __future__ import annotations

from factories import G1, G3, T1, file_report, make_person, make_tree


async def test_urgent_cases_show_who_was_alerted_inside_the_area(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    await make_person(("responder", G1), name="孙群防")
    resident = await make_person()
    urgent = await file_report(
        client, resident, grid=G1, urgent=True, description="山体滑坡，有人被困"
    )
    await file_report(client, resident, grid=G1, description="路灯损坏")  # not urgent
    elsewhere = await file_report(client, resident, grid=G3, urgent=True, description="别处险情")
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/urgent")
    assert page.status_code == 200, page.text
    cases = page.text[page.text.index('data-testid="urgent-cases"') :]
    assert f'data-case="{urgent["id"]}"' in cases
    assert f'data-case="{elsewhere["id"]}"' not in cases
    assert "路灯损坏" not in cases
    assert "孙群防" in cases and "已通知" in cases
    assert "尚无人到场" in cases
    assert 'data-suggest="' in cases  # a dispatcher may send rescue teams


async def test_grid_staff_see_their_urgent_cases_without_dispatching(client):
    await make_tree()
    worker = await make_person(("grid_worker", G1))
    resident = await make_person()
    await file_report(client, resident, grid=G1, urgent=True, description="山体滑坡")
    client.cookies.set("grid_access", worker.token)
    page = await client.get("/console/urgent")
    assert page.status_code == 200
    assert "山体滑坡" in page.text
    assert 'data-suggest="' not in page.text
