"""A photo shrunk on the phone has lost its EXIF: the phone sends the position and capture time
it read before shrinking, the server keeps them as the phone's claim (checked, marked "phone")
and the report's photo-position check still works on them. A file's own EXIF always wins."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from factories import G1, POINT_IN, make_person, make_tree
from PIL import ExifTags, Image

from grid_backend.hazards.tables import HazardEvent
from grid_backend.media.tables import Photo

BEIJING = (39.9, 116.4)


def jpeg(colour: tuple[int, int, int], gps: tuple[float, float] | None = None) -> bytes:
    """A small distinct JPEG, with an EXIF position when given (as a phone's original has)."""
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


async def upload(client, person, data: bytes, **fields: str):
    return await client.post(
        "/api/v1/media",
        headers=person.headers,
        data=fields,
        files={"file": ("p.jpg", data, "image/jpeg")},
    )


async def test_a_shrunk_photo_keeps_the_position_and_time_the_phone_read_marked_as_such(client):
    person = await make_person()
    r = await upload(
        client,
        person,
        jpeg((200, 30, 30)),
        phone_gps_lat="29.5630001",
        phone_gps_lng="106.5516",
        phone_captured_at="2026-05-01T09:30:15+08:00",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["gps_lat"] == pytest.approx(29.5630001)
    assert body["gps_lng"] == pytest.approx(106.5516)
    assert body["gps_source"] == "phone"
    assert body["captured_source"] == "phone"
    assert body["captured_at"].startswith("2026-05-01T01:30:15")  # stored in UTC
    row = await Photo.select().where(Photo.id == body["id"]).first().run()
    assert row["gps_source"] == "phone"
    assert row["captured_at"] == datetime(2026, 5, 1, 1, 30, 15, tzinfo=UTC)


async def test_a_time_without_offset_is_kept_as_the_phones_local_time(client):
    person = await make_person()
    r = await upload(client, person, jpeg((30, 200, 30)), phone_captured_at="2026-05-01T09:30:15")
    assert r.status_code == 201, r.text
    assert r.json()["captured_at"] is None
    row = await Photo.select().where(Photo.id == r.json()["id"]).first().run()
    assert row["captured_local"] == "2026-05-01T09:30:15"
    assert row["captured_source"] == "phone"
    assert row["gps_source"] is None


async def test_the_files_own_exif_wins_over_what_the_phone_says(client):
    person = await make_person()
    r = await upload(
        client,
        person,
        jpeg((30, 30, 200), gps=BEIJING),
        phone_gps_lat="29.5",
        phone_gps_lng="106.5",
    )
    assert r.status_code == 201, r.text
    assert r.json()["gps_lat"] == pytest.approx(BEIJING[0])
    assert r.json()["gps_source"] == "exif"


async def test_an_upload_without_claims_is_answered_as_before(client):
    person = await make_person()
    r = await upload(client, person, jpeg((90, 90, 90)))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["gps_lat"] is None
    assert body["gps_source"] is None
    assert body["captured_source"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"phone_gps_lat": "91", "phone_gps_lng": "106"}, "phone_gps_lat"),
        ({"phone_gps_lat": "29", "phone_gps_lng": "-180.5"}, "phone_gps_lng"),
        ({"phone_gps_lat": "nan", "phone_gps_lng": "106"}, "phone_gps_lat"),
        ({"phone_gps_lat": "north", "phone_gps_lng": "106"}, "phone_gps_lat"),
        ({"phone_gps_lat": "29.5"}, "phone_gps_lng"),
        ({"phone_captured_at": "1970-01-01T00:00:00Z"}, "phone_captured_at"),
        ({"phone_captured_at": "2999-01-01T00:00:00+08:00"}, "phone_captured_at"),
        ({"phone_captured_at": "2026:05:01 09:30:15"}, "phone_captured_at"),
        ({"phone_captured_at": "2026-02-30T09:30:15"}, "phone_captured_at"),
    ],
)
async def test_claims_out_of_range_are_refused_with_the_field_named(client, fields, field):
    person = await make_person()
    r = await upload(client, person, jpeg((10, 120, 200)), **fields)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["field"] == field
    assert await Photo.count().run() == 0


async def test_the_position_check_flags_a_far_away_claim_read_on_the_phone(client):
    await make_tree()
    resident = await make_person()
    lat, lng = POINT_IN[G1]
    r = await upload(
        client,
        resident,
        jpeg((10, 200, 10)),
        phone_gps_lat=str(BEIJING[0]),
        phone_gps_lng=str(BEIJING[1]),
    )
    photo_id = r.json()["id"]
    body = {
        "category": "gas",
        "description": "燃气管道漏气",
        "location": {"lat": lat, "lng": lng},
        "photo_ids": [photo_id],
        "reporter_safe": True,
    }
    r = await client.post("/api/v1/reports", json=body, headers=resident.headers)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["exif_mismatch"] is True
    assert case["exif_distance_m"] == pytest.approx(1_463_000, rel=0.01)
    assert case["photos"][0]["gps_source"] == "phone"
    event = await HazardEvent.select().where(HazardEvent.report == case["id"]).first().run()
    data = event["data"] if isinstance(event["data"], dict) else json.loads(event["data"])
    assert data["exif_source"] == "phone"
