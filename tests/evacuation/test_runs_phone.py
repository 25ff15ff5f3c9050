"""The phone's side of an evacuation: a helper's households across the active evacuations,
the notice to a resident linked to a household, and the resident's own answer, which the
helper sees and which leaves the household's status to the helper."""

from __future__ import annotations

import pytest
from evacuation_runs import G1, G2, SCRIPT, inbox, make_run_world
from factories import C2

from grid_backend.core.tables import AuditEntry
from grid_backend.evacuation.tables import EvacuationTask, Shelter


@pytest.fixture
async def world(client):
    return await make_run_world(client)


async def _mine(world, who=None):
    r = await world.client.get(
        "/api/v1/evacuations/my-households", headers=(who or world.worker).headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_helper_sees_only_their_households_of_active_evacuations(world):
    shelter = await world.shelter()
    frail = await world.household(
        G1, elderly_alone=1, disabled=1, shelter=shelter, lat=29.53, lng=106.51, head_name=SCRIPT
    )
    plain = await world.household(G1)
    await world.household(G2)  # another helper's
    assert (await _mine(world))["items"] == []  # nothing before the start
    run = (await world.start())["id"]
    page = await _mine(world)
    assert [i["household_id"] for i in page["items"]] == [frail["id"], plain["id"]]
    first = page["items"][0]
    assert first["evacuation_id"] == run
    assert first["head_name"] == SCRIPT  # data, as given: the page shows it as text
    assert (first["vulnerable"], first["elderly_alone"], first["disabled"]) == (2, 1, 1)
    assert (first["lat"], first["lng"]) == (29.53, 106.51)
    assert first["shelter"]["name"] == "较场口小学"
    assert first["shelter"]["geo_url"].startswith("geo:29.520000,106.520000")
    assert "coordinate=wgs84" in first["shelter"]["route_url"]
    assert page["items"][1]["shelter"] is None and page["items"][1]["status"] == "pending"
    other = await _mine(world, world.worker2)
    assert len(other["items"]) == 1
    assert (await _mine(world, world.resident))["items"] == []
    # paginated
    r = await world.client.get(
        "/api/v1/evacuations/my-households?limit=1", headers=world.worker.headers
    )
    nxt = r.json()["next_cursor"]
    assert nxt and len(r.json()["items"]) == 1
    r = await world.client.get(
        f"/api/v1/evacuations/my-households?limit=1&cursor={nxt}", headers=world.worker.headers
    )
    assert [i["household_id"] for i in r.json()["items"]] == [plain["id"]]
    reads = await AuditEntry.select().where(
        (AuditEntry.action == "evacuation.households.read")
        & (AuditEntry.actor_id == world.worker.id)
    )
    assert len(reads) >= 3
    # moved to a shelter: the shelter it went to; once ended, the list is empty
    r = await world.status(
        run, plain["id"], status="moved", destination="shelter", shelter_id=shelter, note="电话确认"
    )
    assert r.status_code == 201, r.text
    assert (await _mine(world))["items"][1]["shelter"]["id"] == shelter
    r = await world.client.post(
        f"/api/v1/evacuations/{run}/end", json={}, headers=world.dispatcher.headers
    )
    assert r.status_code == 200, r.text
    assert (await _mine(world))["items"] == []


async def test_a_linked_resident_is_told_where_to_go_and_answers_once(world):
    shelter = await world.shelter()
    home = await world.household(G1, resident=world.resident.id, shelter=shelter)
    await world.household(G1)  # not theirs
    run = (await world.start())["id"]
    told = await inbox("evacuation.notice")
    assert [n["recipient"] for n in told] == [world.resident.id]
    assert told[0]["urgent"]
    payload = told[0]["payload"]
    assert "较场口小学" in payload["body_zh"] and "uri.amap.com" in payload["body_en"]
    assert payload["household_id"] == home["id"]

    r = await world.client.get("/api/v1/evacuations/my-household", headers=world.resident.headers)
    assert r.status_code == 200, r.text
    card = r.json()["items"]
    assert len(card) == 1 and card[0]["shelter"]["id"] == shelter and card[0]["answer"] is None
    assert "head_phone" not in card[0]  # the resident's card names no one

    url = f"/api/v1/evacuations/{run}/my-household/answer"
    headers = {**world.resident.headers, "Idempotency-Key": "answer-0001"}
    body = {"answer": "safe", "location": {"lat": 29.5, "lng": 106.5}}
    r = await world.client.post(url, json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["answer"] == "safe"
    again = await world.client.post(url, json=body, headers=headers)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    other = await world.client.post(url, json={"answer": "moved"}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"

    # the helper sees it; the status stays the helper's to record
    item = (await _mine(world))["items"][0]
    assert item["resident_answer"]["answer"] == "safe" and item["status"] == "pending"
    task = await EvacuationTask.select().where(EvacuationTask.household == home["id"]).first()
    assert task["status"] == "pending"
    r = await world.client.get(
        f"/api/v1/evacuations/{run}/households/{home['id']}/timeline", headers=world.worker.headers
    )
    events = r.json()
    assert [(e["from_status"], e["status"], e["by"]) for e in events] == [
        ("pending", "answer_safe", world.resident.id)
    ]
    # the helper can still record the household's status after it
    r = await world.status(run, home["id"], status="contacted")
    assert r.status_code == 201, r.text
    audited = await AuditEntry.select().where(AuditEntry.action == "evacuation.answer")
    assert len(audited) == 1


async def test_only_the_linked_resident_answers(world):
    home = await world.household(G1, resident=world.resident.id)
    run = (await world.start())["id"]
    url = f"/api/v1/evacuations/{run}/my-household/answer"
    for person in (world.worker, world.leader, world.dispatcher):
        r = await world.client.post(url, json={"answer": "moved"}, headers=person.headers)
        assert r.status_code == 404 and r.json()["code"] == "evacuation_task_not_found"
    r = await world.client.post(url, json={"answer": "gone"}, headers=world.resident.headers)
    assert r.status_code == 400 or r.status_code == 422
    r = await world.client.post(
        "/api/v1/evacuations/999999/my-household/answer",
        json={"answer": "moved"},
        headers=world.resident.headers,
    )
    assert r.status_code == 404
    await world.client.post(
        f"/api/v1/evacuations/{run}/end", json={}, headers=world.dispatcher.headers
    )
    r = await world.client.post(url, json={"answer": "moved"}, headers=world.resident.headers)
    assert r.status_code == 409 and r.json()["code"] == "evacuation_not_active"
    r = await world.client.get("/api/v1/evacuations/my-household", headers=world.resident.headers)
    assert r.json()["items"] == []
    assert home["id"]


async def test_a_helper_may_move_a_household_to_any_open_shelter_serving_its_grid(world):
    planned = await world.shelter()
    spare = await world.shelter(capacity=50)  # the planned one may be full or cut off
    closed = await world.shelter()
    await Shelter.update({Shelter.is_open: False}).where(Shelter.id == closed)
    elsewhere = await world.shelter(areas=(C2,))  # serves another community
    home = await world.household(G1, shelter=planned)
    unplanned = await world.household(G1)
    run = (await world.start())["id"]
    items = {i["household_id"]: i for i in (await _mine(world))["items"]}
    assert [s["id"] for s in items[home["id"]]["shelters"]] == [planned, spare]
    assert [s["id"] for s in items[unplanned["id"]]["shelters"]] == [planned, spare]
    assert elsewhere not in [s["id"] for s in items[home["id"]]["shelters"]]
    r = await world.status(
        run, home["id"], status="moved", destination="shelter", shelter_id=spare, note="学校已满"
    )
    assert r.status_code == 201, r.text
    moved = next(i for i in (await _mine(world))["items"] if i["household_id"] == home["id"])
    assert moved["shelter"]["id"] == spare and moved["status"] == "moved"
    r = await world.status(
        run, unplanned["id"], status="moved", destination="shelter", shelter_id=closed, note="x"
    )
    assert r.status_code == 422 and r.json()["code"] == "evacuation_destination_invalid"


async def test_a_resident_of_two_households_answers_for_each(world):
    home = await world.household(G1, resident=world.resident.id, address="较场口1号")
    parents = await world.household(G1, resident=world.resident.id, address="较场口2号")
    run = (await world.start())["id"]
    r = await world.client.get("/api/v1/evacuations/my-household", headers=world.resident.headers)
    assert sorted(c["household_id"] for c in r.json()["items"]) == [home["id"], parents["id"]]
    url = f"/api/v1/evacuations/{run}/my-household/answer"
    r = await world.client.post(url, json={"answer": "safe"}, headers=world.resident.headers)
    assert r.status_code == 422 and r.json()["code"] == "evacuation_household_required"
    assert r.json()["errors"][0]["field"] == "household_id"
    r = await world.client.post(
        url, json={"answer": "moved", "household_id": parents["id"]}, headers=world.resident.headers
    )
    assert r.status_code == 201, r.text
    r = await world.client.post(
        url, json={"answer": "safe", "household_id": home["id"]}, headers=world.resident.headers
    )
    assert r.status_code == 201, r.text
    cards = await world.client.get(
        "/api/v1/evacuations/my-household", headers=world.resident.headers
    )
    said = {c["household_id"]: c["answer"]["answer"] for c in cards.json()["items"]}
    assert said == {home["id"]: "safe", parents["id"]: "moved"}
    other = await world.household(G2)  # not theirs: as if it did not exist
    r = await world.client.post(
        url, json={"answer": "safe", "household_id": other["id"]}, headers=world.resident.headers
    )
    assert r.status_code == 404


async def test_a_helper_whose_duty_ended_no_longer_sees_the_households(world):
    """A grid worker leaves: their households' names, phones and tasks are no longer theirs to
    read or change, though the households still name them until the office picks another."""
    home = await world.household(G1, head_name="王大爷", head_phone="13800000001")
    run = (await world.start())["id"]
    assert [i["household_id"] for i in (await _mine(world))["items"]] == [home["id"]]
    tasks = f"/api/v1/evacuations/{run}/households"
    assert (await world.client.get(tasks, headers=world.worker.headers)).status_code == 200

    from grid_backend.people.tables import Assignment

    [duty] = await Assignment.select(Assignment.id).where(Assignment.account == world.worker.id)
    r = await world.client.delete(
        f"/api/v1/assignments/{duty['id']}", headers=world.dispatcher.headers
    )
    assert r.status_code == 200, r.text

    assert (await _mine(world))["items"] == []
    r = await world.client.get(tasks, headers=world.worker.headers)
    assert r.status_code == 404 and r.json()["code"] == "evacuation_not_found"
    r = await world.client.get(f"/api/v1/households/{home['id']}", headers=world.worker.headers)
    assert r.status_code in (403, 404)
    r = await world.status(run, home["id"], status="contacted")
    assert r.status_code == 404
    # the office still sees the household, and its helper
    r = await world.client.get(f"/api/v1/households/{home['id']}", headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.json()["helper"]["id"] == world.worker.id
