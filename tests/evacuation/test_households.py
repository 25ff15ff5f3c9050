"""Threatened households (受威胁户): kept by the managers of their grid and its leader, read in
full by the staff covering the grid, masked for a micro-grid's staff, hidden from other grids
and refused to residents; every change and every read of the list audited."""

from __future__ import annotations

from factories import C1, C2, D1, G1, G2, G3, T1

from grid_backend.core import geo
from grid_backend.core.tables import AuditEntry
from grid_backend.evacuation.tables import Household

SCRIPT = "<script>alert(1)</script>"
MICRO = G1 + "001"  # the micro-grid inside G1 (conftest)


async def _audit(object_type: str = "household") -> list[dict]:
    return (
        await AuditEntry.select(
            AuditEntry.action,
            AuditEntry.actor_id,
            AuditEntry.object_id,
            AuditEntry.area_path,
            AuditEntry.detail,
        )
        .where(AuditEntry.object_type == object_type)
        .order_by(AuditEntry.id)
        .output(load_json=True)
    )


async def test_a_manager_registers_reads_changes_and_retires_a_household(hw):
    lng, lat = geo.convert(106.521, 29.521, "wgs84", "gcj02")
    made = await hw.household(location={"lat": lat, "lng": lng, "datum": "gcj02"})
    assert made["grid"]["code"] == G1 and made["grid"]["name"] == "第一网格"
    assert made["grid"]["path"] == "渝中区/解放碑街道/较场口社区/第一网格"
    assert (made["people"], made["elderly_alone"], made["children"]) == (4, 1, 2)
    assert made["vulnerable"] == 3
    assert made["vulnerable_flags"] == ["elderly_alone", "children"]
    assert made["helper"] == {"id": hw.worker.id, "name": "周网格员"}
    assert made["shelter"] == {"id": hw.shelter["id"], "name": "较场口小学"}
    assert made["head_phone"] == "13812345678" and made["masked"] is False
    assert made["manageable"] is True and made["retired"] is False
    position = made["position"]  # stored in WGS-84, whatever came in
    assert position["source"] == "household" and position["datum"] == "wgs84"
    assert abs(position["lat"] - 29.521) < 1e-6 and abs(position["lng"] - 106.521) < 1e-6
    url = f"/api/v1/households/{made['id']}"
    r = await hw.client.get(url, params={"datum": "gcj02"}, headers=hw.dispatcher.headers)
    assert r.status_code == 200, r.text
    assert abs(r.json()["position"]["lat"] - lat) < 1e-6
    assert abs(r.json()["position"]["lng"] - lng) < 1e-6

    # the grid leader changes it: fewer people, a landline, no own position, a risk point's
    r = await hw.client.post(
        "/api/v1/risk-points",
        json={
            "name": "滑坡点",
            "type": "landslide",
            "risk_level": "high",
            "lat": 29.52,
            "lng": 106.52,
        },
        headers=hw.dispatcher.headers,
    )
    point = r.json()
    r = await hw.client.patch(
        url,
        json={
            "people": 2,
            "children": 0,
            "pregnant": 1,
            "head_phone": "(023) 6386 1234",
            "location": None,
            "risk_point_id": point["id"],
            "helper_id": hw.leader.id,
        },
        headers=hw.leader.headers,
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["head_phone"] == "023-63861234"
    assert (changed["vulnerable"], changed["vulnerable_flags"]) == (
        2,
        ["elderly_alone", "pregnant"],
    )
    assert changed["risk_point"] == {"id": point["id"], "name": "滑坡点"}
    assert changed["position"] == {
        "lat": 29.52,
        "lng": 106.52,
        "datum": "wgs84",
        "source": "risk_point",
    }
    assert changed["helper"]["id"] == hw.leader.id and changed["updated_by"] == hw.leader.id
    # no position of its own nor a risk point: none
    r = await hw.client.patch(url, json={"risk_point_id": None}, headers=hw.leader.headers)
    assert r.json()["position"] is None and r.json()["risk_point"] is None

    r = await hw.client.delete(url, headers=hw.dispatcher.headers)
    assert r.status_code == 200
    assert r.json()["retired"] is True and r.json()["manageable"] is False
    retired_at = r.json()["retired_at"]
    r = await hw.client.delete(url, headers=hw.dispatcher.headers)
    assert r.status_code == 200 and r.json()["retired_at"] == retired_at  # unchanged
    assert await hw.ids(hw.dispatcher) == []
    assert await hw.ids(hw.dispatcher, retired="true") == [made["id"]]
    r = await hw.client.patch(url, json={"people": 3}, headers=hw.dispatcher.headers)
    assert r.status_code == 409 and r.json()["code"] == "household_retired"

    changes = [
        (a["action"], a["actor_id"], a["object_id"])
        for a in await _audit()
        if a["action"] in ("household.create", "household.update", "household.retire")
    ]
    hid = str(made["id"])
    assert changes == [
        ("household.create", hw.dispatcher.id, hid),
        ("household.update", hw.leader.id, hid),
        ("household.update", hw.leader.id, hid),
        ("household.retire", hw.dispatcher.id, hid),
    ]


async def test_staff_see_the_households_of_the_grids_they_cover_and_no_others(hw):
    g1 = await hw.household()
    g2 = await hw.household(
        grid_id=hw.areas[G2], address="二组5号", helper_id=hw.worker2.id, head_phone="13912345678"
    )
    # the township's dispatcher and the district's supervisor see both grids
    assert await hw.ids(hw.dispatcher) == [g1["id"], g2["id"]]
    assert await hw.ids(hw.supervisor) == [g1["id"], g2["id"]]
    # each grid's worker their own grid's only, in full
    assert await hw.ids(hw.worker) == [g1["id"]]
    assert await hw.ids(hw.worker2) == [g2["id"]]
    r = await hw.client.get(f"/api/v1/households/{g1['id']}", headers=hw.worker2.headers)
    assert r.status_code == 404 and r.json()["code"] == "household_not_found"
    r = await hw.client.get(f"/api/v1/households/{g1['id']}", headers=hw.worker.headers)
    assert r.status_code == 200 and r.json()["head_phone"] == "13812345678"
    assert r.json()["manageable"] is False  # a grid worker reads, does not keep them
    # the other township sees nothing, and gets 404 on ours
    assert await hw.ids(hw.dispatcher2) == []
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"people": 1}} if method == "patch" else {}
        r = await getattr(hw.client, method)(
            f"/api/v1/households/{g1['id']}", headers=hw.dispatcher2.headers, **kwargs
        )
        assert r.status_code == 404, (method, r.text)
    r = await hw.client.get(
        "/api/v1/households", params={"area_id": hw.areas[C1]}, headers=hw.dispatcher2.headers
    )
    assert r.status_code == 403
    # residents: 403 on the list, 404 on one, 403 on creating; no token: 401
    r = await hw.client.get("/api/v1/households", headers=hw.resident.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await hw.client.get(f"/api/v1/households/{g1['id']}", headers=hw.resident.headers)
    assert r.status_code == 404
    r = await hw.client.post("/api/v1/households", json=hw.body(), headers=hw.resident.headers)
    assert r.status_code == 403
    assert (await hw.client.get("/api/v1/households")).status_code == 401
    # who may keep them: the grid's leader in their grid only, not its workers
    await hw.household(hw.leader, address="一组1号")
    r = await hw.client.post(
        "/api/v1/households",
        json=hw.body(grid_id=hw.areas[G2], helper_id=hw.worker2.id),
        headers=hw.leader.headers,
    )
    assert r.status_code == 403
    r = await hw.client.post("/api/v1/households", json=hw.body(), headers=hw.worker.headers)
    assert r.status_code == 403
    r = await hw.client.patch(
        f"/api/v1/households/{g2['id']}", json={"people": 1}, headers=hw.worker2.headers
    )
    assert r.status_code == 403
    # moving a household to another township's grid needs a manager of both
    r = await hw.client.patch(
        f"/api/v1/households/{g1['id']}",
        json={"grid_id": hw.areas[G3], "helper_id": hw.dispatcher2.id, "shelter_id": None},
        headers=hw.dispatcher.headers,
    )
    assert r.status_code == 403
    r = await hw.client.patch(
        f"/api/v1/households/{g1['id']}",
        json={"grid_id": hw.areas[G3], "helper_id": hw.dispatcher2.id, "shelter_id": None},
        headers=hw.supervisor.headers,
    )
    assert r.status_code == 200 and r.json()["grid"]["code"] == G3
    assert await hw.ids(hw.dispatcher2) == [g1["id"]]


async def test_a_micro_grids_staff_see_their_grid_masked_and_their_own_households_in_full(hw):
    resident = await hw.person(name="张三")
    theirs = await hw.household(helper_id=hw.micro_worker.id, resident_id=resident.id)
    other = await hw.household(address="一组2号", head_phone="13712345678", resident_id=resident.id)
    r = await hw.client.get("/api/v1/households", headers=hw.micro_worker.headers)
    assert r.status_code == 200, r.text
    items = {h["id"]: h for h in r.json()["items"]}
    assert set(items) == {theirs["id"], other["id"]}
    # the one they help: in full (they have to call them)
    assert items[theirs["id"]]["masked"] is False
    assert items[theirs["id"]]["head_phone"] == "13812345678"
    assert items[theirs["id"]]["resident_id"] == resident.id
    # the rest of the grid: the phone masked, no resident link
    assert items[other["id"]]["masked"] is True
    assert items[other["id"]]["head_phone"] == "137****5678"
    assert items[other["id"]]["resident_id"] is None
    r = await hw.client.get(f"/api/v1/households/{other['id']}", headers=hw.micro_worker.headers)
    assert r.json()["head_phone"] == "137****5678" and r.json()["masked"] is True
    # those covering the grid see everything
    r = await hw.client.get(f"/api/v1/households/{other['id']}", headers=hw.worker.headers)
    assert r.json()["head_phone"] == "13712345678" and r.json()["resident_id"] == resident.id
    # the linked resident does not see households through the staff API
    r = await hw.client.get(f"/api/v1/households/{other['id']}", headers=resident.headers)
    assert r.status_code == 404


async def test_every_read_of_the_list_is_audited_with_who_what_and_how_many(hw):
    made = await hw.household()
    await hw.household(address="一组2号", elderly_alone=0, children=0)
    r = await hw.client.get(
        "/api/v1/households",
        params={"vulnerable": "true", "area_id": hw.areas[G1]},
        headers=hw.dispatcher.headers,
    )
    assert [h["id"] for h in r.json()["items"]] == [made["id"]]
    await hw.ids(hw.micro_worker)
    await hw.client.get(f"/api/v1/households/{made['id']}", headers=hw.worker.headers)
    reads = [a for a in await _audit() if a["action"] in ("household.list", "household.view")]
    assert [(a["action"], a["actor_id"]) for a in reads] == [
        ("household.list", hw.dispatcher.id),
        ("household.list", hw.micro_worker.id),
        ("household.view", hw.worker.id),
    ]
    first = reads[0]["detail"]
    assert first["filters"] == {"vulnerable": True, "area_id": hw.areas[G1], "retired": False}
    assert (first["count"], first["masked"], first["ids"]) == (1, 0, [made["id"]])
    assert reads[0]["area_path"].rstrip("/").endswith(G1)
    assert (reads[1]["detail"]["count"], reads[1]["detail"]["masked"]) == (2, 2)
    assert reads[2]["object_id"] == str(made["id"])
    # a refused read writes nothing but is refused
    r = await hw.client.get("/api/v1/households", headers=hw.resident.headers)
    assert r.status_code == 403
    assert len([a for a in await _audit() if a["action"] == "household.list"]) == 2


async def test_references_and_numbers_are_checked_with_stable_codes(hw):
    post = hw.client.post
    h = hw.dispatcher.headers

    async def refused(status: int, code: str, field: str, **fields) -> None:
        r = await post("/api/v1/households", json=hw.body(**fields), headers=h)
        assert r.status_code == status, (fields, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == code, r.text
        assert r.json()["errors"][0]["field"] == field, r.text

    await refused(422, "household_grid_invalid", "grid_id", grid_id=hw.areas[C1])
    await refused(422, "area_not_found", "grid_id", grid_id=999_999)
    # helpers: on duty in the grid (or a micro-grid of it) or over it, nobody else
    await refused(422, "helper_not_on_duty", "helper_id", helper_id=hw.worker2.id)  # G2's
    await refused(422, "helper_not_on_duty", "helper_id", helper_id=hw.dispatcher2.id)
    await refused(422, "helper_not_on_duty", "helper_id", helper_id=hw.resident.id)
    await refused(422, "helper_not_on_duty", "helper_id", helper_id=999_999)
    for helper in (hw.micro_worker, hw.leader, hw.dispatcher, hw.supervisor):
        r = await post(
            "/api/v1/households",
            json=hw.body(helper_id=helper.id, address=f"{helper.id}号"),
            headers=h,
        )
        assert r.status_code == 201, r.text
    # shelters: existing, not retired, serving the grid or an area above or below it
    await refused(422, "shelter_not_serving", "shelter_id", shelter_id=hw.shelter2["id"])
    await refused(422, "shelter_not_found", "shelter_id", shelter_id=999_999)
    grid_only = await hw.w.shelter(name="网格活动室", area_ids=[hw.areas[G1]])
    township = await hw.w.shelter(name="街道体育馆", area_ids=[hw.areas[T1]])
    for shelter in (grid_only, township):
        r = await post(
            "/api/v1/households",
            json=hw.body(shelter_id=shelter["id"], address=shelter["name"]),
            headers=h,
        )
        assert r.status_code == 201, r.text
    await hw.client.delete(f"/api/v1/shelters/{grid_only['id']}", headers=h)
    await refused(422, "shelter_retired", "shelter_id", shelter_id=grid_only["id"])
    await refused(422, "risk_point_not_found", "risk_point_id", risk_point_id=999_999)
    # phones: a mobile or a landline with its area code, however typed
    for typed, stored in (
        ("+86 138-1234-5678", "13812345678"),
        ("023-63861234", "023-63861234"),
        ("（010）8888 6666", "010-88886666"),
        ("0755 2345 6789", "0755-23456789"),
    ):
        r = await post(
            "/api/v1/households", json=hw.body(head_phone=typed, address=typed), headers=h
        )
        assert r.status_code == 201, r.text
        assert r.json()["head_phone"] == stored
    for bad in ("12345", "23-63861234", "1381234567", "电话", "12812345678"):
        await refused(422, "household_phone_invalid", "head_phone", head_phone=bad)
    # people at least one; each vulnerable count between none and everyone
    await refused(422, "validation_failed", "people", people=0)
    await refused(422, "validation_failed", "elderly_alone", people=2, elderly_alone=3)
    await refused(422, "validation_failed", "pregnant", pregnant=-1)
    await refused(422, "validation_failed", "head_name", head_name="")
    await refused(422, "validation_failed", "address", address="a\x00b")
    made = await hw.household(address="改人数")
    r = await hw.client.patch(f"/api/v1/households/{made['id']}", json={"people": 1}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "children"
    # in both languages
    r = await post(
        "/api/v1/households",
        json=hw.body(helper_id=hw.worker2.id),
        headers={**h, "Accept-Language": "zh-CN"},
    )
    assert r.json()["title"] == "包保责任人不在该户所在网格或其上级区域在岗"
    r = await post(
        "/api/v1/households",
        json=hw.body(helper_id=hw.worker2.id),
        headers={**h, "Accept-Language": "en"},
    )
    assert r.json()["title"] == "The helper holds no duty in or over the household's grid"
    r = await hw.client.get("/api/v1/households/999999", headers={**h, "Accept-Language": "zh-CN"})
    assert r.status_code == 404 and r.json()["title"] == "受威胁户不存在"


async def test_the_list_filters_searches_and_pages(hw):
    r = await hw.client.post(
        "/api/v1/risk-points",
        json={
            "name": "积水点",
            "type": "flood_underpass",
            "risk_level": "low",
            "lat": 29.52,
            "lng": 106.52,
        },
        headers=hw.dispatcher.headers,
    )
    point = r.json()["id"]
    a = await hw.household(risk_point_id=point)
    b = await hw.household(
        address=SCRIPT, head_name="李四", elderly_alone=0, children=0, shelter_id=None
    )
    c = await hw.household(
        grid_id=hw.areas[G2], address="二组", helper_id=hw.worker2.id, head_name="王五"
    )
    s = hw.supervisor
    assert await hw.ids(s, area_id=hw.areas[G2]) == [c["id"]]
    assert await hw.ids(s, area_id=hw.areas[D1]) == [a["id"], b["id"], c["id"]]
    assert await hw.ids(s, risk_point_id=point) == [a["id"]]
    assert await hw.ids(s, helper_id=hw.worker2.id) == [c["id"]]
    assert await hw.ids(s, shelter_id=hw.shelter["id"]) == [a["id"], c["id"]]
    assert await hw.ids(s, vulnerable="true") == [a["id"], c["id"]]
    assert await hw.ids(s, vulnerable="false") == [b["id"]]
    assert await hw.ids(s, q="李") == [b["id"]]
    assert await hw.ids(s, q="script") == [b["id"]]
    assert await hw.ids(s, q="二组") == [c["id"]]
    assert await hw.ids(s, q="%") == []  # a percent sign is text, not a wildcard
    assert await hw.ids(s, area_id=hw.areas[C2]) == []
    # a script in the address is data, answered as JSON
    r = await hw.client.get(f"/api/v1/households/{b['id']}", headers=s.headers)
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["address"] == SCRIPT
    # pages
    r = await hw.client.get("/api/v1/households", params={"limit": 2}, headers=s.headers)
    assert [h["id"] for h in r.json()["items"]] == [a["id"], b["id"]]
    r = await hw.client.get(
        "/api/v1/households",
        params={"limit": 2, "cursor": r.json()["next_cursor"]},
        headers=s.headers,
    )
    assert [h["id"] for h in r.json()["items"]] == [c["id"]]
    assert r.json()["next_cursor"] is None
    r = await hw.client.get("/api/v1/households", params={"limit": 500}, headers=s.headers)
    assert r.status_code == 422
    # the micro-grid's worker filters within what they see
    assert await hw.ids(hw.micro_worker, area_id=hw.areas[MICRO]) == []
    assert await hw.ids(hw.micro_worker, area_id=hw.areas[G1]) == [a["id"], b["id"]]


async def test_a_name_or_address_of_blanks_is_refused_not_stored_empty(hw):
    """Spaces (ASCII or ideographic) pass a length check but name nothing: a household with
    no address or head, or a shelter with no name, is a 422 on that field, on create and on
    change, and nothing is written."""
    post, patch, h = hw.client.post, hw.client.patch, hw.dispatcher.headers
    for field in ("address", "head_name"):
        r = await post("/api/v1/households", json=hw.body(**{field: " \u3000 "}), headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    made = await hw.household()
    for field in ("address", "head_name"):
        r = await patch(f"/api/v1/households/{made['id']}", json={field: "   "}, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    r = await hw.client.get(f"/api/v1/households/{made['id']}", headers=h)
    assert (r.json()["address"], r.json()["head_name"]) == (made["address"], made["head_name"])
    r = await patch(f"/api/v1/households/{made['id']}", json={"note": "  "}, headers=h)
    assert r.status_code == 200 and r.json()["note"] == ""  # optional text may be blank
    w = hw.w
    r = await post("/api/v1/shelters", json=w.shelter_body(name="  "), headers=w.dispatcher.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    shelter = await w.shelter()
    r = await patch(
        f"/api/v1/shelters/{shelter['id']}", json={"name": "\u3000"}, headers=w.dispatcher.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    r = await hw.client.get(f"/api/v1/shelters/{shelter['id']}", headers=w.dispatcher.headers)
    assert r.json()["name"] == shelter["name"]
    assert await Household.count() == 1


async def test_the_same_household_twice_in_a_grid_is_refused_so_the_ledger_round_trips(hw):
    """The ledger knows a household by grid, address and head's phone, and an import updates
    by them: a second household with all three is 409 `household_exists`, on create and on
    change, so the exported ledger always imports again. A retired one, or another grid's,
    does not count."""
    post, patch, h = hw.client.post, hw.client.patch, hw.dispatcher.headers
    first = await hw.household(address="较场口社区3组12号", head_phone="13812345678")
    r = await post(
        "/api/v1/households",
        json=hw.body(address="较场口社区3组12号", head_phone="138 1234 5678", head_name="李四"),
        headers=h,
    )
    assert (r.status_code, r.json()["code"]) == (409, "household_exists"), r.text
    other = await hw.household(address="较场口社区3组13号", head_phone="13812345678")
    r = await patch(
        f"/api/v1/households/{other['id']}", json={"address": "较场口社区3组12号"}, headers=h
    )
    assert (r.status_code, r.json()["code"]) == (409, "household_exists")
    r = await patch(f"/api/v1/households/{first['id']}", json={"people": 5}, headers=h)
    assert r.status_code == 200, r.text  # itself is no duplicate
    r = await hw.client.delete(f"/api/v1/households/{first['id']}", headers=h)
    assert r.status_code == 200, r.text
    again = await hw.household(address="较场口社区3组12号", head_phone="13812345678")
    assert again["id"] != first["id"]
    # and the ledger exported now imports again, changing nothing
    export = await hw.client.get("/api/v1/households/export", headers=h)
    assert export.status_code == 200
    r = await post(
        "/api/v1/households/import",
        files={"file": ("ledger.xlsx", export.content, export.headers["content-type"])},
        headers=h,
    )
    assert r.status_code == 200, r.text
