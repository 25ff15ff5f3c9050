"""'Me too' follows the reading rule and plausibility (docs/api.md, "Me too"; issue 10 §5):
sweeping ids answers exactly like GET for every case the caller may not see, and a resident may
support only a case offered to them as a duplicate of their own report, or one near their own
recent reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from factories import G1, G2, G3, T1, file_report, make_person, make_tree, offered

from grid_backend.core import clock
from grid_backend.hazards.tables import DuplicateOffer

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)


def without_instance(response) -> str:
    """The problem body without `instance` (the request's own path)."""
    body = response.json()
    assert body.pop("instance").startswith("/api/v1/reports/")
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


async def act(client, person, case_id: int, **body):
    r = await client.post(f"/api/v1/reports/{case_id}/actions", json=body, headers=person.headers)
    assert r.status_code == 200, r.text


async def test_sweeping_ids_answers_like_reading_them(client):
    clock.set_clock(lambda: NOW)
    await make_tree()
    reporter = await make_person(name="甲")
    dispatcher = await make_person(("dispatcher", T1))
    worker = await make_person(("grid_worker", G1), employment="full_time")
    open_g1 = (await file_report(client, reporter))["id"]
    registered = (await file_report(client, reporter, grid=G2, category="fire"))["id"]
    await act(client, dispatcher, registered, action="register")
    rejected = (await file_report(client, reporter, grid=G2, category="flooding"))["id"]
    await act(client, dispatcher, rejected, action="reject", reason="不属实")
    merged = (await file_report(client, reporter, category="fire", photo="flower.jpg"))["id"]
    await act(client, dispatcher, merged, action="merge", into=open_g1)
    elsewhere = (await file_report(client, reporter, grid=G3, category="landslide"))["id"]
    cases = [open_g1, registered, rejected, merged, elsewhere]

    sweeper = await make_person(name="扫号者")  # a resident with no reports and no offers
    english = {**sweeper.headers, "Accept-Language": "en"}
    answers = set()
    for case_id in [*cases, max(cases) + 1, max(cases) + 1000]:
        for headers in (sweeper.headers, english):
            read = await client.get(f"/api/v1/reports/{case_id}", headers=headers)
            support = await client.post(f"/api/v1/reports/{case_id}/support", headers=headers)
            assert read.status_code == support.status_code == 404
            assert support.headers["content-type"] == read.headers["content-type"]
            assert without_instance(support) == without_instance(read)
            answers.add((headers is english, without_instance(support)))
    # whether the case exists or not, whatever its state: one answer per language
    assert len(answers) == 2

    # a grid worker sees (and may support) the cases of their grid, and nothing else
    r = await client.post(f"/api/v1/reports/{open_g1}/support", headers=worker.headers)
    assert (r.status_code, r.json()["supporters"]) == (200, 2)  # the merged case's reporter too
    for case_id in (registered, rejected, elsewhere):
        read = await client.get(f"/api/v1/reports/{case_id}", headers=worker.headers)
        support = await client.post(f"/api/v1/reports/{case_id}/support", headers=worker.headers)
        assert read.status_code == support.status_code == 404
        assert without_instance(support) == without_instance(read)


async def test_an_offer_lets_a_resident_see_and_support_until_it_goes_stale(client):
    clock.set_clock(lambda: NOW)
    await make_tree()
    reporter, neighbour = await make_person(name="甲"), await make_person(name="邻居")
    case = (await file_report(client, reporter))["id"]

    assert await offered(client, neighbour) == [case]
    seen = await client.get(f"/api/v1/reports/{case}", headers=neighbour.headers)
    assert seen.status_code == 200
    view = seen.json()
    assert view["reporter_id"] is None and view["reporter_name"] is None
    assert view["photos"] == [] and view["actions"] == []
    # the offer went stale: still visible, no longer plausible
    stale = NOW - timedelta(hours=25)  # the offer was made yesterday
    await DuplicateOffer.update({DuplicateOffer.offered_at: stale}, force=True).run()
    r = await client.post(f"/api/v1/reports/{case}/support", headers=neighbour.headers)
    assert (r.status_code, r.json()["code"]) == (403, "support_not_plausible")
    assert "24" in r.json()["detail"] and "小时" in r.json()["detail"]
    r = await client.post(
        f"/api/v1/reports/{case}/support",
        headers={**neighbour.headers, "Accept-Language": "en"},
    )
    assert (r.status_code, r.json()["code"]) == (403, "support_not_plausible")
    assert "offered to you" in r.json()["detail"]

    # a report of their own far away (G2, about 6.7 km) does not make it plausible ...
    await file_report(client, neighbour, grid=G2, category="fire", photo="flower.jpg")
    r = await client.post(f"/api/v1/reports/{case}/support", headers=neighbour.headers)
    assert r.status_code == 403
    # ... one of their own within 2 km in the last 90 days does
    await file_report(client, neighbour, category="fire", photo="flower.jpg")
    r = await client.post(f"/api/v1/reports/{case}/support", headers=neighbour.headers)
    assert (r.status_code, r.json()["supporters"]) == (200, 1)


async def test_the_duplicate_offer_of_a_submission_lets_its_reporter_say_me_too(client):
    clock.set_clock(lambda: NOW)
    await make_tree()
    reporter, neighbour = await make_person(name="甲"), await make_person(name="邻居")
    first = (await file_report(client, reporter))["id"]
    second = await file_report(client, neighbour)
    assert [d["id"] for d in second["possible_duplicates"]] == [first]
    r = await client.post(f"/api/v1/reports/{first}/support", headers=neighbour.headers)
    assert (r.status_code, r.json()) == (200, {"report_id": first, "supporters": 1})


async def test_an_offer_is_for_the_person_it_was_made_to(client):
    clock.set_clock(lambda: NOW)
    await make_tree()
    reporter, asked, other = [await make_person() for _ in range(3)]
    case = (await file_report(client, reporter))["id"]
    assert await offered(client, asked) == [case]
    assert await offered(client, other, category="fire") == []  # another kind: nothing offered
    r = await client.post(f"/api/v1/reports/{case}/support", headers=other.headers)
    assert r.status_code == 404
    r = await client.post(f"/api/v1/reports/{case}/support", headers=asked.headers)
    assert r.status_code == 200
