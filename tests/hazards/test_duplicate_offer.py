"""The duplicate offer says what the case is (category, status in words, description, when,
how far, and a thumbnail where the photo rules allow), and never who reported it: a resident
is offered another resident's case without its picture or reporter."""

from __future__ import annotations

from datetime import datetime

import pytest
from factories import G1, POINT_IN, T1, file_report, make_person, make_tree, upload_photo

NEAR = {
    "category": "gas",
    "location": {"lat": POINT_IN[G1][0] + 30 / 111_320, "lng": POINT_IN[G1][1]},
}
PERSONAL = {"reporter_id", "reporter_name", "reporter_phone", "reporter", "assignee_id"}


async def ask(client, person, **extra):
    r = await client.post(
        "/api/v1/reports/possible-duplicates", json={**NEAR, **extra}, headers=person.headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_resident_is_offered_what_the_case_is_but_not_its_photo_or_reporter(client):
    await make_tree()
    alice, bob = await make_person(name="甲居民"), await make_person(name="乙居民")
    case = await file_report(client, alice, photo="hopper.jpg", description="三楼楼道燃气味很重")
    [offer] = await ask(client, bob)
    assert offer["id"] == case["id"]
    assert offer["category"] == "gas"
    assert offer["description"] == "三楼楼道燃气味很重"
    assert offer["status_text"]  # in words, not the workflow's code
    assert "_" not in offer["status_text"]
    assert datetime.fromisoformat(offer["created_at"]) == datetime.fromisoformat(case["created_at"])
    assert offer["distance_m"] == pytest.approx(30, abs=1)
    assert offer["thumbnail_url"] is None  # alice's photo is hers and staff's
    assert not PERSONAL & set(offer)
    assert "甲居民" not in str(offer) and alice.phone not in str(offer)
    # and the photo itself stays closed to bob, offer or not
    [photo] = case["photos"]
    r = await client.get(photo["thumbnail_url"], headers=bob.headers)
    assert r.status_code == 403


async def test_a_thumbnail_is_offered_only_to_those_who_may_open_it(client):
    await make_tree()
    alice, bob = await make_person(), await make_person()
    worker = await make_person(("grid_worker", G1))
    outsider = await make_person(("grid_worker", "500103002001001"))  # another community's grid
    case = await file_report(client, alice, photo="hopper.jpg")
    photo_id = case["photos"][0]["id"]

    # the same picture uploaded by bob: he holds that photo, so he may see it
    same = await upload_photo(client, bob, "hopper.jpg")
    assert same == photo_id  # content-addressed
    [offer] = await ask(client, bob, photo_ids=[same])
    assert offer["thumbnail_url"] == f"/api/v1/media/{photo_id}/thumbnail"

    # staff over the grid see it; staff elsewhere are offered it without
    [seen] = await ask(client, worker)
    assert seen["thumbnail_url"] == f"/api/v1/media/{photo_id}/thumbnail"
    [unseen] = await ask(client, outsider)
    assert unseen["thumbnail_url"] is None
    # the reporter sees their own
    [own] = await ask(client, alice)
    assert own["thumbnail_url"]

    # every thumbnail offered opens for the person it was offered to
    for person, offer_ in ((bob, offer), (worker, seen), (alice, own)):
        r = await client.get(offer_["thumbnail_url"], headers=person.headers)
        assert r.status_code == 200, (person, r.text)


async def test_the_offer_after_sending_says_the_same(client):
    await make_tree()
    alice, bob = await make_person(), await make_person()
    first = await file_report(client, alice, description="配电箱冒烟")
    lat, lng = POINT_IN[G1]
    second = await file_report(
        client, bob, photo="flower.jpg", location={"lat": lat, "lng": lng + 20 / 96_800}
    )
    [offer] = second["possible_duplicates"]
    assert offer["id"] == first["id"]
    assert offer["description"] == "配电箱冒烟"
    assert offer["status_text"] and offer["created_at"]
    assert offer["thumbnail_url"] is None
    assert not PERSONAL & set(offer)


async def test_the_console_merge_list_describes_each_candidate(client):
    """The case page's possible duplicates for merging: thumbnail, category, description, time
    and distance of cases the officer may see, nearest first."""
    from grid_backend.hazards import services
    from grid_backend.people.duty import grants_of

    await make_tree()
    alice, bob = await make_person(), await make_person()
    dispatcher = await make_person(("dispatcher", T1))
    first = await file_report(client, alice, description="楼道燃气味")
    lat, lng = POINT_IN[G1]
    second = await file_report(
        client, bob, photo="flower.jpg", location={"lat": lat + 50 / 111_320, "lng": lng}
    )
    actor = services.Actor(dispatcher.id, await grants_of(dispatcher.id))
    case = await services.read_report(report_id=second["id"], actor=actor)
    [candidate] = await services.merge_candidates(case=case, actor=actor)
    assert candidate.id == first["id"]
    assert candidate.description == "楼道燃气味"
    assert candidate.distance_m == pytest.approx(50, abs=1)
    assert candidate.thumbnail_url == first["photos"][0]["thumbnail_url"]
    # a resident (no duties) is offered nothing to merge
    resident = services.Actor(alice.id, [])
    assert await services.merge_candidates(case=case, actor=resident) == []
