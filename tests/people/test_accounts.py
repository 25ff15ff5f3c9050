"""Finding people: staff of the caller's area by name or phone, residents only by full phone
and masked (DESIGN.md §9)."""

from __future__ import annotations

from factories import G1, G2, G3, T1, file_report, make_person, make_tree


async def find(client, person, **params):
    r = await client.get("/api/v1/accounts", params=params, headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_staff_of_the_area_are_found_with_their_duties_and_numbers(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    worker = await make_person(("grid_worker", G1), name="周网格员")
    await make_person(("grid_worker", G3), name="别处网格员")  # another township
    items = await find(client, dispatcher)
    assert [i["name"] for i in items] == ["李值班", "周网格员"]
    found = items[1]
    assert found["phone"] == worker.phone and found["phone_masked"] is False
    assert [d["duty"] for d in found["duties"]] == ["grid_worker"]
    assert [i["name"] for i in await find(client, dispatcher, q="周")] == ["周网格员"]
    assert [i["id"] for i in await find(client, dispatcher, q=worker.phone[-4:])] == [worker.id]


async def test_a_resident_is_found_only_by_full_phone_and_masked(client):
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    resident = await make_person(name="居民小杨")
    await file_report(client, resident)  # in G1, inside the dispatcher's township
    assert await find(client, dispatcher, q=resident.phone[-4:]) == []
    [item] = await find(client, dispatcher, q=resident.phone)
    assert item["id"] == resident.id and item["duties"] == []
    assert item["phone"] == resident.phone[:3] + "****" + resident.phone[-4:]
    assert item["phone_masked"] is True


async def test_workers_and_residents_may_not_search_people(client):
    await make_tree()
    worker = await make_person(("grid_worker", G1))
    r = await client.get("/api/v1/accounts", headers=worker.headers)
    assert r.status_code == 403


async def test_a_full_phone_from_outside_the_callers_area_finds_nothing(client):
    await make_tree()
    leader = await make_person(("grid_leader", G1), name="网格长")
    reported_here = await make_person(name="本网格居民")
    await file_report(client, reported_here)  # G1
    reported_elsewhere = await make_person(name="别处居民")
    await file_report(client, reported_elsewhere, grid=G3)
    never_reported = await make_person(name="未上报居民")
    neighbour_grid = await make_person(("grid_worker", G2), name="隔壁网格员")
    other_township = await make_person(("grid_worker", G3), name="别处网格员")
    for outsider in (reported_elsewhere, neighbour_grid, other_township):
        # an empty list, as for a number nobody has: the lookup reveals nothing
        assert await find(client, leader, q=outsider.phone) == []
        assert await find(client, leader, q=outsider.phone[:3] + " " + outsider.phone[3:]) == []
    assert await find(client, leader, q="13500000000") == []
    [item] = await find(client, leader, q=reported_here.phone)
    assert (item["name"], item["phone_masked"], item["name_masked"]) == ("本网格居民", True, False)
    assert item["phone"] == reported_here.phone[:3] + "****" + reported_here.phone[-4:]
    # a resident of no area yet (to be appointed): found, with the name masked too
    [item] = await find(client, leader, q=never_reported.phone)
    assert (item["id"], item["name"], item["name_masked"]) == (never_reported.id, "未****", True)
    assert item["phone_masked"] is True

    # the township's dispatcher covers both grids of T1 (not T2); the city's admin everything
    dispatcher = await make_person(("dispatcher", T1))
    [item] = await find(client, dispatcher, q=neighbour_grid.phone)
    assert (item["id"], item["phone_masked"]) == (neighbour_grid.id, False)  # staff there
    assert await find(client, dispatcher, q=reported_elsewhere.phone) == []
    assert await find(client, dispatcher, q=other_township.phone) == []
    admin = await make_person(("admin", "500000"))
    [item] = await find(client, admin, q=reported_elsewhere.phone)
    assert (item["name"], item["phone_masked"], item["name_masked"]) == ("别处居民", True, False)
