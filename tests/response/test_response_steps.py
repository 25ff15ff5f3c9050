"""Response records from the mobile API: steps in order, a repeated step answered as it is, a
step out of order refused with its code, only the responder (or a dispatcher for a team)
recording, arrival checked against the case's position."""

from __future__ import annotations

from datetime import timedelta

from factories import G1, POINT_IN

from grid_backend.core import geo
from grid_backend.response.tables import ResponseStep

CASE_AT = POINT_IN[G1]  # (lat, lng) where file_report puts the case, WGS-84


def z(when) -> str:
    return when.isoformat().replace("+00:00", "Z")


def north_of(lat_lng: tuple[float, float], metres: float) -> tuple[float, float]:
    return (lat_lng[0] + metres / 111_195.0, lat_lng[1])


async def test_a_responder_records_each_step_in_order(world):
    case = await world.urgent(grid=G1)
    rec = await world.record_of(case["id"], account=world.responder)
    alerted = world.now

    world.later(4)
    r = await world.step(world.responder, case["id"], rec["id"], "acknowledge")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert r.json()["reaction_minutes"] == 4.0
    assert r.json()["next_step"] == "set_off"

    # a retry of the same step (or an earlier one) changes nothing
    world.later(1)
    again = await world.step(world.responder, case["id"], rec["id"], "acknowledge")
    assert again.status_code == 200
    assert again.json()["acknowledged_at"] == z(alerted + timedelta(minutes=4))

    # arriving before setting off is out of order
    r = await world.step(world.responder, case["id"], rec["id"], "arrive", near=CASE_AT)
    assert r.status_code == 409
    assert r.json()["code"] == "response_step_out_of_order"
    r = await world.step(world.responder, case["id"], rec["id"], "finish")
    assert r.json()["code"] == "response_step_out_of_order"

    r = await world.step(
        world.responder, case["id"], rec["id"], "set_off", near=north_of(CASE_AT, 900)
    )
    assert r.status_code == 200
    world.later(6)
    # the phone gives its position on the map's datum (GCJ-02), 120 m from the case
    lat, lng = north_of(CASE_AT, 120)
    glng, glat = geo.convert(lng, lat, "wgs84", "gcj02")
    r = await world.step(
        world.responder,
        case["id"],
        rec["id"],
        "arrive",
        location={"lat": glat, "lng": glng, "datum": "gcj02", "accuracy_m": 8},
    )
    assert r.status_code == 200, r.text
    arrived = r.json()
    assert arrived["status"] == "arrived"
    assert arrived["arrival_verified"] is True
    assert abs(arrived["arrival_distance_m"] - 120) < 1
    assert arrived["arrival_minutes"] == 11.0
    world.later(30)
    r = await world.step(world.responder, case["id"], rec["id"], "finish", note="已疏散，关阀")
    assert r.json()["status"] == "finished"
    assert r.json()["next_step"] is None

    # the full record: four steps, positions stored in WGS-84 (and answered in GCJ-02 on asking)
    steps = (await world.responses(case["id"]))[0]["steps"]
    assert [s["step"] for s in steps if s["actor_id"] == world.responder.id] == [
        "acknowledge",
        "set_off",
        "arrive",
        "finish",
    ]
    arrive = next(s for s in steps if s["step"] == "arrive")
    assert abs(arrive["lat"] - lat) < 1e-6 and abs(arrive["lng"] - lng) < 1e-6
    r = await world.client.get(
        f"/api/v1/reports/{case['id']}/responses",
        params={"datum": "gcj02"},
        headers=world.dispatcher.headers,
    )
    arrive = next(s for i in r.json()["items"] for s in i["steps"] if s["step"] == "arrive")
    assert abs(arrive["lat"] - glat) < 1e-6
    assert await ResponseStep.count().run() == 4

    # the arrival is on the case's timeline (public: the reporter sees help has come)
    r = await world.client.get(f"/api/v1/reports/{case['id']}", headers=world.resident.headers)
    assert "response_arrive" in [e["action"] for e in r.json()["timeline"]]


async def test_an_arrival_far_from_the_case_or_mocked_is_kept_but_flagged(world):
    case = await world.urgent(grid=G1)
    far = await world.record_of(case["id"], account=world.responder)
    mocked = await world.record_of(case["id"], account=world.officer)
    for person, rec in ((world.responder, far), (world.officer, mocked)):
        for step in ("acknowledge", "set_off"):
            assert (await world.step(person, case["id"], rec["id"], step)).status_code == 200
    r = await world.step(
        world.responder, case["id"], far["id"], "arrive", near=north_of(CASE_AT, 450)
    )
    assert r.status_code == 200
    assert r.json()["status"] == "arrived"
    assert r.json()["arrival_verified"] is False
    assert r.json()["arrival_minutes"] is None  # not counted as an arrival time
    r = await world.step(
        world.officer,
        case["id"],
        mocked["id"],
        "arrive",
        location={"lat": CASE_AT[0], "lng": CASE_AT[1], "is_mock": True},
    )
    assert r.json()["arrival_verified"] is False
    assert r.json()["arrival_distance_m"] == 0.0


async def test_device_time_is_used_but_kept_between_the_previous_step_and_receipt(world):
    case = await world.urgent(grid=G1)
    rec = await world.record_of(case["id"], account=world.responder)
    alerted = world.now
    world.later(20)  # the phone was offline: it acknowledged at +3 and syncs at +20
    r = await world.step(
        world.responder,
        case["id"],
        rec["id"],
        "acknowledge",
        device_time=z(alerted + timedelta(minutes=3)),
    )
    assert r.json()["reaction_minutes"] == 3.0
    # a clock running ahead cannot date a step after the server received it
    r = await world.step(
        world.responder,
        case["id"],
        rec["id"],
        "set_off",
        device_time=z(world.now + timedelta(hours=2)),
    )
    assert r.json()["set_off_at"] == z(world.now)
    # nor before the previous step
    world.later(5)
    r = await world.step(
        world.responder,
        case["id"],
        rec["id"],
        "arrive",
        near=CASE_AT,
        device_time=z(alerted - timedelta(hours=1)),
    )
    assert r.json()["arrived_at"] == r.json()["set_off_at"]
    step = (await world.responses(case["id"]))[0]["steps"][-1]
    assert step["received_at"] == z(world.now)
    assert step["device_time"] == z(alerted - timedelta(hours=1))


async def test_only_the_responder_records_their_own_steps(world):
    case = await world.urgent(grid=G1)
    rec = await world.record_of(case["id"], account=world.responder)
    # a colleague covering the case, or the dispatcher, is refused; others do not see it
    for person in (world.officer, world.dispatcher):
        r = await world.step(person, case["id"], rec["id"], "acknowledge")
        assert r.status_code == 403, r.text
    for person in (world.resident, world.other_responder, world.dispatcher2):
        r = await world.step(person, case["id"], rec["id"], "acknowledge")
        assert r.status_code == 404
        assert r.json()["code"] == "response_not_found"
    # a record of another case, through this case's path, does not exist
    other = await world.urgent(grid=G1)
    r = await world.step(world.responder, other["id"], rec["id"], "acknowledge")
    assert r.status_code == 404
    # reading the responses: the staff covering the case and its responders, nobody else
    r = await world.client.get(
        f"/api/v1/reports/{case['id']}/responses", headers=world.other_responder.headers
    )
    assert r.status_code == 404
    assert len(await world.responses(case["id"], by=world.responder)) == 2
    # an unknown step is a validation error naming the field
    r = await world.step(world.responder, case["id"], rec["id"], "teleport")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "step"
