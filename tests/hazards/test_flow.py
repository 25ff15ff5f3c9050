"""A case from a resident's phone to closing, as each person in it sees it."""

from __future__ import annotations

from factories import G1, file_report, make_person, make_tree, upload_photo


async def act(client, person, report_id, **body):
    return await client.post(
        f"/api/v1/reports/{report_id}/actions", json=body, headers=person.headers
    )


async def test_resident_report_to_closed_case_with_points(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    worker = await make_person(("grid_worker", G1), employment="full_time")

    case = await file_report(client, resident)
    assert case["status"] == "submitted"
    assert case["grid"]["code"] == G1
    assert case["township"]["code"] == "500103001"
    assert case["photos"][0]["thumbnail_url"].endswith("/thumbnail")
    rid = case["id"]

    # the dispatcher sees it in the queue with the actions the workflow allows now
    queue = (await client.get("/api/v1/reports", headers=dispatcher.headers)).json()
    assert [c["id"] for c in queue["items"]] == [rid]
    detail = (await client.get(f"/api/v1/reports/{rid}", headers=dispatcher.headers)).json()
    assert set(detail["actions"]) >= {"register", "reject", "merge", "relocate"}

    r = await act(client, dispatcher, rid, action="register")
    assert r.status_code == 200, r.text
    r = await act(client, dispatcher, rid, action="dispatch", assignee_id=worker.id)
    assert r.json()["status"] == "dispatched"
    r = await act(client, worker, rid, action="acknowledge")
    assert r.json()["status"] == "in_progress"
    after = await upload_photo(client, worker, "flower.jpg")
    r = await act(client, worker, rid, action="report_fixed", photo_ids=[after], note="已关阀更换")
    assert r.json()["status"] == "pending_check"
    r = await act(client, dispatcher, rid, action="pass_check")
    assert r.json()["status"] == "closed"

    mine = (await client.get("/api/v1/me/reports", headers=resident.headers)).json()
    assert mine["items"][0]["status_text"] == "已办结"
    seen = (await client.get(f"/api/v1/reports/{rid}", headers=resident.headers)).json()
    assert seen["status"] == "closed"
    assert seen["actions"] == []
    assert all(e["actor_name"] is None for e in seen["timeline"])
    points = (await client.get("/api/v1/me/points", headers=resident.headers)).json()
    assert points["balance"] == 6  # +1 registered, +5 confirmed
    # the resident sees the after photo of their own case
    photo = seen["photos"][-1]
    r = await client.get(photo["thumbnail_url"], headers=resident.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"


async def test_rework_after_a_fix_on_the_spot_has_a_deadline(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    worker = await make_person(("grid_worker", G1), employment="full_time")
    rid = (await file_report(client, resident))["id"]
    before = await upload_photo(client, worker, "hopper.jpg")
    after = await upload_photo(client, worker, "flower.jpg")
    r = await act(
        client, worker, rid, action="fix_on_spot", before_photo_ids=[before], photo_ids=[after]
    )
    assert r.json()["status"] == "pending_check"
    r = await act(client, dispatcher, rid, action="fail_check", reason="阀门仍有气味")
    body = r.json()
    assert body["status"] == "in_progress"
    assert body["rework_count"] == 1
    assert body["due_at"] is not None
    assert body["due_at"] == body["rectify_due_at"]


async def test_the_reporter_and_the_assignee_hear_of_the_case_in_their_inbox(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    worker = await make_person(("grid_worker", G1), employment="full_time")
    rid = (await file_report(client, resident))["id"]
    await act(client, dispatcher, rid, action="register")
    await act(client, dispatcher, rid, action="dispatch", assignee_id=worker.id)

    inbox = (await client.get("/api/v1/me/notifications", headers=resident.headers)).json()
    kinds = sorted(n["kind"] for n in inbox["items"])
    assert kinds == ["case.status_changed", "case.status_changed", "points.awarded"]
    assert inbox["unread_count"] == 3
    theirs = (await client.get("/api/v1/me/notifications", headers=worker.headers)).json()
    assert [n["kind"] for n in theirs["items"]] == ["case.assigned"]
    # a refused action notifies nobody
    r = await act(client, worker, rid, action="register")
    assert r.status_code == 409
    again = (await client.get("/api/v1/me/notifications", headers=resident.headers)).json()
    assert again["unread_count"] == 3
