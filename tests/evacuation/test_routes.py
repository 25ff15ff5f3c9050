"""Evacuation routes (转移路线): recorded by the managers of their area from a risk point or a
household cluster to a shelter serving it, read by the staff of the area, hidden from other
townships; positions in any datum; every change audited."""

from __future__ import annotations

from typing import Any

from factories import C1, C2, G1, G3

from grid_backend.core import geo
from grid_backend.core.tables import AuditEntry

SCRIPT = "<script>alert(1)</script>"


async def _point(world, lat: float = 29.52, lng: float = 106.52) -> dict:
    r = await world.client.post(
        "/api/v1/risk-points",
        json={"name": "边坡", "type": "landslide", "risk_level": "high", "lat": lat, "lng": lng},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _body(world, shelter: dict, **fields: Any) -> dict:
    body: dict[str, Any] = {
        "name": "一号路线",
        "area_id": world.areas[C1],
        "points": [{"lat": 29.52, "lng": 106.52}, {"lat": 29.53, "lng": 106.53}],
        "shelter_id": shelter["id"],
        "from_cluster": "7号楼",
    }
    body.update(fields)
    return body


async def test_a_manager_records_lists_and_retires_a_route(world):
    shelter = await world.shelter()
    point = await _point(world)
    r = await world.client.post(
        "/api/v1/evacuation-routes",
        json=_body(world, shelter, from_cluster="", from_risk_point_id=point["id"]),
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 201, r.text
    route = r.json()
    assert route["area"]["code"] == C1 and route["shelter_name"] == "较场口小学"
    assert route["from_risk_point_name"] == "边坡" and route["manageable"] is True
    assert [(p["lat"], p["lng"]) for p in route["points"]] == [(29.52, 106.52), (29.53, 106.53)]
    cluster = await world.client.post(
        "/api/v1/evacuation-routes",
        json=_body(world, shelter, name=SCRIPT),
        headers=world.dispatcher.headers,
    )
    assert cluster.status_code == 201 and cluster.json()["name"] == SCRIPT
    assert cluster.json()["from_cluster"] == "7号楼"
    # G1's grid worker reads the community's routes but does not change them
    r = await world.client.get("/api/v1/evacuation-routes", headers=world.worker.headers)
    assert [x["id"] for x in r.json()["items"]] == [route["id"], cluster.json()["id"]]
    assert r.json()["items"][0]["manageable"] is False
    r = await world.client.delete(
        f"/api/v1/evacuation-routes/{route['id']}", headers=world.worker.headers
    )
    assert r.status_code == 403
    # paginated
    r = await world.client.get(
        "/api/v1/evacuation-routes", params={"limit": 1}, headers=world.dispatcher.headers
    )
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]
    r = await world.client.get(
        "/api/v1/evacuation-routes",
        params={"limit": 1, "cursor": r.json()["next_cursor"]},
        headers=world.dispatcher.headers,
    )
    assert [x["id"] for x in r.json()["items"]] == [cluster.json()["id"]]
    # retired: no longer listed unless asked; retiring again changes nothing
    url = f"/api/v1/evacuation-routes/{route['id']}"
    r = await world.client.delete(url, headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.json()["retired"] is True
    again = await world.client.delete(url, headers=world.dispatcher.headers)
    assert again.json()["retired_at"] == r.json()["retired_at"]
    r = await world.client.get("/api/v1/evacuation-routes", headers=world.dispatcher.headers)
    assert [x["id"] for x in r.json()["items"]] == [cluster.json()["id"]]
    r = await world.client.get(
        "/api/v1/evacuation-routes", params={"retired": "true"}, headers=world.dispatcher.headers
    )
    assert [x["id"] for x in r.json()["items"]] == [route["id"]]
    rows = (
        await AuditEntry.select(AuditEntry.action, AuditEntry.actor_id)
        .where(AuditEntry.object_type == "evacuation_route")
        .order_by(AuditEntry.id)
    )
    assert [(a["action"], a["actor_id"]) for a in rows] == [
        ("evacuation_route.create", world.dispatcher.id),
        ("evacuation_route.create", world.dispatcher.id),
        ("evacuation_route.retire", world.dispatcher.id),
    ]


async def test_other_townships_and_residents_neither_see_nor_record_routes(world):
    shelter = await world.shelter()
    r = await world.client.post(
        "/api/v1/evacuation-routes", json=_body(world, shelter), headers=world.dispatcher.headers
    )
    url = f"/api/v1/evacuation-routes/{r.json()['id']}"
    for person in (world.dispatcher2, world.resident):
        r = await world.client.get(url, headers=person.headers)
        assert r.status_code == 404 and r.json()["code"] == "route_not_found"
        r = await world.client.delete(url, headers=person.headers)
        assert r.status_code == 404
    r = await world.client.get("/api/v1/evacuation-routes", headers=world.dispatcher2.headers)
    assert r.json()["items"] == []
    r = await world.client.get("/api/v1/evacuation-routes", headers=world.resident.headers)
    assert r.status_code == 403
    r = await world.client.post(
        "/api/v1/evacuation-routes", json=_body(world, shelter), headers=world.dispatcher2.headers
    )
    assert r.status_code == 403
    r = await world.client.post(
        "/api/v1/evacuation-routes", json=_body(world, shelter), headers=world.worker.headers
    )
    assert r.status_code == 403
    r = await world.client.get(
        "/api/v1/evacuation-routes",
        params={"area_id": world.areas[C2]},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 403


async def test_bad_routes_name_the_field(world):
    post, h = world.client.post, world.dispatcher.headers
    shelter = await world.shelter()
    elsewhere = await world.shelter(world.dispatcher2, area_ids=[world.areas[C2]])
    far_point = await _point(world, 29.58, 106.52)  # in G2
    cases = [
        ({"points": [{"lat": 29.52, "lng": 106.52}]}, "points", "validation_failed"),
        ({"from_cluster": ""}, "from_risk_point_id", "route_start_required"),
        (
            {"from_risk_point_id": far_point["id"]},  # and a cluster: both
            "from_risk_point_id",
            "route_start_required",
        ),
        (
            {"from_cluster": "", "from_risk_point_id": 999_999},
            "from_risk_point_id",
            "risk_point_not_found",
        ),
        (
            {"area_id": world.areas[G1], "from_cluster": "", "from_risk_point_id": far_point["id"]},
            "from_risk_point_id",
            "risk_point_not_found",
        ),
        ({"shelter_id": elsewhere["id"]}, "shelter_id", "shelter_not_found"),
        ({"shelter_id": 999_999}, "shelter_id", "shelter_not_found"),
        ({"area_id": 999_999}, "area_id", "area_not_found"),
        ({"from_cluster": "a\nb"}, "from_cluster", "validation_failed"),
        ({"name": ""}, "name", "validation_failed"),
        ({"name": " \u3000 "}, "name", "validation_failed"),  # blanks name nothing
    ]
    for fields, field, code in cases:
        r = await post("/api/v1/evacuation-routes", json=_body(world, shelter, **fields), headers=h)
        assert r.status_code == 422, (fields, r.text)
        assert (r.json()["code"], r.json()["errors"][0]["field"]) == (code, field), fields
    r = await post(
        "/api/v1/evacuation-routes",
        json=_body(world, shelter, from_cluster=""),
        headers={**h, "Accept-Language": "zh-CN"},
    )
    assert r.json()["title"] == "请指明路线的起点"
    # a retired shelter takes no new routes
    await world.client.delete(f"/api/v1/shelters/{shelter['id']}", headers=h)
    r = await post("/api/v1/evacuation-routes", json=_body(world, shelter), headers=h)
    assert r.status_code == 422 and r.json()["code"] == "shelter_not_found"
    assert await AuditEntry.count().where(AuditEntry.object_type == "evacuation_route") == 0
    # the other township's route to its own shelter is fine
    r = await post(
        "/api/v1/evacuation-routes",
        json=_body(world, elsewhere, area_id=world.areas[G3]),
        headers=world.dispatcher2.headers,
    )
    assert r.status_code == 201, r.text


async def test_points_go_in_and_out_in_any_datum(world):
    shelter = await world.shelter()
    glng, glat = geo.convert(106.52, 29.52, "wgs84", "gcj02")
    blng, blat = geo.convert(106.53, 29.53, "wgs84", "bd09")
    r = await world.client.post(
        "/api/v1/evacuation-routes",
        json=_body(
            world,
            shelter,
            points=[
                {"lat": glat, "lng": glng, "datum": "gcj02"},
                {"lat": blat, "lng": blng, "datum": "bd09"},
            ],
        ),
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 201, r.text
    stored = r.json()["points"]
    assert abs(stored[0]["lat"] - 29.52) < 1e-6 and abs(stored[1]["lng"] - 106.53) < 1e-6
    r = await world.client.get(
        f"/api/v1/evacuation-routes/{r.json()['id']}",
        params={"datum": "gcj02"},
        headers=world.dispatcher.headers,
    )
    assert r.json()["datum"] == "gcj02"
    assert abs(r.json()["points"][0]["lat"] - glat) < 1e-6
    assert abs(r.json()["points"][0]["lng"] - glng) < 1e-6
