"""The console's evacuations pages: the list in its three parts with what each proposal
covers, the start form only for those who may start, the board's page, and another
township's evacuation as a 404 page; text as text."""

from __future__ import annotations

import pytest
from evacuation_runs import C1, G1, G2, SCRIPT, make_run_world

from grid_backend.evacuation.tables import Evacuation
from grid_backend.web.console import evacuations as evacuations_page


@pytest.fixture
async def world(client):
    return await make_run_world(client)


def _as(world, person) -> None:
    world.client.cookies.set("grid_access", person.token)


async def test_the_list_shows_proposals_first_then_under_way_then_ended(world):
    await world.household(G1, people=4, address=SCRIPT)
    await world.household(G2, people=2)
    active = (await world.start(area_ids=[world.areas[G1]], note=SCRIPT))["id"]
    ended = (await world.start(area_ids=[world.areas[G2]]))["id"]
    r = await world.client.post(
        f"/api/v1/evacuations/{ended}/end", json={}, headers=world.dispatcher.headers
    )
    assert r.status_code == 200, r.text
    proposal = (await world.start(area_ids=[world.areas[C1]]))["id"]
    # as the warnings job leaves it: proposed, its counts made only when it starts
    await Evacuation.update(
        {Evacuation.status: "proposed", Evacuation.households: 0, Evacuation.people: 0}
    ).where(Evacuation.id == proposal)
    _as(world, world.dispatcher)
    page = await world.client.get("/console/evacuations")
    assert page.status_code == 200, page.text
    text = page.text
    assert text.index(f'data-evacuation="{proposal}"') < text.index(f'data-evacuation="{active}"')
    assert text.index(f'data-evacuation="{active}"') < text.index(f'data-evacuation="{ended}"')
    assert "涉及 2 户、6 人。" in text  # what confirming would move now
    assert f'data-confirm="{proposal}"' in text
    assert 'id="start-form"' in text and "<script>alert" not in text
    assert 'href="/console/evacuations"' in text  # the navigation link
    assert "手动结束" in text and "0分钟" in text


async def test_the_board_page_and_who_sees_what(world):
    await world.household(G1, people=3)
    run = await world.start(area_ids=[world.areas[C1]], note=SCRIPT)
    _as(world, world.dispatcher)
    board = await world.client.get(f"/console/evacuations/{run['id']}?lang=en")
    assert board.status_code == 200, board.text
    assert "Under way" in board.text and 'id="end-button"' in board.text
    assert f"/api/v1/evacuations/{run['id']}/export.xlsx?lang=en" in board.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in board.text  # the note, as text
    # G1's grid worker: sees it, may check in, may not end it nor start one
    _as(world, world.worker)
    mine = await world.client.get(f"/console/evacuations/{run['id']}")
    assert mine.status_code == 200 and 'id="end-button"' not in mine.text
    listed = await world.client.get("/console/evacuations")
    assert 'id="start-form"' not in listed.text
    # another township's dispatcher: a 404 page, not the evacuation
    _as(world, world.dispatcher2)
    other = await world.client.get(f"/console/evacuations/{run['id']}")
    assert other.status_code == 404
    assert 'data-refused="evacuation_not_found"' in other.text and SCRIPT not in other.text
    assert (
        f'data-evacuation="{run["id"]}"'
        not in (await world.client.get("/console/evacuations")).text
    )


async def test_a_district_too_big_to_list_offers_townships_and_communities(world, monkeypatch):
    _as(world, world.supervisor)
    page = await world.client.get("/console/evacuations")
    assert f'<option value="{world.areas[G1]}">' in page.text  # a small district: every grid
    assert "data-grids-hidden" not in page.text
    monkeypatch.setattr(evacuations_page, "MAX_ROWS", 5)  # as if it had 3,846 grids
    page = await world.client.get("/console/evacuations")
    assert "data-grids-hidden" in page.text and "辖区网格过多" in page.text
    assert f'<option value="{world.areas[G1]}">' not in page.text
    assert f'<option value="{world.areas[C1]}">' in page.text
