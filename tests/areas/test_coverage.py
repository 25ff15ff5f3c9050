"""Duty coverage: grids below an area that lack a leader, a worker or an emergency officer today."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import D1, G1, G2, G3, G4, T1, T2, make_person, make_tree
from shapely.geometry import box

from grid_backend.areas import services
from grid_backend.areas.services import AreaInput, apply_areas
from grid_backend.core import clock
from grid_backend.people.duty import grants_of


async def coverage(client, headers, area_id, **params):
    return await client.get(f"/api/v1/areas/{area_id}/coverage", params=params, headers=headers)


async def staff_the_tree() -> None:
    """G1 fully covered; G2 only a leader (its worker left yesterday); G3 nobody today; G4 full."""
    today = clock.today()
    await make_person(("grid_leader", G1), ("grid_worker", G1), ("emergency_officer", G1))
    await make_person(("grid_leader", G2), ("grid_instructor", G2), ("responder", G2))
    await make_person(
        ("grid_worker", G2),
        valid_from=today - timedelta(days=30),
        valid_to=today - timedelta(days=1),
    )
    await make_person(("emergency_officer", G3), valid_from=today + timedelta(days=1))
    await make_person(("dispatcher", T2))  # township duties cover no grid
    await make_person(("grid_leader", G4), ("grid_worker", G4), ("emergency_officer", G4))


async def test_coverage_counts_and_lists_the_grids_lacking_duties_today(client):
    ids = await make_tree()
    await staff_the_tree()
    supervisor = await make_person(("supervisor", D1))
    r = await coverage(client, supervisor.headers, ids[D1])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["area"]["code"] == D1
    assert body["date"] == clock.today().isoformat()
    assert body["grids"] == 3  # G4 is in the other district
    assert (
        body["lacking_grid_leader"],
        body["lacking_grid_worker"],
        body["lacking_emergency_officer"],
    ) == (1, 2, 2)
    assert body["fully_covered"] == 1
    assert [(g["code"], g["missing"]) for g in body["items"]] == [
        (G2, ["grid_worker", "emergency_officer"]),
        (G3, ["grid_leader", "grid_worker", "emergency_officer"]),
    ]
    assert body["items"][0]["id"] == ids[G2]
    assert body["next_cursor"] is None


async def test_a_duty_ending_today_still_covers_and_one_starting_today_too(client):
    ids = await make_tree()
    today = clock.today()
    await make_person(("grid_leader", G3), valid_from=today - timedelta(days=9), valid_to=today)
    await make_person(("grid_worker", G3), valid_from=today)
    await make_person(("emergency_officer", G3))
    dispatcher = await make_person(("dispatcher", T2))
    body = (await coverage(client, dispatcher.headers, ids[T2])).json()
    assert (body["grids"], body["fully_covered"], body["items"]) == (1, 1, [])

    # tomorrow the leader is gone (through the service: a token issued under a moved clock
    # is refused by PyJWT's own iat check)
    tomorrow = clock.now() + timedelta(days=1)
    clock.set_clock(lambda: tomorrow)
    grants = await grants_of(dispatcher.id)
    result = await services.coverage(area_id=ids[T2], grants=grants, limit=50, cursor=None)
    assert result.date == (today + timedelta(days=1)).isoformat()
    assert [(g.code, g.missing) for g in result.items] == [(G3, ["grid_leader"])]


async def test_a_micro_grid_duty_does_not_cover_its_grid(client):
    ids = await make_tree()
    micro = G3 + "01"
    await apply_areas(
        [AreaInput(micro, "微网格", "micro_grid", G3, box(106.55, 29.50, 106.56, 29.51))],
        source_datum="wgs84",
        actor_id=None,
    )
    await make_person(("grid_leader", micro), ("grid_worker", micro), ("emergency_officer", micro))
    dispatcher = await make_person(("dispatcher", T2))
    body = (await coverage(client, dispatcher.headers, ids[T2])).json()
    assert body["grids"] == 1
    assert [(g["code"], g["missing"]) for g in body["items"]] == [
        (G3, ["grid_leader", "grid_worker", "emergency_officer"]),
    ]


async def test_coverage_is_paginated(client):
    ids = await make_tree()  # nobody on duty anywhere: all four grids lack all three
    admin = await make_person(("admin", "500000"))
    seen, pages, cursor = [], 0, None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        body = (await coverage(client, admin.headers, ids["500000"], **params)).json()
        assert (body["grids"], body["lacking_grid_leader"], body["fully_covered"]) == (4, 4, 0)
        seen += [g["code"] for g in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [G1, G2, G3, G4]
    assert pages == 4
    body = (await coverage(client, admin.headers, ids["500000"], limit=3)).json()
    assert len(body["items"]) == 3
    rest = (
        await coverage(client, admin.headers, ids["500000"], limit=3, cursor=body["next_cursor"])
    ).json()
    assert [g["code"] for g in rest["items"]] == [G4]
    assert rest["next_cursor"] is None


async def test_coverage_of_a_grid_itself(client):
    ids = await make_tree()
    leader = await make_person(("grid_leader", G1))
    body = (await coverage(client, leader.headers, ids[G1])).json()
    assert body["grids"] == 1
    assert [(g["code"], g["missing"]) for g in body["items"]] == [
        (G1, ["grid_worker", "emergency_officer"])
    ]


@pytest.mark.parametrize(
    ("duties", "area", "status"),
    [
        ((), D1, 403),  # a resident
        ((("grid_worker", G1),), G1, 403),  # a worker does not manage the roster
        ((("dispatcher", T2),), D1, 403),  # a township cannot see its district
        ((("dispatcher", T2),), T1, 403),  # nor its neighbour
        ((("dispatcher", T1),), T1, 200),
        ((("grid_instructor", G1),), G1, 200),
        ((("supervisor", D1),), "500104", 403),
    ],
)
async def test_coverage_is_for_those_who_manage_the_area(client, duties, area, status):
    ids = await make_tree()
    person = await make_person(*duties)
    r = await coverage(client, person.headers, ids[area])
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["code"] == "forbidden"


async def test_coverage_of_an_unknown_area_or_with_bad_parameters(client):
    ids = await make_tree()
    admin = await make_person(("admin", "500000"))
    r = await coverage(client, admin.headers, 999999)
    assert r.status_code == 404
    assert r.json()["code"] == "area_not_found"
    r = await coverage(client, admin.headers, ids[D1], cursor="xyz")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["cursor"]
    r = await coverage(client, admin.headers, ids[D1], limit=0)
    assert [e["field"] for e in r.json()["errors"]] == ["limit"]
    assert (await client.get(f"/api/v1/areas/{ids[D1]}/coverage")).status_code == 401
