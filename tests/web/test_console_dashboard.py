"""The dashboard page shows the figures of GET /api/v1/stats/dashboard for the caller's area,
each linking to its list, with the trends drawn as SVG."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from factories import G1, G3, T1, T2, file_report, make_person, make_tree

from grid_backend.core import clock
from grid_backend.core.security import issue_access_token

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)


def figure(page: str, name: str) -> str:
    found = re.search(
        rf'data-figure="{re.escape(name)}"[^>]*>.*?class="value">([^<]+)<', page, re.S
    )
    assert found, name
    return found.group(1).strip()


async def test_the_dashboard_shows_the_api_figures_with_links(client):
    clock.set_clock(lambda: NOW)
    ids = await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", T1))
    await make_person(("grid_leader", G1))
    for _ in range(3):
        await file_report(client, resident)
    await file_report(client, resident, grid=G3)
    clock.set_clock(lambda: NOW.replace(hour=5))  # three hours on: past the hour for triage
    dispatcher.token = issue_access_token(dispatcher.id)[0]

    api = (await client.get("/api/v1/stats/dashboard", headers=dispatcher.headers)).json()
    assert (api["cases"]["open"], api["cases"]["overdue"]) == (3, 3)
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/")
    assert page.status_code == 200
    text = page.text
    assert figure(text, "cases.open") == "3"
    assert figure(text, "cases.overdue") == "3"
    assert figure(text, "coverage.share") == "0.0%"  # two grids, neither fully staffed
    assert 'href="/console/cases?status=open"' in text
    assert 'href="/console/cases?overdue=true"' in text
    assert text.count('<svg class="chart"') == 2
    assert re.search(r'<rect class="reported"[^>]*><title>2026-05-10 · 3</title>', text)

    narrowed = await client.get("/console/", params={"area_id": ids[G1]})
    assert f'href="/console/cases?overdue=true&amp;area_id={ids[G1]}"' in narrowed.text

    bad = await client.get("/console/", params={"from": "2026-05-10", "to": "2026-05-01"})
    assert bad.status_code == 200
    assert 'class="flash error"' in bad.text and "开始日期晚于结束日期" in bad.text
    outside = await client.get("/console/", params={"area_id": ids[T2]})
    assert 'class="flash error"' in outside.text and "无权执行此操作" in outside.text
    assert figure(outside.text, "cases.open") == "3"  # the caller's own area instead


async def test_staff_without_dashboard_figures_get_a_plain_page(client):
    await make_tree()
    worker = await make_person(("grid_worker", G1))
    client.cookies.set("grid_access", worker.token)
    page = await client.get("/console/")
    assert page.status_code == 200
    assert "data-figure" not in page.text
    assert (await client.get("/console/")).status_code == 200
    other = await make_person(("dispatcher", T2))
    client.cookies.set("grid_access", other.token)
    assert 'data-figure="cases.open"' in (await client.get("/console/")).text
