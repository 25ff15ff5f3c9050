"""Reward points review: entries for cases in the caller's area, by person and period, with the
case link; managers only."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from factories import G1, G3, T1, T2, file_report, make_person, make_tree

from grid_backend.core import clock

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)


async def register(client, dispatcher, case_id: int) -> None:
    r = await client.post(
        f"/api/v1/reports/{case_id}/actions",
        json={"action": "register"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text


async def test_managers_review_the_points_of_their_area(client):
    clock.set_clock(lambda: NOW)
    await make_tree()
    alice = await make_person(name="居民甲")
    bob = await make_person(name="居民乙")
    dispatcher = await make_person(("dispatcher", T1))
    other = await make_person(("dispatcher", T2))
    a1 = (await file_report(client, alice))["id"]
    a2 = (await file_report(client, alice))["id"]
    b1 = (await file_report(client, bob))["id"]
    far = (await file_report(client, bob, grid=G3))["id"]
    for case in (a1, a2, b1):
        await register(client, dispatcher, case)
    await register(client, other, far)

    r = await client.get(
        "/api/v1/stats/points", params={"from": "2026-05-10"}, headers=dispatcher.headers
    )
    assert r.status_code == 200, r.text
    review = r.json()
    assert (review["total_awarded"], review["total_deducted"], review["people"]) == (3, 0, 2)
    assert [e["report_id"] for e in review["entries"]] == [b1, a2, a1]
    assert review["entries"][0]["account_phone"].count("*") == 4

    r = await client.get(
        "/api/v1/stats/points", params={"account_id": alice.id}, headers=dispatcher.headers
    )
    assert [e["report_id"] for e in r.json()["entries"]] == [a2, a1]
    r = await client.get(
        "/api/v1/stats/points",
        params={"from": "2026-05-11", "to": "2026-05-12"},
        headers=dispatcher.headers,
    )
    assert r.json()["entries"] == []

    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/rewards", params={"account_id": bob.id})
    assert page.status_code == 200
    assert re.findall(r'href="/console/cases/(\d+)"', page.text) == [str(b1)]
    assert "居民乙" in page.text and "居民甲" not in page.text

    client.cookies.set("grid_access", other.token)
    page = await client.get("/console/rewards")
    assert re.findall(r'href="/console/cases/(\d+)"', page.text) == [str(far)]


async def test_grid_staff_do_not_review_points(client):
    await make_tree()
    leader = await make_person(("grid_leader", G1))
    r = await client.get("/api/v1/stats/points", headers=leader.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    client.cookies.set("grid_access", leader.token)
    page = await client.get("/console/rewards")
    assert page.status_code == 200
    assert 'data-testid="points-table"' not in page.text
