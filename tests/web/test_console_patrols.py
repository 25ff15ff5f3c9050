"""The console's patrol page: the day's board, plans and roster inside the caller's area, and
excusing a miss from the page's script (cookie session + CSRF header)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from factories import G1, G3, T1, T2, make_person, make_tree

from grid_backend.core import clock
from grid_backend.core.security import issue_access_token
from grid_backend.patrols import jobs

NOW = datetime(2026, 3, 30, 16, 30, tzinfo=UTC)  # 00:30 in Shanghai on 31 March


def column(page: str, status: str) -> str:
    found = re.search(
        rf'data-status="{status}">(.*?)</div>\s*(?:<div class="column"|</div>)', page, re.S
    )
    assert found, status
    return found.group(1)


async def setup(client):
    clock.set_clock(lambda: NOW)
    ids = await make_tree()
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    await make_person(("grid_worker", G1), name="周网格员", employment="full_time")
    await make_person(("grid_leader", G1), name="张网格长")
    r = await client.post(
        "/api/v1/patrol-plans",
        json={
            "name": "第一网格日常巡查",
            "grid_id": ids[G1],
            "duty": "grid_worker",
            "employment": "full_time",
            "recurrence": {"kind": "daily", "time": "09:00"},
            "window_minutes": 120,
            "checkpoints": [{"lat": 29.52, "lng": 106.52, "name": "滑坡点"}],
        },
        headers=dispatcher.headers,
    )
    assert r.status_code == 201, r.text
    return ids, dispatcher


async def test_the_board_shows_todays_tasks_by_state_and_the_roster(client):
    _, dispatcher = await setup(client)
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/patrols")
    assert page.status_code == 200, page.text
    assert "第一网格日常巡查" in column(page.text, "scheduled")
    assert "周网格员" in column(page.text, "scheduled")
    assert "第一网格日常巡查" not in column(page.text, "missed")
    assert 'data-testid="plans"' in page.text and "每天" in page.text
    roster = page.text[page.text.index('data-testid="roster"') :]
    assert "张网格长" in roster and "周网格员" in roster
    assert 'class="gap"' in roster  # G2 has nobody on duty
    # after the window the task is missed
    later = NOW + timedelta(hours=12)
    clock.set_clock(lambda: later)
    await jobs.mark_missed(later)
    client.cookies.set("grid_access", issue_access_token(dispatcher.id)[0])
    page = await client.get("/console/patrols")
    assert "第一网格日常巡查" in column(page.text, "missed")


async def test_a_miss_is_excused_through_the_api_with_the_cookie_and_csrf_header(client):
    _, dispatcher = await setup(client)
    later = NOW + timedelta(hours=12)
    clock.set_clock(lambda: later)
    await jobs.mark_missed(later)
    token = issue_access_token(dispatcher.id, session=dispatcher.session)[0]
    tasks = await client.get(
        "/api/v1/tasks", params={"status": "missed"}, headers={"Authorization": f"Bearer {token}"}
    )
    [task] = tasks.json()["items"]
    client.cookies.set("grid_access", token)
    refused = await client.post(f"/api/v1/tasks/{task['id']}/excuse", json={"reason": "暴雨"})
    assert refused.status_code == 403
    answer = await client.post(
        f"/api/v1/tasks/{task['id']}/excuse",
        json={"reason": "暴雨封路"},
        headers={"X-CSRF-Token": dispatcher.csrf},
    )
    assert answer.status_code == 200, answer.text
    page = await client.get("/console/patrols")
    assert "已免责" in column(page.text, "missed")


async def test_other_townships_and_grid_workers_see_nothing_of_it(client):
    await setup(client)
    other = await make_person(("dispatcher", T2))
    client.cookies.set("grid_access", other.token)
    page = await client.get("/console/patrols")
    assert page.status_code == 200
    assert "第一网格日常巡查" not in page.text and "周网格员" not in page.text
    assert page.text.count('class="task-card') == 0
    worker = await make_person(("grid_worker", G3))
    client.cookies.set("grid_access", worker.token)
    page = await client.get("/console/patrols")
    assert page.status_code == 200
    assert 'data-testid="task-board"' not in page.text
