"""The console's warnings page: issuing is for the command centre, the warnings of the area
are listed, and the acknowledgement board of the latest active callout is chosen."""

from __future__ import annotations

from datetime import timedelta

from factories import G1, G3, T1, make_person, make_tree

from grid_backend.core import clock


async def issue(client, person, area_id, **extra):
    body = {
        "level": "orange",
        "type": "heavy_rain",
        "area_ids": [area_id],
        "expires_at": (clock.now() + timedelta(hours=12)).isoformat(),
        "message": "今夜有暴雨，请各网格做好防范",
        "callout": True,
        **extra,
    }
    r = await client.post("/api/v1/warnings", json=body, headers=person.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_dispatcher_sees_the_warning_and_the_board_of_its_callout(client):
    ids = await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    await make_person(("responder", G1), name="孙群防")
    warning = await issue(client, dispatcher, ids[T1])
    [callout_id] = warning["callout_ids"]
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/warnings")
    assert page.status_code == 200, page.text
    assert 'id="warning-form"' in page.text
    listed = page.text[page.text.index('data-testid="warnings"') :]
    assert "今夜有暴雨" in listed and "橙色" in listed
    assert f'data-callout="{callout_id}"' in page.text
    assert '"callout_id": ' + str(callout_id) in page.text


async def test_grid_staff_read_warnings_but_do_not_issue_them(client):
    ids = await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    await make_person(("responder", G1))
    await issue(client, dispatcher, ids[G1])
    worker = await make_person(("grid_worker", G1))
    client.cookies.set("grid_access", worker.token)
    page = await client.get("/console/warnings")
    assert page.status_code == 200
    assert 'id="warning-form"' not in page.text
    assert "今夜有暴雨" in page.text
    other = await make_person(("grid_worker", G3))
    client.cookies.set("grid_access", other.token)
    page = await client.get("/console/warnings")
    assert "今夜有暴雨" not in page.text
