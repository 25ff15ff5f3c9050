"""Evacuations started by hand: one task per household for its helper, helpers told at once
(urgent), the households' statuses by their rules on a timeline, refusals escalated, the end
and return; scoped by duties, idempotent from phones, audited."""

from __future__ import annotations

import pytest
from evacuation_runs import C1, G1, G2, G3, SCRIPT, T1, T2, inbox, make_run_world

from grid_backend.core.tables import AuditEntry
from grid_backend.evacuation import runs
from grid_backend.evacuation.tables import EvacuationEvent, EvacuationTask
from grid_backend.notify.tables import Notification, NotificationPreference


@pytest.fixture
async def world(client):
    return await make_run_world(client)


async def test_start_makes_one_task_per_household_and_tells_each_helper_once(world):
    a = await world.household(G1, people=4, elderly_alone=1)
    b = await world.household(G1, people=2, children=2)
    c = await world.household(G2, people=5)
    await world.household(G1, retired_at=world.now)  # retired: not moved
    await world.household(G3)  # another township
    made = await world.start(area_ids=[world.areas[C1]], note=SCRIPT)
    assert made["status"] == "active" and made["source"] == "manual"
    assert (made["households"], made["people"]) == (3, 11)
    assert made["note"] == SCRIPT and made["started_by"] == world.dispatcher.id
    assert made["owner_area"]["code"] == C1 and made["manageable"] is True
    tasks = await EvacuationTask.select(
        EvacuationTask.household, EvacuationTask.helper, EvacuationTask.vulnerable
    ).where(EvacuationTask.evacuation == made["id"])
    assert sorted((t["household"], t["helper"], t["vulnerable"]) for t in tasks) == sorted(
        [
            (a["id"], world.worker.id, 1),
            (b["id"], world.worker.id, 2),
            (c["id"], world.worker2.id, 0),
        ]
    )
    told = await inbox("evacuation.started")
    assert sorted(
        (n["recipient"], n["payload"]["count"], n["payload"]["people"]) for n in told
    ) == [
        (world.worker.id, 2, 6),
        (world.worker2.id, 1, 5),
    ]
    assert all(n["urgent"] for n in told)
    mine = next(n for n in told if n["recipient"] == world.worker.id)["payload"]
    assert "2 户（6 人）" in mine["body_zh"] and "2 households (6 people)" in mine["body_en"]
    assert "@@" not in str(told)
    # push too (urgent: due now, quiet hours or not), except for whoever turned it off
    pushes = await Notification.select(Notification.recipient).where(
        (Notification.kind == "evacuation.started") & (Notification.channel == "push")
    )
    assert sorted(p["recipient"] for p in pushes) == sorted([world.worker.id, world.worker2.id])
    audit = await AuditEntry.select(AuditEntry.action, AuditEntry.actor_id).where(
        AuditEntry.object_type == "evacuation"
    )
    assert [(e["action"], e["actor_id"]) for e in audit] == [
        ("evacuation.start", world.dispatcher.id)
    ]


async def test_start_by_risk_point_covers_only_its_households(world):
    from grid_backend.areas.tables import RiskPoint

    point = (
        await RiskPoint.insert(
            RiskPoint(
                code="RP1",
                name="滑坡点",
                type="landslide",
                risk_level="high",
                lat=29.52,
                lng=106.52,
                grid=world.areas[G1],
                area_path=(await world.household(G1))["area_path"],
            )
        )
        .returning(RiskPoint.id)
        .run()
    )[0]["id"]
    tied = await world.household(G1, risk_point=point)
    made = await world.start(risk_point_ids=[point])
    assert made["households"] == 1 and made["risk_point_ids"] == [point]
    rows = await EvacuationTask.select(EvacuationTask.household).where(
        EvacuationTask.evacuation == made["id"]
    )
    assert [r["household"] for r in rows] == [tied["id"]]


async def test_who_may_start_and_what_is_refused(world):
    await world.household(G1)
    url = "/api/v1/evacuations"
    body = {"area_ids": [world.areas[C1]]}
    # the other township's dispatcher, a grid worker, a resident: 403, nothing written
    for who in (world.dispatcher2, world.worker, world.resident):
        r = await world.client.post(url, json=body, headers=who.headers)
        assert r.status_code == 403, (who, r.text)
    # the district's supervisor may start for any township of the district
    assert (await world.start(by=world.supervisor, area_ids=[world.areas[T2]]))["households"] == 0
    r = await world.client.post(url, json={"note": "x"}, headers=world.dispatcher.headers)
    assert r.status_code == 422 and r.json()["code"] == "evacuation_scope_required"
    r = await world.client.post(url, json={"area_ids": [999999]}, headers=world.dispatcher.headers)
    assert r.status_code == 422 and r.json()["code"] == "area_not_found"
    assert r.json()["errors"][0]["field"] == "area_ids"
    r = await world.client.post(
        url, json={"risk_point_ids": [999999]}, headers=world.dispatcher.headers
    )
    assert r.status_code == 422 and r.json()["code"] == "risk_point_not_found"
    r = await world.client.post(
        url, json={"area_ids": [world.areas[C1]], "extra": 1}, headers=world.dispatcher.headers
    )
    assert r.status_code in (400, 422)
    r = await world.client.post(
        url,
        json={"area_ids": [world.areas[C1]]},
        headers={**world.dispatcher.headers, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 201
    assert await EvacuationTask.count() == 1  # only the last start made a task


async def test_a_retried_start_answers_the_first_and_a_reused_key_is_409(world):
    await world.household(G1)
    first = await world.start(key="start-0001", area_ids=[world.areas[C1]])
    headers = {**world.dispatcher.headers, "Idempotency-Key": "start-0001"}
    r = await world.client.post(
        "/api/v1/evacuations", json={"area_ids": [world.areas[C1]]}, headers=headers
    )
    assert r.status_code == 200 and r.headers["idempotent-replayed"] == "true"
    assert r.json() == first
    r = await world.client.post(
        "/api/v1/evacuations", json={"area_ids": [world.areas[G1]]}, headers=headers
    )
    assert r.status_code == 409 and r.json()["code"] == "idempotency_conflict"
    assert await EvacuationTask.count() == 1
    assert len(await inbox("evacuation.started")) == 1


async def test_statuses_follow_their_rules_on_a_timeline(world):
    h = await world.household(G1)
    shelter = await world.shelter()
    run = (await world.start())["id"]
    place = {"lat": 29.52, "lng": 106.52, "datum": "gcj02", "accuracy_m": 8}
    r = await world.status(run, h["id"], status="contacted", location=place, note=SCRIPT)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["from_status"], first["status"], first["by"]) == (
        "pending",
        "contacted",
        world.worker.id,
    )
    assert first["note"] == SCRIPT and first["lat"] != 29.52  # stored in WGS-84
    # a move names where to; a shelter move names a shelter; no destination on others
    r = await world.status(run, h["id"], status="moved")
    assert r.status_code == 422 and r.json()["code"] == "evacuation_destination_invalid"
    r = await world.status(run, h["id"], status="moved", destination="shelter")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "shelter_id"
    r = await world.status(run, h["id"], status="not_at_home", destination="relatives")
    assert r.status_code == 422
    r = await world.status(run, h["id"], status="moved", destination="shelter", shelter_id=shelter)
    assert r.status_code == 201 and r.json()["shelter_id"] == shelter
    # moved cannot go back to contacted, nor already safe
    for back in ("contacted", "already_safe", "pending"):
        r = await world.status(run, h["id"], status=back)
        assert r.status_code == 409 and r.json()["code"] == "evacuation_status_skip", back
    r = await world.client.get(
        f"/api/v1/evacuations/{run}/households/{h['id']}", headers=world.worker.headers
    )
    assert (r.json()["status"], r.json()["destination"]) == ("moved", "shelter")
    r = await world.client.get(
        f"/api/v1/evacuations/{run}/households/{h['id']}/timeline", headers=world.leader.headers
    )
    assert [(e["from_status"], e["status"]) for e in r.json()] == [
        ("pending", "contacted"),
        ("contacted", "moved"),
    ]
    actions = await AuditEntry.select(AuditEntry.action).where(
        AuditEntry.object_type == "evacuation_task"
    )
    # the two changes, then the helper's read of the task
    assert [a["action"] for a in actions] == [
        "evacuation.status",
        "evacuation.status",
        "evacuation.household.view",
    ]


async def test_skipping_the_contact_needs_a_note(world):
    a = await world.household(G1)
    b = await world.household(G1)
    run = (await world.start())["id"]
    r = await world.status(run, a["id"], status="moved", destination="relatives")
    assert r.status_code == 422 and r.json()["code"] == "evacuation_note_required"
    assert r.json()["errors"][0]["field"] == "note"
    r = await world.status(run, a["id"], status="already_safe", note="   ")
    assert r.status_code == 422
    r = await world.status(
        run, a["id"], status="moved", destination="self_arranged", note="邻居电话确认已走"
    )
    assert r.status_code == 201
    r = await world.status(run, b["id"], status="already_safe", note="在外地打工")
    assert r.status_code == 201
    # nothing more after already safe
    r = await world.status(run, b["id"], status="contacted")
    assert r.status_code == 409 and r.json()["code"] == "evacuation_status_skip"


async def test_a_refusal_needs_a_reason_and_reaches_the_grid_leader_and_township(world):
    h = await world.household(G1, address="较场口88号")
    run = (await world.start())["id"]
    r = await world.status(run, h["id"], status="refused")
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    r = await world.status(run, h["id"], status="refused", reason=SCRIPT + "老人不愿离家")
    assert r.status_code == 201 and r.json()["note"].endswith("老人不愿离家")
    told = await inbox("evacuation.refused")
    assert sorted(n["recipient"] for n in told) == sorted([world.leader.id, world.dispatcher.id])
    assert all(n["urgent"] for n in told)
    assert "较场口88号" in told[0]["payload"]["body_zh"]
    # persuaded later: contacted, then moved
    r = await world.status(run, h["id"], status="contacted")
    assert r.status_code == 201


async def test_only_the_helper_or_staff_covering_the_grid_record(world):
    g1 = await world.household(G1)
    g3 = await world.household(G3)
    run = (await world.start(by=world.supervisor, area_ids=[world.areas[T1], world.areas[T2]]))[
        "id"
    ]
    # another grid's worker, another township's worker: the household does not exist for them
    r = await world.status(run, g1["id"], by=world.worker2, status="contacted")
    assert r.status_code == 404 and r.json()["code"] == "evacuation_task_not_found"
    r = await world.status(run, g1["id"], by=world.worker3, status="contacted")
    assert r.status_code == 404
    r = await world.status(run, g3["id"], by=world.worker, status="contacted")
    assert r.status_code == 404
    r = await world.status(run, g1["id"], by=world.resident, status="contacted")
    assert r.status_code == 404
    # the grid's instructor sees the household but does not record
    r = await world.status(run, g1["id"], by=world.instructor, status="contacted")
    assert r.status_code == 403
    # the grid's leader and the township's dispatcher may, the other township's may not
    r = await world.status(run, g1["id"], by=world.leader, status="contacted")
    assert r.status_code == 201
    r = await world.status(run, g3["id"], by=world.dispatcher, status="contacted")
    assert r.status_code == 404
    r = await world.status(run, g3["id"], by=world.dispatcher2, status="contacted")
    assert r.status_code == 201
    # a helper named on a household outside their duties (theirs there ended) no longer
    # records it, nor sees it; the grid's own worker does
    far = await world.household(G2, helper=world.worker)
    run2 = (await world.start(area_ids=[world.areas[G2]]))["id"]
    r = await world.status(run2, far["id"], by=world.worker, status="contacted")
    assert r.status_code == 404 and r.json()["code"] == "evacuation_task_not_found"
    r = await world.status(run2, far["id"], by=world.worker2, status="contacted")
    assert r.status_code == 201
    assert await EvacuationEvent.count() == 3


async def test_a_phone_retry_returns_the_same_answer(world):
    h = await world.household(G1)
    run = (await world.start())["id"]
    body = {
        "status": "contacted",
        "location": {"lat": 29.52, "lng": 106.52},
        "device_time": "2026-06-01T09:59:00+08:00",
    }
    r1 = await world.status(run, h["id"], key="phone-0001", **body)
    world.later(5)
    r2 = await world.status(run, h["id"], key="phone-0001", **body)
    assert r1.status_code == 201 and r2.status_code == 200
    assert r2.headers["idempotent-replayed"] == "true" and r2.json() == r1.json()
    # the client id in the body works the same
    moved = {"status": "moved", "destination": "relatives", "client_id": "outbox-0002"}
    r3 = await world.status(run, h["id"], **moved)
    r4 = await world.status(run, h["id"], **moved)
    assert (r3.status_code, r4.status_code) == (201, 200) and r3.json() == r4.json()
    r = await world.status(run, h["id"], key="phone-0001", status="not_at_home")
    assert r.status_code == 409 and r.json()["code"] == "idempotency_conflict"
    assert await EvacuationEvent.count() == 2


async def test_ending_returns_the_moved_households_and_stops_changes(world):
    a = await world.household(G1)
    b = await world.household(G1)
    run = (await world.start())["id"]
    await world.status(run, a["id"], status="contacted")
    await world.status(run, a["id"], status="moved", destination="relatives")
    url = f"/api/v1/evacuations/{run}/end"
    r = await world.client.post(url, json={}, headers=world.worker.headers)
    assert r.status_code == 403
    r = await world.client.post(url, json={}, headers=world.dispatcher2.headers)
    assert r.status_code == 404
    world.later(120)
    r = await world.client.post(url, json={"note": "预警解除"}, headers=world.dispatcher.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended" and r.json()["end_reason"] == "by_hand"
    assert r.json()["manageable"] is False
    r = await world.client.get(
        f"/api/v1/evacuations/{run}/households/{a['id']}", headers=world.worker.headers
    )
    assert r.json()["returned_at"] is not None
    r = await world.client.get(
        f"/api/v1/evacuations/{run}/households/{b['id']}", headers=world.worker.headers
    )
    assert r.json()["returned_at"] is None  # never moved
    r = await world.client.get(
        f"/api/v1/evacuations/{run}/households/{a['id']}/timeline", headers=world.worker.headers
    )
    assert r.json()[-1]["status"] == "returned"
    r = await world.status(run, b["id"], status="contacted")
    assert r.status_code == 409 and r.json()["code"] == "evacuation_not_active"
    r = await world.client.post(url, json={}, headers=world.dispatcher.headers)
    assert r.status_code == 409


async def test_lists_are_scoped_and_paginated(world):
    for _ in range(3):
        await world.household(G1)
    await world.household(G2)
    run = (await world.start())["id"]
    await world.start(by=world.dispatcher2, area_ids=[world.areas[T2]])
    r = await world.client.get("/api/v1/evacuations", headers=world.dispatcher.headers)
    assert [e["id"] for e in r.json()["items"]] == [run]
    r = await world.client.get("/api/v1/evacuations", headers=world.supervisor.headers)
    assert len(r.json()["items"]) == 2
    r = await world.client.get(
        "/api/v1/evacuations", params={"limit": 1}, headers=world.supervisor.headers
    )
    first = r.json()
    r = await world.client.get(
        "/api/v1/evacuations",
        params={"limit": 1, "cursor": first["next_cursor"]},
        headers=world.supervisor.headers,
    )
    assert [e["id"] for e in first["items"] + r.json()["items"]] == [run + 1, run]
    assert r.json()["next_cursor"] is None
    r = await world.client.get(
        "/api/v1/evacuations", params={"status": "ended"}, headers=world.supervisor.headers
    )
    assert r.json()["items"] == []
    r = await world.client.get("/api/v1/evacuations", headers=world.resident.headers)
    assert r.status_code == 403
    url = f"/api/v1/evacuations/{run}/households"
    r = await world.client.get(url, params={"limit": 2}, headers=world.worker.headers)
    page = r.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    r = await world.client.get(
        url, params={"limit": 2, "cursor": page["next_cursor"]}, headers=world.worker.headers
    )
    assert len(r.json()["items"]) == 1  # G1's three; G2's is not the G1 worker's
    r = await world.client.get(url, headers=world.worker2.headers)
    assert len(r.json()["items"]) == 1
    r = await world.client.get(url, headers=world.dispatcher.headers)
    assert len(r.json()["items"]) == 4
    r = await world.client.get(url, headers=world.dispatcher2.headers)
    assert r.status_code == 404 and r.json()["code"] == "evacuation_not_found"
    reads = await AuditEntry.select(AuditEntry.actor_id).where(
        AuditEntry.action == "evacuation.households.read"
    )
    assert len(reads) == 4 and reads[0]["actor_id"] == world.worker.id
    r = await world.client.get(f"/api/v1/evacuations/{run}", headers=world.dispatcher2.headers)
    assert r.status_code == 404


async def test_a_read_of_one_households_task_is_audited(world):
    """One household's task names its head and their phone, as GET /households/{id} does
    (audited `household.view`): each read leaves who read which household; a refused one
    leaves nothing."""
    h = await world.household(G1)
    run = (await world.start())["id"]
    url = f"/api/v1/evacuations/{run}/households/{h['id']}"
    r = await world.client.get(url, headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.json()["head_phone"] == h["head_phone"]
    r = await world.client.get(url, headers=world.dispatcher2.headers)
    assert r.status_code == 404
    reads = (
        await AuditEntry.select(AuditEntry.actor_id, AuditEntry.object_type, AuditEntry.detail)
        .where(AuditEntry.action == "evacuation.household.view")
        .output(load_json=True)
    )
    assert [(e["actor_id"], e["object_type"], e["detail"]) for e in reads] == [
        (world.dispatcher.id, "evacuation_task", {"evacuation_id": run, "household_id": h["id"]})
    ]


def test_the_workflow_is_one_table():
    assert runs.NEXT["already_safe"] == frozenset()
    assert all(target in runs.NEXT for targets in runs.NEXT.values() for target in targets)


async def test_a_helper_without_push_is_told_in_the_inbox_only(world):
    await world.household(G1)
    await NotificationPreference.insert(
        NotificationPreference(account=world.worker.id, push=False, sms=False)
    ).run()
    await world.start()
    rows = await Notification.select(Notification.channel).where(
        (Notification.kind == "evacuation.started") & (Notification.recipient == world.worker.id)
    )
    assert [r["channel"] for r in rows] == ["inbox"]


async def test_problems_answer_in_both_languages(world):
    h = await world.household(G1)
    run = (await world.start())["id"]
    await world.status(run, h["id"], status="already_safe", note="外出")
    url = f"/api/v1/evacuations/{run}/households/{h['id']}/status"
    body = {"status": "contacted"}
    r = await world.client.post(url, json=body, headers=world.worker.headers)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "该户当前状态不能变更为此状态"
    assert r.json()["detail"] == "状态为 already_safe 的受威胁户不能变更为 contacted"
    r = await world.client.post(
        url, json=body, headers={**world.worker.headers, "Accept-Language": "en"}
    )
    assert r.json()["title"] == "This status cannot follow the household's current one"
    assert r.json()["detail"] == "a household that is already_safe cannot become contacted"


async def test_two_retries_racing_record_one_change(world):
    import asyncio

    h = await world.household(G1)
    run = (await world.start())["id"]
    body = {"status": "contacted", "client_id": "outbox-race-1"}
    r1, r2 = await asyncio.gather(
        world.status(run, h["id"], **body), world.status(run, h["id"], **body)
    )
    assert sorted([r1.status_code, r2.status_code]) == [200, 201]
    assert r1.json() == r2.json()
    assert await EvacuationEvent.count() == 1


async def test_two_phones_racing_never_leave_a_change_half_written(world):
    import asyncio

    h = await world.household(G1)
    run = (await world.start())["id"]
    answers = await asyncio.gather(
        world.status(run, h["id"], key="phone-a-0001", status="contacted"),
        world.status(run, h["id"], by=world.leader, key="phone-b-0001", status="not_at_home"),
    )
    made = [r for r in answers if r.status_code == 201]
    for r in answers:
        assert r.status_code == 201 or (
            r.status_code == 409 and r.json()["code"] == "evacuation_task_changed"
        ), r.text
    events = await EvacuationEvent.select().order_by(EvacuationEvent.id)
    audited = await AuditEntry.count().where(AuditEntry.action == "evacuation.status")
    assert len(events) == len(made) == audited >= 1  # each change with its event and audit
    task = await EvacuationTask.select().where(EvacuationTask.household == h["id"]).first()
    assert task["status"] == events[-1]["to_status"]
    assert [e["from_status"] for e in events] == ["pending", *[e["to_status"] for e in events][:-1]]


async def test_a_filter_does_not_tell_outsiders_that_an_evacuation_exists(world):
    """Someone who neither watches an evacuation's area nor helps one of its households gets
    404 for its households whatever the filters or cursor, as for one that does not exist."""
    await world.household(G1)
    run = (await world.start())["id"]
    url = f"/api/v1/evacuations/{run}/households"
    for params in ({}, {"status": "pending"}, {"status": "moved"}, {"mine": "true"}):
        for person in (world.resident, world.dispatcher2):
            r = await world.client.get(url, params=params, headers=person.headers)
            assert r.status_code == 404, (params, r.text)
            assert r.json()["code"] == "evacuation_not_found"
    # its helper still gets their (filtered) list
    r = await world.client.get(url, params={"status": "moved"}, headers=world.worker.headers)
    assert r.status_code == 200 and r.json()["items"] == []
