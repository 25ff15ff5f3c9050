"""Shelters (避险点/安置点): kept by the managers of the areas they serve, read by the staff
of those areas, hidden from other townships and refused to residents; every change audited."""

from __future__ import annotations

from factories import C1, C2, CITY, D1, G1, G2, T1

from grid_backend.core import geo
from grid_backend.core.tables import AuditEntry

SCRIPT = "<script>alert(1)</script>"


async def test_a_manager_creates_reads_changes_and_retires_a_shelter(world):
    made = await world.shelter(area_ids=[world.areas[G1], world.areas[G2]])
    assert made["kind"] == "school" and made["capacity"] == 300 and made["open"] is True
    assert [a["code"] for a in made["areas"]] == [G1, G2]
    assert made["owner_area"]["code"] == C1  # the nearest area above both grids
    assert made["manageable"] is True and made["retired"] is False
    assert made["created_by"] == world.dispatcher.id
    url = f"/api/v1/shelters/{made['id']}"
    r = await world.client.get(url, headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.json()["name"] == "较场口小学"

    r = await world.client.patch(
        url,
        json={"capacity": 450, "open": False, "kind": "community_centre"},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["capacity"], r.json()["open"], r.json()["kind"]) == (
        450,
        False,
        "community_centre",
    )
    # serving the whole township moves its owner up
    r = await world.client.patch(
        url, json={"area_ids": [world.areas[T1]]}, headers=world.supervisor.headers
    )
    assert r.json()["owner_area"]["code"] == T1
    assert r.json()["updated_by"] == world.supervisor.id

    r = await world.client.delete(url, headers=world.dispatcher.headers)
    assert r.status_code == 200
    assert r.json()["retired"] is True and r.json()["retired_at"] is not None
    assert r.json()["retired_by"] == world.dispatcher.id
    assert r.json()["open"] is False and r.json()["manageable"] is False
    retired_at = r.json()["retired_at"]
    r = await world.client.delete(url, headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.json()["retired_at"] == retired_at  # unchanged
    # a retired shelter is not listed unless asked for, and is not changed any more
    r = await world.client.get("/api/v1/shelters", headers=world.dispatcher.headers)
    assert r.json()["items"] == []
    r = await world.client.get(
        "/api/v1/shelters", params={"retired": "true"}, headers=world.dispatcher.headers
    )
    assert [s["id"] for s in r.json()["items"]] == [made["id"]]
    r = await world.client.patch(url, json={"capacity": 10}, headers=world.dispatcher.headers)
    assert r.status_code == 409 and r.json()["code"] == "shelter_retired"

    rows = (
        await AuditEntry.select(
            AuditEntry.action, AuditEntry.actor_id, AuditEntry.object_id, AuditEntry.area_path
        )
        .where(AuditEntry.object_type == "shelter")
        .order_by(AuditEntry.id)
    )
    assert [(a["action"], a["actor_id"]) for a in rows] == [
        ("shelter.create", world.dispatcher.id),
        ("shelter.update", world.dispatcher.id),
        ("shelter.update", world.supervisor.id),
        ("shelter.retire", world.dispatcher.id),
    ]
    assert {a["object_id"] for a in rows} == {str(made["id"])}
    assert rows[0]["area_path"].rstrip("/").endswith(C1)


async def test_grid_staff_read_other_townships_and_residents_do_not(world):
    made = await world.shelter()
    url = f"/api/v1/shelters/{made['id']}"
    # G1's grid worker reads it (their grid is inside the served community) but may not write
    r = await world.client.get(url, headers=world.worker.headers)
    assert r.status_code == 200 and r.json()["manageable"] is False
    r = await world.client.get("/api/v1/shelters", headers=world.worker.headers)
    assert [s["id"] for s in r.json()["items"]] == [made["id"]]
    r = await world.client.patch(url, json={"capacity": 1}, headers=world.worker.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await world.client.delete(url, headers=world.worker.headers)
    assert r.status_code == 403
    r = await world.client.post(
        "/api/v1/shelters",
        json=world.shelter_body(area_ids=[world.areas[G1]]),
        headers=world.worker.headers,
    )
    assert r.status_code == 403
    # the other township's dispatcher neither sees nor changes it, nor makes one here
    r = await world.client.get(url, headers=world.dispatcher2.headers)
    assert r.status_code == 404 and r.json()["code"] == "shelter_not_found"
    r = await world.client.patch(url, json={"capacity": 1}, headers=world.dispatcher2.headers)
    assert r.status_code == 404
    r = await world.client.delete(url, headers=world.dispatcher2.headers)
    assert r.status_code == 404
    r = await world.client.get("/api/v1/shelters", headers=world.dispatcher2.headers)
    assert r.json()["items"] == []
    r = await world.client.post(
        "/api/v1/shelters", json=world.shelter_body(), headers=world.dispatcher2.headers
    )
    assert r.status_code == 403
    # a shelter serving the district is read by the township, changed only by the district
    district = await world.shelter(world.supervisor, area_ids=[world.areas[D1]])
    r = await world.client.get(
        f"/api/v1/shelters/{district['id']}", headers=world.dispatcher.headers
    )
    assert r.status_code == 200 and r.json()["manageable"] is False
    r = await world.client.patch(
        f"/api/v1/shelters/{district['id']}",
        json={"name": "改名"},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 403
    # residents see no shelters through the staff API
    for r in (
        await world.client.get("/api/v1/shelters", headers=world.resident.headers),
        await world.client.get(url, headers=world.resident.headers),
        await world.client.post(
            "/api/v1/shelters", json=world.shelter_body(), headers=world.resident.headers
        ),
    ):
        assert r.status_code in (403, 404), r.text
    r = await world.client.get("/api/v1/shelters", headers=world.resident.headers)
    assert r.status_code == 403
    assert (await world.client.get("/api/v1/shelters")).status_code == 401


async def test_positions_go_in_and_out_in_any_datum(world):
    lng, lat = geo.convert(106.52, 29.52, "wgs84", "gcj02")
    made = await world.shelter(location={"lat": lat, "lng": lng, "datum": "gcj02"})
    assert abs(made["lat"] - 29.52) < 1e-6 and abs(made["lng"] - 106.52) < 1e-6
    assert made["datum"] == "wgs84"
    url = f"/api/v1/shelters/{made['id']}"
    r = await world.client.get(url, params={"datum": "gcj02"}, headers=world.dispatcher.headers)
    assert abs(r.json()["lat"] - lat) < 1e-6 and abs(r.json()["lng"] - lng) < 1e-6
    assert r.json()["datum"] == "gcj02"
    blng, blat = geo.convert(106.53, 29.53, "wgs84", "bd09")
    r = await world.client.patch(
        url,
        json={"location": {"lat": blat, "lng": blng, "datum": "bd09"}},
        headers=world.dispatcher.headers,
    )
    assert abs(r.json()["lat"] - 29.53) < 1e-6 and abs(r.json()["lng"] - 106.53) < 1e-6
    r = await world.client.get(
        "/api/v1/shelters", params={"datum": "bd09"}, headers=world.dispatcher.headers
    )
    item = r.json()["items"][0]
    assert abs(item["lat"] - blat) < 1e-6 and abs(item["lng"] - blng) < 1e-6


async def test_bad_input_names_the_field_and_text_stays_data(world):
    post = world.client.post
    h = world.dispatcher.headers
    for capacity in (0, -5):
        r = await post("/api/v1/shelters", json=world.shelter_body(capacity=capacity), headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "validation_failed"
        assert r.json()["errors"][0]["field"] == "capacity"
    r = await post("/api/v1/shelters", json=world.shelter_body(area_ids=[999_999]), headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "area_not_found"
    assert r.json()["errors"][0]["field"] == "area_ids"
    r = await post(
        "/api/v1/shelters",
        json=world.shelter_body(area_ids=[999_999]),
        headers={**h, "Accept-Language": "zh-CN"},
    )
    assert r.json()["title"] == "区域不存在"
    r = await post("/api/v1/shelters", json=world.shelter_body(kind="castle"), headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    r = await post("/api/v1/shelters", json=world.shelter_body(area_ids=[]), headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "area_ids"
    made = await world.shelter()
    r = await world.client.patch(f"/api/v1/shelters/{made['id']}", json={"capacity": 0}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "capacity"
    r = await world.client.get("/api/v1/shelters/999999", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "shelter_not_found"
    r = await world.client.get("/api/v1/shelters/999999", headers={**h, "Accept-Language": "zh-CN"})
    assert r.json()["title"] == "避险点不存在"
    # a script in the name and contact is kept and answered as JSON data, unchanged
    made = await world.shelter(name=SCRIPT, contact_name=SCRIPT)
    r = await world.client.get(f"/api/v1/shelters/{made['id']}", headers=h)
    assert r.headers["content-type"].startswith("application/json")
    assert (r.json()["name"], r.json()["contact_name"]) == (SCRIPT, SCRIPT)


async def test_the_list_pages_and_filters(world):
    c1, c2 = world.areas[C1], world.areas[C2]
    school = await world.shelter(area_ids=[c1])
    ground = await world.shelter(kind="open_ground", name="广场", area_ids=[world.areas[G2]])
    closed = await world.shelter(kind="other", name="仓库", open=False, area_ids=[c1])
    east = await world.shelter(world.supervisor, name="朝东学校", area_ids=[c2])
    h = world.supervisor.headers

    async def ids(**params) -> list[int]:
        r = await world.client.get("/api/v1/shelters", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [s["id"] for s in r.json()["items"]]

    assert await ids() == [school["id"], ground["id"], closed["id"], east["id"]]
    assert await ids(kind="open_ground") == [ground["id"]]
    assert await ids(open="false") == [closed["id"]]
    assert await ids(open="true", area_id=c1) == [school["id"], ground["id"]]
    assert await ids(area_id=world.areas[G1]) == [school["id"], closed["id"]]
    assert await ids(area_id=c2) == [east["id"]]
    # blank query values are no filter
    assert len(await ids(kind="", open="", area_id="")) == 4
    # pages of two, by id
    r = await world.client.get("/api/v1/shelters", params={"limit": 2}, headers=h)
    first = r.json()
    assert [s["id"] for s in first["items"]] == [school["id"], ground["id"]]
    r = await world.client.get(
        "/api/v1/shelters", params={"limit": 2, "cursor": first["next_cursor"]}, headers=h
    )
    assert [s["id"] for s in r.json()["items"]] == [closed["id"], east["id"]]
    assert r.json()["next_cursor"] is None
    # an area outside one's own is refused; unknown filters are refused with their field
    r = await world.client.get(
        "/api/v1/shelters", params={"area_id": c2}, headers=world.dispatcher.headers
    )
    assert r.status_code == 403
    r = await world.client.get("/api/v1/shelters", params={"kind": "castle"}, headers=h)
    assert r.status_code == 422


async def test_numbers_beyond_range_are_422_not_500(world):
    h = world.dispatcher.headers
    for value in (2**31, 10**30):
        r = await world.client.get(f"/api/v1/shelters/{value}", headers=h)
        assert r.status_code == 422, r.text
        r = await world.client.post(
            "/api/v1/shelters", json=world.shelter_body(capacity=value), headers=h
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "capacity"
        r = await world.client.get("/api/v1/shelters", params={"area_id": value}, headers=h)
        assert r.status_code == 422


async def test_an_area_above_the_callers_own_does_not_widen_the_list(world):
    """`area_id` narrows: naming the district (or the city) above a grid worker's grid shows
    them no shelter of another township, which they could not open (404)."""
    ours = await world.shelter()
    theirs = await world.shelter(world.dispatcher2, name="朝东广场", area_ids=[world.areas[C2]])
    r = await world.client.get(f"/api/v1/shelters/{theirs['id']}", headers=world.worker.headers)
    assert r.status_code == 404
    for code in (D1, CITY):
        for url in ("/api/v1/shelters", "/api/v1/shelters/export.geojson"):
            r = await world.client.get(
                url, params={"area_id": world.areas[code]}, headers=world.worker.headers
            )
            assert r.status_code == 200, r.text
            body = r.json()
            found = (
                [s["id"] for s in body["items"]]
                if "items" in body
                else [f["properties"]["id"] for f in body["features"]]
            )
            assert found == [ours["id"]], (code, url, found)
    # the other township's dispatcher naming the district sees their own only
    r = await world.client.get(
        "/api/v1/shelters", params={"area_id": world.areas[D1]}, headers=world.dispatcher2.headers
    )
    assert [s["id"] for s in r.json()["items"]] == [theirs["id"]]
