"""Hotline intake (12345/12350) and staff reports for a caller: scoping, the caller's account
or an SMS, the place as a position, a grid or an address, idempotent retries, the channel on the
case and in the ledger, attaching a call to an open case, and the place search."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from factories import (
    C1,
    G1,
    G2,
    G3,
    POINT_IN,
    T1,
    file_report,
    make_person,
    make_tree,
    upload_photo,
)

from grid_backend.core import clock
from grid_backend.core.tables import AuditEntry
from grid_backend.hazards.tables import HazardEvent, HazardReport, HotlineCall
from grid_backend.response.tables import ResponseRecord

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CALLER = "13900001111"
_SMS = re.compile(r"sms \(no gateway, development\) \S+ to (\S+): (.*)")


@pytest.fixture
async def world(client):
    clock.set_clock(lambda: NOW)
    areas = await make_tree()
    dispatcher = await make_person(("dispatcher", T1), name="王值班")
    return client, areas, dispatcher


@pytest.fixture
def texts(caplog):
    """The SMS texts sent to a phone, read from the development log (no gateway set)."""
    caplog.set_level("INFO", logger="grid_backend.notify")

    def sent_to(phone: str) -> list[str]:
        masked = f"{phone[:3]}****{phone[-4:]}"
        found = [m for m in map(_SMS.search, caplog.messages) if m]
        return [m.group(2) for m in found if m.group(1) == masked]

    return sent_to


def call(grid: str = G1, **extra: object) -> dict:
    lat, lng = POINT_IN[grid]
    body: dict = {
        "channel": "hotline_12345",
        "caller_phone": "+86 139-0000-1111",
        "caller_name": "张来电",
        "category": "gas",
        "description": "楼道燃气味很重",
        "location": {"lat": lat, "lng": lng},
    }
    body.update(extra)
    return body


async def take(client, person, body: dict, **headers: str):
    return await client.post(
        "/api/v1/hotline-reports", json=body, headers={**person.headers, **headers}
    )


async def test_an_unknown_caller_is_texted_the_case_number(world, texts):
    client, _areas, dispatcher = world
    r = await take(client, dispatcher, call())
    assert r.status_code == 201, r.text
    answer = r.json()
    case_id = answer["report_id"]
    assert answer["caller_linked"] is False
    assert answer["call"]["sms_status"] == "sent"
    assert answer["call"]["caller_phone"] == CALLER  # the dispatcher may call them back
    assert answer["case_url"] == f"/console/cases/{case_id}"
    (sms,) = texts(CALLER)
    assert f"第{case_id}号案件" in sms and "12345" in sms and "第一网格" in sms
    case = await HazardReport.objects().get(HazardReport.id == case_id)
    assert case.channel == "hotline_12345"
    assert case.reporter == dispatcher.id and case.reporter_is_staff
    stored = await HotlineCall.objects().get(HotlineCall.report == case_id)
    assert stored.caller_phone == CALLER and stored.sms_status == "sent"
    assert str(case_id) in stored.sms_text
    # the case is staff's to read with its call; the phone never on its timeline
    read = (await client.get(f"/api/v1/reports/{case_id}", headers=dispatcher.headers)).json()
    assert read["channel"] == "hotline_12345"
    assert [c["caller_phone"] for c in read["calls"]] == [CALLER]
    events = await HazardEvent.select().where(HazardEvent.report == case_id).run()
    assert CALLER not in repr(events)
    assert await AuditEntry.exists().where(AuditEntry.action == "hotline.file").run()


async def test_a_registered_caller_owns_the_case(world, texts):
    client, _areas, dispatcher = world
    resident = await make_person(name="李居民")
    r = await take(client, dispatcher, call(caller_phone=resident.phone))
    assert r.status_code == 201, r.text
    assert r.json()["caller_linked"] is True
    assert r.json()["call"]["sms_status"] == ""
    assert texts(resident.phone) == []  # their app tells them
    case_id = r.json()["report_id"]
    mine = await client.get("/api/v1/me/reports", headers=resident.headers)
    assert [c["id"] for c in mine.json()["items"]] == [case_id]
    case = await HazardReport.objects().get(HazardReport.id == case_id)
    assert case.reporter == resident.id and not case.reporter_is_staff
    # the resident sees their own case, and no caller details
    own = (await client.get(f"/api/v1/reports/{case_id}", headers=resident.headers)).json()
    assert own["calls"] == []


async def test_an_officer_cannot_file_outside_their_area(world):
    client, areas, dispatcher = world
    r = await take(client, dispatcher, call(grid=G3))  # T2's grid
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "place_outside_your_areas"
    r = await take(client, dispatcher, call(location=None, area_id=areas[G3]))
    assert r.json()["code"] == "place_outside_your_areas"
    resident = await make_person()
    r = await take(client, resident, call())
    assert r.status_code == 403 and r.json()["code"] == "place_outside_your_areas"
    worker = await make_person(("grid_worker", G1), employment="full_time")
    assert (await take(client, worker, call())).status_code == 403
    assert await HazardReport.count() == 0


async def test_a_bad_phone_and_a_missing_place_are_named(world):
    client, _areas, dispatcher = world
    r = await take(client, dispatcher, call(caller_phone="12345"))
    assert r.status_code == 422
    assert r.json()["code"] == "phone_invalid"
    assert [e["field"] for e in r.json()["errors"]] == ["caller_phone"]
    r = await take(client, dispatcher, call(location=None))
    assert r.status_code == 422 and r.json()["code"] == "place_required"
    r = await take(client, dispatcher, call(address="较场口社区"))  # two places at once
    assert r.status_code == 422 and r.json()["code"] == "place_required"
    r = await take(client, dispatcher, call(channel="open311"))
    assert r.status_code == 422


async def test_a_grid_or_community_chosen_by_id_routes_inside_it(world):
    client, areas, dispatcher = world
    r = await take(client, dispatcher, call(location=None, area_id=areas[G2], channel="staff"))
    assert r.status_code == 201, r.text
    case = await HazardReport.objects().get(HazardReport.id == r.json()["report_id"])
    assert case.grid == areas[G2] and case.channel == "staff" and case.location_source == "manual"
    r = await take(client, dispatcher, call(location=None, area_id=areas[C1]))
    assert r.status_code == 201, r.text
    assert r.json()["place_name"] == "较场口社区 / 第一网格"  # the community's first grid


async def test_an_address_is_matched_to_a_grid_or_refused(world):
    client, areas, dispatcher = world
    r = await take(client, dispatcher, call(location=None, address="较场口社区第二网格民生路12号"))
    assert r.status_code == 201, r.text
    case = await HazardReport.objects().get(HazardReport.id == r.json()["report_id"])
    assert case.grid == areas[G2]
    assert r.json()["call"]["address"] == "较场口社区第二网格民生路12号"
    r = await take(client, dispatcher, call(location=None, address="沙坪坝区天星桥"))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "address_not_matched"
    assert [e["field"] for e in r.json()["errors"]] == ["address"]
    # a place outside the officer's areas is not matched either
    r = await take(client, dispatcher, call(location=None, address="朝东社区1号"))
    assert r.json()["code"] == "address_not_matched"


async def test_a_retried_call_files_once(world, texts):
    client, _areas, dispatcher = world
    first = await take(client, dispatcher, call(), **{"Idempotency-Key": "call-0001-retry"})
    again = await take(client, dispatcher, call(), **{"Idempotency-Key": "call-0001-retry"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["report_id"] == first.json()["report_id"]
    other = await take(
        client, dispatcher, call(description="别的"), **{"Idempotency-Key": "call-0001-retry"}
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert await HazardReport.count() == 1 and len(texts(CALLER)) == 1


async def test_the_channel_is_in_the_ledger_export(world):
    client, _areas, dispatcher = world
    case_id = (await take(client, dispatcher, call(channel="hotline_12350"))).json()["report_id"]
    r = await client.get(
        "/api/v1/reports/export",
        params={"format": "csv", "from": "2026-05-10", "to": "2026-05-10"},
        headers=dispatcher.headers,
    )
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["案件编号"] == str(case_id) and row["上报渠道"] == "12350 热线"
    assert row["上报人"] == "张来电" and row["上报人电话"] == "139****1111"  # the caller
    # and in the dashboard's figures and page
    period = {"from": "2026-05-01", "to": "2026-05-10"}
    figures = await client.get("/api/v1/stats/dashboard", params=period, headers=dispatcher.headers)
    assert figures.json()["channels"] == [{"channel": "hotline_12350", "cases": 1}]
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/", params=period)
    assert 'data-channel="hotline_12350"' in page.text and "12350 热线" in page.text


async def test_a_script_in_the_description_is_kept_as_text(world):
    client, _areas, dispatcher = world
    r = await take(client, dispatcher, call(description=SCRIPT, caller_name=SCRIPT[:60]))
    assert r.status_code == 201, r.text
    read = await client.get(f"/api/v1/reports/{r.json()['report_id']}", headers=dispatcher.headers)
    assert read.json()["description"] == SCRIPT
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get(f"/console/cases/{r.json()['report_id']}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
    assert "热线" in page.text and "短信已发送" in page.text  # the channel and the SMS shown
    form = await client.get("/console/hotline")
    assert form.status_code == 200 and 'id="hotline-form"' in form.text


async def test_an_urgent_call_alerts_the_chain_and_photos_go_with_it(world):
    client, _areas, dispatcher = world
    await make_person(("responder", G1))
    photo = await upload_photo(client, dispatcher)
    r = await take(client, dispatcher, call(urgent=True, photo_ids=[photo]))
    assert r.status_code == 201, r.text
    case_id = r.json()["report_id"]
    assert await ResponseRecord.exists().where(ResponseRecord.report == case_id).run()
    read = (await client.get(f"/api/v1/reports/{case_id}", headers=dispatcher.headers)).json()
    assert [p["id"] for p in read["photos"]] == [photo]


async def test_a_call_can_join_an_open_case(world, texts):
    client, _areas, dispatcher = world
    resident = await make_person()
    case = await file_report(client, resident)
    check = await client.post(
        "/api/v1/reports/possible-duplicates",
        json={"category": "gas", "location": call()["location"]},
        headers=dispatcher.headers,
    )
    assert [d["id"] for d in check.json()] == [case["id"]]
    r = await take(client, dispatcher, call(attach_to=case["id"], description="又一位邻居来电"))
    assert r.status_code == 201, r.text
    assert r.json()["attached"] is True and r.json()["report_id"] == case["id"]
    assert await HazardReport.count() == 1
    read = (await client.get(f"/api/v1/reports/{case['id']}", headers=dispatcher.headers)).json()
    assert read["supporters"] == 1 and read["calls"][0]["attached"] is True
    assert any(e["action"] == "hotline_call" and "邻居" in e["note"] for e in read["timeline"])
    assert len(texts(CALLER)) == 1
    # the reporter's own view shows neither the call nor its note
    own = (await client.get(f"/api/v1/reports/{case['id']}", headers=resident.headers)).json()
    assert own["calls"] == [] and not any(e["action"] == "hotline_call" for e in own["timeline"])


async def test_the_caller_phone_is_masked_for_staff_who_may_not_call_back(world):
    client, _areas, dispatcher = world
    case_id = (await take(client, dispatcher, call())).json()["report_id"]
    instructor = await make_person(("grid_instructor", G1))
    read = (await client.get(f"/api/v1/reports/{case_id}", headers=instructor.headers)).json()
    assert read["calls"][0]["caller_phone"] == "139****1111"


async def test_places_are_searched_by_name_within_scope(world):
    client, areas, dispatcher = world
    r = await client.get(
        "/api/v1/hotline-reports/places", params={"q": "网格"}, headers=dispatcher.headers
    )
    assert r.status_code == 200, r.text
    found = r.json()["items"]
    assert {p["id"] for p in found} == {areas[G1], areas[G2]}  # not T2's grid
    assert all(p["parent_name"] == "较场口社区" and p["lat"] for p in found)
    page = await client.get(
        "/api/v1/hotline-reports/places",
        params={"q": "", "limit": 1},
        headers=dispatcher.headers,
    )
    assert len(page.json()["items"]) == 1 and page.json()["next_cursor"]
    resident = await make_person()
    none = await client.get("/api/v1/hotline-reports/places", headers=resident.headers)
    assert none.json()["items"] == []


async def test_a_call_cannot_join_a_case_outside_the_operators_areas(world):
    """Another township's case answers as a missing one does (404 `report_not_found`): case
    ids tried one by one tell the operator nothing, and nothing is written."""
    client, _areas, dispatcher = world
    elsewhere = await file_report(client, await make_person(), grid=G3)
    outside = await take(client, dispatcher, call(attach_to=elsewhere["id"]))
    missing = await take(client, dispatcher, call(attach_to=elsewhere["id"] + 1000))
    assert (outside.status_code, outside.json()["code"]) == (404, "report_not_found")
    assert (missing.status_code, missing.json()["code"]) == (404, "report_not_found")
    read = await HazardReport.select(HazardReport.supporters).where(
        HazardReport.id == elsewhere["id"]
    )
    assert read[0]["supporters"] == 0
