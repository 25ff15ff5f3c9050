"""Finding people: staff of the caller's area by name or phone, residents only by full phone
and masked (DESIGN.md §9)."""

from __future__ import annotations

from factories import G1, G3, make_person, make_tree

T1 = "500103001"


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
