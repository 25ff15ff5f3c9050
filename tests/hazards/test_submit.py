"""Submitting a hazard: validation, routing, multipart, idempotent retries, EXIF checks,
possible duplicates and "me too" support."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from factories import (
    G1,
    G2,
    G3,
    IMAGES,
    POINT_IN,
    file_report,
    make_person,
    make_tree,
    offered,
    upload_photo,
)
from PIL import ExifTags, Image

from grid_backend.core import geo
from grid_backend.hazards.tables import HazardEvent, HazardReport, ReportPhoto, Support


def jpeg(colour: tuple[int, int, int], gps: tuple[float, float] | None = None) -> bytes:
    """A small distinct JPEG, optionally with an EXIF GPS position (lat, lng)."""
    im = Image.new("RGB", (48, 32), colour)
    exif = Image.Exif()
    if gps:
        ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        ifd[ExifTags.GPS.GPSLatitudeRef] = "N"
        ifd[ExifTags.GPS.GPSLatitude] = (gps[0], 0.0, 0.0)
        ifd[ExifTags.GPS.GPSLongitudeRef] = "E"
        ifd[ExifTags.GPS.GPSLongitude] = (gps[1], 0.0, 0.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


async def upload_bytes(client, person, data: bytes) -> int:
    r = await client.post(
        "/api/v1/media", headers=person.headers, files={"file": ("p.jpg", data, "image/jpeg")}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def body_for(photo_ids: list[int], grid: str = G1, **extra: object) -> dict:
    lat, lng = POINT_IN[grid]
    body = {
        "category": "gas",
        "description": "燃气管道漏气",
        "location": {"lat": lat, "lng": lng},
        "photo_ids": photo_ids,
        "reporter_safe": True,
    }
    body.update(extra)
    return body


async def submit(client, person, body: dict, **headers: str):
    return await client.post("/api/v1/reports", json=body, headers={**person.headers, **headers})


def assert_invalid(r, code: str, field: str, status: int = 422) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == code, problem
    assert field in [e["field"] for e in problem.get("errors", [])], problem


# --- JSON submission ---------------------------------------------------------------------------


async def test_json_submission_is_routed_to_the_grid_and_its_ancestors(client):
    ids = await make_tree()
    resident = await make_person()
    pid = await upload_photo(client, resident)
    r = await submit(client, resident, body_for([pid], grid=G2, urgent=True))
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "submitted"
    assert case["channel"] == "resident_app"
    assert case["grid"] == {"id": ids[G2], "code": G2, "name": "第二网格"}
    assert case["township"]["code"] == "500103001"
    assert case["reporter_id"] == resident.id
    assert case["urgent"] is True
    assert case["reporter_safe"] is True
    assert case["outside_grid"] is False
    assert [p["id"] for p in case["photos"]] == [pid]
    assert case["photos"][0]["kind"] == "evidence"
    assert case["triage_due_at"] is not None
    row = await HazardReport.select().where(HazardReport.id == case["id"]).first().run()
    assert row["grid"] == ids[G2]
    assert row["community"] == ids["500103001001"]
    assert row["township"] == ids["500103001"]
    assert row["district"] == ids["500103"]
    assert row["area_path"] == case["area_path"] == f"500000/500103/500103001/500103001001/{G2}/"
    events = await HazardEvent.select().where(HazardEvent.report == case["id"]).run()
    assert [(e["action"], e["to_status"]) for e in events] == [("submit", "submitted")]


async def test_gcj02_location_is_converted_before_routing(client):
    await make_tree()
    resident = await make_person()
    pid = await upload_photo(client, resident)
    # 200 m west of the G1/G3 border in WGS-84; the GCJ-02 coordinates of the same spot lie
    # east of it, so routing the numbers as sent would pick the wrong township
    wgs_lng, wgs_lat = 106.548, 29.52
    gcj_lng, gcj_lat = geo.wgs84_to_gcj02(wgs_lng, wgs_lat)
    assert gcj_lng > 106.55
    body = body_for([pid])
    body["location"] = {"lat": gcj_lat, "lng": gcj_lng, "datum": "gcj02", "source": "map_pick"}
    r = await submit(client, resident, body)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["grid"]["code"] == G1
    assert case["lat"] == pytest.approx(wgs_lat, abs=1e-5)
    assert case["lng"] == pytest.approx(wgs_lng, abs=1e-5)
    row = await HazardReport.select().where(HazardReport.id == case["id"]).first().run()
    assert (row["sent_lat"], row["sent_lng"], row["sent_datum"]) == (gcj_lat, gcj_lng, "gcj02")
    assert row["location_source"] == "map_pick"

    # the same numbers as WGS-84 land in the other township
    body["location"]["datum"] = "wgs84"
    r = await submit(client, resident, body)
    assert r.json()["grid"]["code"] == G3


async def test_is_mock_and_accuracy_are_stored_and_shown(client):
    await make_tree()
    resident = await make_person()
    pid = await upload_photo(client, resident)
    body = body_for([pid])
    body["location"].update(accuracy_m=35.5, is_mock=True)
    case = (await submit(client, resident, body)).json()
    assert case["accuracy_m"] == 35.5
    assert case["is_mock"] is True
    row = await HazardReport.select().where(HazardReport.id == case["id"]).first().run()
    assert row["is_mock"] is True
    assert row["accuracy_m"] == 35.5
    plain = (await submit(client, resident, body_for([pid]))).json()
    assert plain["is_mock"] is False
    assert plain["accuracy_m"] is None


async def test_submission_errors_name_the_field(client):
    await make_tree()
    resident = await make_person()
    other = await make_person()
    pid = await upload_photo(client, resident)
    theirs = await upload_photo(client, other, "flower.jpg")

    far = body_for([pid])
    far["location"] = {"lat": 31.2, "lng": 108.3}  # in Chongqing's north-east, no toy grid
    assert_invalid(await submit(client, resident, far), "outside_all_grids", "location")
    assert_invalid(
        await submit(client, resident, body_for([pid], category="volcano")),
        "category_unknown",
        "category",
    )
    assert_invalid(await submit(client, resident, body_for([])), "photo_required", "photo_ids")
    assert_invalid(
        await submit(client, resident, body_for([pid, theirs])), "photo_not_yours", "photo_ids"
    )
    assert_invalid(
        await submit(client, resident, body_for([999_999])), "photo_not_yours", "photo_ids"
    )
    assert_invalid(
        await submit(client, resident, body_for([pid], level="major")), "validation_failed", "level"
    )
    unsafe = body_for([pid])
    del unsafe["reporter_safe"]
    assert_invalid(
        await submit(client, resident, unsafe), "reporter_safe_required", "reporter_safe"
    )
    assert_invalid(
        await submit(client, resident, body_for([pid, pid])), "validation_failed", "photo_ids"
    )
    assert_invalid(
        await submit(client, resident, body_for([pid], surprise=1)), "validation_failed", "surprise"
    )
    nested = body_for([pid])
    nested["location"]["altitude"] = 300
    assert_invalid(await submit(client, resident, nested), "validation_failed", "location.altitude")
    nameless = body_for([pid])
    del nameless["category"]
    assert_invalid(await submit(client, resident, nameless), "validation_failed", "category")
    bad_lat = body_for([pid])
    bad_lat["location"]["lat"] = 123
    assert_invalid(await submit(client, resident, bad_lat), "validation_failed", "location.lat")
    r = await client.post(
        "/api/v1/reports",
        content=b"{not json",
        headers={**resident.headers, "Content-Type": "application/json"},
    )
    assert_invalid(r, "validation_failed", "body")
    assert await HazardReport.count().run() == 0


async def test_staff_may_set_the_level_and_need_not_confirm_safety(client):
    await make_tree()
    worker = await make_person(("grid_worker", G1), employment="full_time")
    pid = await upload_photo(client, worker)
    body = body_for([pid], level="major")
    del body["reporter_safe"]
    r = await submit(client, worker, body)
    assert r.status_code == 201, r.text
    assert r.json()["level"] == "major"
    assert r.json()["channel"] == "grid_patrol"


async def test_more_than_nine_photos_are_refused(client):
    await make_tree()
    resident = await make_person()
    ids = [await upload_bytes(client, resident, jpeg((20 * i, 100, 50))) for i in range(10)]
    assert len(set(ids)) == 10
    assert_invalid(
        await submit(client, resident, body_for(ids)), "photo_count_exceeded", "photo_ids"
    )
    r = await submit(client, resident, body_for(ids[:9]))
    assert r.status_code == 201, r.text
    assert [p["id"] for p in r.json()["photos"]] == ids[:9]  # in the order given


# --- multipart submission ----------------------------------------------------------------------


@pytest.mark.usefixtures("photo_store")  # photos in reports: on disk and in S3
async def test_multipart_with_a_data_field_and_several_photos(client):
    await make_tree()
    resident = await make_person()
    lat, lng = POINT_IN[G1]
    data = {
        "category": "fire",
        "description": "楼道堆放杂物",
        "location": {"lat": lat, "lng": lng, "accuracy_m": 8},
        "reporter_safe": True,
    }
    files = [
        ("photos", ("a.jpg", (IMAGES / "hopper.jpg").read_bytes(), "image/jpeg")),
        ("photos", ("b.heic", (IMAGES / "arrow.heic").read_bytes(), "image/heic")),
    ]
    r = await client.post(
        "/api/v1/reports", headers=resident.headers, data={"data": json.dumps(data)}, files=files
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["category"] == "fire"
    assert case["accuracy_m"] == 8
    assert len(case["photos"]) == 2
    assert await ReportPhoto.count().where(ReportPhoto.report == case["id"]).run() == 2
    # the photos are the reporter's like any upload
    for photo in case["photos"]:
        assert (await client.get(photo["display_url"], headers=resident.headers)).status_code == 200


@pytest.mark.usefixtures("photo_store")  # photos in reports: on disk and in S3
async def test_multipart_with_flat_fields(client):
    await make_tree()
    resident = await make_person()
    earlier = await upload_photo(client, resident, "flower.jpg")
    gcj_lng, gcj_lat = geo.wgs84_to_gcj02(106.548, 29.52)
    fields = {
        "category": "gas",
        "description": "闻到燃气味",
        "lat": str(gcj_lat),
        "lng": str(gcj_lng),
        "datum": "gcj02",
        "accuracy_m": "12.5",
        "is_mock": "false",
        "reporter_safe": "true",
        "urgent": "on",
        "photo_ids": str(earlier),
    }
    files = [
        ("photos", ("a.jpg", (IMAGES / "hopper.jpg").read_bytes(), "image/jpeg")),
        ("photos", ("b.jpg", (IMAGES / "pil_sample_cmyk.jpg").read_bytes(), "image/jpeg")),
    ]
    r = await client.post("/api/v1/reports", headers=resident.headers, data=fields, files=files)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["grid"]["code"] == G1
    assert case["urgent"] is True
    assert case["accuracy_m"] == 12.5
    assert case["description"] == "闻到燃气味"
    assert len(case["photos"]) == 3
    assert case["photos"][0]["id"] == earlier


@pytest.mark.usefixtures("photo_store")  # photos in reports: on disk and in S3
async def test_multipart_errors(client):
    await make_tree()
    resident = await make_person()
    lat, lng = POINT_IN[G1]
    good = {"category": "gas", "lat": str(lat), "lng": str(lng), "reporter_safe": "true"}
    photo = ("photos", ("a.jpg", (IMAGES / "hopper.jpg").read_bytes(), "image/jpeg"))

    # files= with a text part keeps the request multipart even without a photo
    r = await client.post(
        "/api/v1/reports", headers=resident.headers, files={k: (None, v) for k, v in good.items()}
    )
    assert_invalid(r, "photo_required", "photo_ids")
    r = await client.post(
        "/api/v1/reports", headers=resident.headers, data={**good, "lat": "north"}, files=[photo]
    )
    assert_invalid(r, "validation_failed", "location.lat")
    truncated = ("photos", ("t.jpg", (IMAGES / "truncated_jpeg.jpg").read_bytes(), "image/jpeg"))
    r = await client.post(
        "/api/v1/reports", headers=resident.headers, data=good, files=[photo, truncated]
    )
    assert_invalid(r, "photo_truncated", "photos")
    ten = [("photos", (f"{i}.jpg", jpeg((i, i, i)), "image/jpeg")) for i in range(10)]
    r = await client.post("/api/v1/reports", headers=resident.headers, data=good, files=ten)
    assert_invalid(r, "photo_count_exceeded", "photos")
    assert await HazardReport.count().run() == 0


# --- idempotent retries ------------------------------------------------------------------------


async def test_idempotency_key_replays_the_first_result(client):
    await make_tree()
    resident = await make_person()
    pid = await upload_photo(client, resident)
    body = body_for([pid])
    key = {"Idempotency-Key": "3f1c2a9e-0b7d-4c55-9d1e-6f0a2b3c4d5e"}
    first = await submit(client, resident, body, **key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await submit(client, resident, body, **key)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await HazardReport.count().run() == 1

    changed = await submit(client, resident, {**body, "description": "另一处"}, **key)
    assert changed.status_code == 409, changed.text
    assert changed.json()["code"] == "idempotency_conflict"
    assert await HazardReport.count().run() == 1

    # keys belong to their account: someone else's same key is a new report
    other = await make_person()
    theirs = await upload_photo(client, other)
    r = await submit(client, other, body_for([theirs]), **key)
    assert r.status_code == 201
    assert r.json()["id"] != first.json()["id"]

    r = await submit(client, resident, body, **{"Idempotency-Key": "short"})
    assert_invalid(r, "validation_failed", "Idempotency-Key")


async def test_client_id_in_the_body_works_like_the_header(client):
    await make_tree()
    resident = await make_person()
    pid = await upload_photo(client, resident)
    body = body_for([pid], client_id="a7e3b7c0-phone-draft-17")
    first = await submit(client, resident, body)
    assert first.status_code == 201
    again = await submit(client, resident, body)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    changed = await submit(client, resident, {**body, "urgent": True})
    assert changed.status_code == 409
    assert changed.json()["code"] == "idempotency_conflict"
    # the header and the body id name the same thing
    r = await submit(
        client, resident, {**body, "client_id": None}, **{"Idempotency-Key": body["client_id"]}
    )
    assert r.status_code == 200
    assert r.json()["id"] == first.json()["id"]
    assert await HazardReport.count().run() == 1


async def test_parallel_replays_create_one_report(client):
    await make_tree()
    resident = await make_person()
    pid = await upload_photo(client, resident)
    body = body_for([pid])
    key = {"Idempotency-Key": "parallel-retry-0001"}
    responses = await asyncio.gather(*(submit(client, resident, body, **key) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 200, 200, 201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await HazardReport.count().run() == 1
    assert await ReportPhoto.count().run() == 1
    assert await HazardEvent.count().run() == 1

    # and through the body's client id, with multipart photos, too
    lat, lng = POINT_IN[G1]
    fields = {
        "category": "gas",
        "lat": str(lat),
        "lng": str(lng),
        "reporter_safe": "true",
        "client_id": "parallel-multipart-0002",
    }

    async def post():
        return await client.post(
            "/api/v1/reports",
            headers=resident.headers,
            data=fields,
            files=[("photos", ("a.jpg", (IMAGES / "flower.jpg").read_bytes(), "image/jpeg"))],
        )

    responses = await asyncio.gather(*(post() for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201], [
        r.text for r in responses
    ]
    assert await HazardReport.count().run() == 2


# --- EXIF position check -----------------------------------------------------------------------


async def test_exif_far_from_the_claimed_position_is_flagged_but_accepted(client):
    await make_tree()
    resident = await make_person()
    beijing = await upload_bytes(client, resident, jpeg((10, 200, 10), gps=(39.9, 116.4)))
    r = await submit(client, resident, body_for([beijing]))
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "submitted"
    assert case["exif_mismatch"] is True
    assert case["exif_distance_m"] == pytest.approx(1_463_000, rel=0.01)
    assert case["photos"][0]["gps_lat"] == pytest.approx(39.9)

    lat, lng = POINT_IN[G1]
    here = await upload_bytes(client, resident, jpeg((10, 10, 200), gps=(lat, lng)))
    case = (await submit(client, resident, body_for([here]))).json()
    assert case["exif_mismatch"] is False
    assert case["exif_distance_m"] < 50

    # a photo without GPS says nothing either way
    plain = await upload_photo(client, resident)
    case = (await submit(client, resident, body_for([plain]))).json()
    assert case["exif_mismatch"] is False
    assert case["exif_distance_m"] is None


# --- possible duplicates -----------------------------------------------------------------------


async def test_possible_duplicates_nearby_and_by_photo(client):
    await make_tree()
    alice, bob = await make_person(), await make_person()
    first = await file_report(client, alice, photo="hopper.jpg")
    assert first["possible_duplicates"] == []
    lat, lng = POINT_IN[G1]

    # same category, 60 m away, another picture: nearby (gas radius is 100 m)
    pid = await upload_photo(client, bob, "flower.jpg")
    near = body_for([pid])
    near["location"] = {"lat": lat + 60 / 111_320, "lng": lng}
    second = (await submit(client, bob, near)).json()
    dups = second["possible_duplicates"]
    assert [(d["id"], d["reason"]) for d in dups] == [(first["id"], "nearby")]
    assert dups[0]["distance_m"] == pytest.approx(60, abs=1)
    assert dups[0]["category"] == "gas"

    # same place, gas, 150 m away: outside the radius
    pid = await upload_photo(client, bob, "pil_sample_cmyk.jpg")
    far = body_for([pid])
    far["location"] = {"lat": lat - 150 / 111_320, "lng": lng}
    assert (await submit(client, bob, far)).json()["possible_duplicates"] == []

    # another category at the very same spot is not a duplicate
    fire = body_for([await upload_photo(client, bob, "hopper_bad_exif.jpg")], category="fire")
    assert (await submit(client, bob, fire)).json()["possible_duplicates"] == []

    # the same photo 6 km away, in the same township: reason "photo"
    same_photo = body_for([await upload_photo(client, bob, "hopper.jpg")], grid=G2)
    same_photo_case = (await submit(client, bob, same_photo)).json()
    same_photo_id = same_photo_case["id"]
    dups = same_photo_case["possible_duplicates"]
    assert [(d["id"], d["reason"]) for d in dups] == [(first["id"], "photo")]
    assert dups[0]["distance_m"] > 5000

    # closed cases are not offered
    dispatcher = await make_person(("dispatcher", "500103001"))
    r = await client.post(
        f"/api/v1/reports/{first['id']}/actions",
        json={"action": "reject", "reason": "测试"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    again = body_for([await upload_photo(client, bob, "hopper.jpg")])
    dups = (await submit(client, bob, again)).json()["possible_duplicates"]
    assert [(d["id"], d["reason"]) for d in dups] == [
        (second["id"], "nearby"),
        (same_photo_id, "photo"),
    ]


async def test_duplicates_are_offered_before_sending_and_nothing_is_filed(client):
    await make_tree()
    alice, bob = await make_person(), await make_person()
    first = await file_report(client, alice, photo="hopper.jpg")
    lat, lng = POINT_IN[G1]
    before = await HazardReport.count()

    near = {"category": "gas", "location": {"lat": lat + 40 / 111_320, "lng": lng}}
    r = await client.post("/api/v1/reports/possible-duplicates", json=near, headers=bob.headers)
    assert r.status_code == 200, r.text
    assert [(d["id"], d["reason"]) for d in r.json()] == [(first["id"], "nearby")]
    assert r.json()[0]["distance_m"] == pytest.approx(40, abs=1)

    # the same photo far away in the township is found by its picture
    photo = await upload_photo(client, bob, "hopper.jpg")
    far = {"category": "fire", "location": dict(zip(("lat", "lng"), POINT_IN[G2], strict=True))}
    r = await client.post(
        "/api/v1/reports/possible-duplicates",
        json={**far, "photo_ids": [photo]},
        headers=bob.headers,
    )
    assert [(d["id"], d["reason"]) for d in r.json()] == [(first["id"], "photo")]
    assert await HazardReport.count() == before  # asking files nothing

    # somebody else's photo, an unknown category, no token: refused
    theirs = await upload_photo(client, alice, "flower.jpg")
    r = await client.post(
        "/api/v1/reports/possible-duplicates",
        json={**near, "photo_ids": [theirs]},
        headers=bob.headers,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "photo_not_yours"
    r = await client.post(
        "/api/v1/reports/possible-duplicates",
        json={**near, "category": "nope"},
        headers=bob.headers,
    )
    assert r.json()["code"] == "category_unknown"
    r = await client.post("/api/v1/reports/possible-duplicates", json=near)
    assert r.status_code == 401


# --- support ("me too") ------------------------------------------------------------------------


async def test_support_an_open_case(client):
    await make_tree()
    reporter, alice, bob = await make_person(), await make_person(), await make_person()
    case = await file_report(client, reporter)
    url = f"/api/v1/reports/{case['id']}/support"
    assert await offered(client, alice) == [case["id"]]
    assert await offered(client, bob) == [case["id"]]

    r = await client.post(url, headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"report_id": case["id"], "supporters": 1}
    r = await client.post(url, headers=alice.headers)  # the same person again: no change
    assert r.json()["supporters"] == 1
    r = await client.post(url, headers=bob.headers)
    assert r.json()["supporters"] == 2
    assert await Support.count().where(Support.report == case["id"]).run() == 2

    r = await client.post(url, headers=reporter.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "report_own"

    seen = (await client.get(f"/api/v1/reports/{case['id']}", headers=reporter.headers)).json()
    assert seen["supporters"] == 2
    supports = [e for e in seen["timeline"] if e["action"] == "support"]
    assert len(supports) == 2
    assert all(e["actor_id"] is None and e["data"] == {} for e in supports)  # who stays private

    r = await client.post("/api/v1/reports/999999/support", headers=alice.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "report_not_found"


async def test_parallel_support_by_one_person_counts_once(client):
    await make_tree()
    reporter, alice = await make_person(), await make_person()
    case = await file_report(client, reporter)
    url = f"/api/v1/reports/{case['id']}/support"
    await offered(client, alice)
    responses = await asyncio.gather(*(client.post(url, headers=alice.headers) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    assert {r.json()["supporters"] for r in responses} == {1}
    row = await HazardReport.select(HazardReport.supporters).first().run()
    assert row["supporters"] == 1


async def test_closed_cases_cannot_be_supported(client):
    await make_tree()
    reporter, alice = await make_person(), await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    worker = await make_person(("grid_worker", G1), employment="full_time")
    case = await file_report(client, reporter)
    before = await upload_photo(client, worker, "flower.jpg")
    after = await upload_photo(client, worker, "pil_sample_cmyk.jpg")

    async def act(person, **body):
        r = await client.post(
            f"/api/v1/reports/{case['id']}/actions", json=body, headers=person.headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    assert await offered(client, alice) == [case["id"]]
    await act(worker, action="fix_on_spot", before_photo_ids=[before], photo_ids=[after])
    assert (await act(dispatcher, action="pass_check"))["status"] == "closed"
    r = await client.post(f"/api/v1/reports/{case['id']}/support", headers=alice.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "report_not_open"

    rejected = await file_report(client, reporter, grid=G2)
    assert await offered(client, alice, grid=G2) == [rejected["id"]]
    await client.post(
        f"/api/v1/reports/{rejected['id']}/actions",
        json={"action": "reject", "reason": "不属实"},
        headers=dispatcher.headers,
    )
    r = await client.post(f"/api/v1/reports/{rejected['id']}/support", headers=alice.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "report_not_open"
