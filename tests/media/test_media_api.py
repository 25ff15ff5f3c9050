"""The photo upload API: content checks, streaming limits, storage once per content, access.
Every test runs twice: photos on local disk and in an S3-protocol server (photo_store)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import struct
import zlib

import pytest
from factories import G1, IMAGES, file_report, make_person, make_tree, upload_photo
from objects import stored_bytes, stored_keys
from PIL import ExifTags, Image, ImageChops, ImageStat

from grid_backend.core.tables import AuditEntry
from grid_backend.media.tables import Photo, PhotoUpload
from grid_backend.settings import get_settings

pytestmark = pytest.mark.usefixtures("photo_store")

ACCEPTED = {
    "arrow.heic": "image/heic",
    "exif_gps.jpg": "image/jpeg",
    "flower.jpg": "image/jpeg",
    "hopper.jpg": "image/jpeg",
    "hopper_bad_exif.jpg": "image/jpeg",
    "hopper_orientation_6.jpg": "image/jpeg",
    "pil_sample_cmyk.jpg": "image/jpeg",
}
REJECTED = {
    "truncated_jpeg.jpg": (422, "photo_truncated"),
    "corrupted.heic": (422, "photo_corrupt"),
    "decompression_bomb.gif": (415, "photo_type_unsupported"),
}
PHOTO_CODES = {
    "photo_type_unsupported",
    "photo_too_large",
    "photo_too_many_pixels",
    "photo_corrupt",
    "photo_truncated",
}


def incoming() -> set[str]:
    folder = get_settings().media_root / "incoming"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def jpeg(
    size: tuple[int, int] = (64, 32),
    colour: tuple[int, int, int] = (200, 40, 40),
    *,
    orientation: int | None = None,
    gps: tuple[float, float] | None = None,
) -> bytes:
    """A small JPEG with a marker stripe (so rotations show) and optional EXIF."""
    im = Image.new("RGB", size, colour)
    for x in range(size[0] // 2):
        im.putpixel((x, 2), (0, 0, 255))
    exif = Image.Exif()
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if gps:
        ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        ifd[ExifTags.GPS.GPSLatitudeRef] = "N"
        ifd[ExifTags.GPS.GPSLatitude] = (gps[0], 0.0, 0.0)
        ifd[ExifTags.GPS.GPSLongitudeRef] = "E"
        ifd[ExifTags.GPS.GPSLongitude] = (gps[1], 0.0, 0.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 60)).save(buf, "PNG")
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


async def post_file(client, person, data: bytes, name: str = "x.jpg", mime: str = "image/jpeg"):
    return await client.post(
        "/api/v1/media", headers=person.headers, files={"file": (name, data, mime)}
    )


def assert_problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


async def fetch_image(client, person, url: str) -> Image.Image:
    r = await client.get(url, headers=person.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "JPEG"
    return im


# --- the corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACCEPTED))
async def test_corpus_photo_is_accepted_with_clean_derivatives(client, name):
    person = await make_person()
    before = incoming()
    r = await post_file(client, person, (IMAGES / name).read_bytes(), name)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["mime"] == ACCEPTED[name]
    assert body["display_url"] == f"/api/v1/media/{body['id']}/display"
    assert body["thumbnail_url"] == f"/api/v1/media/{body['id']}/thumbnail"
    assert body["already_stored"] is False
    assert len(body["sha256"]) == 64
    assert body["size_bytes"] == (IMAGES / name).stat().st_size
    assert incoming() == before  # the spooled upload became the original

    display = await fetch_image(client, person, body["display_url"])
    thumb = await fetch_image(client, person, body["thumbnail_url"])
    assert display.mode == "RGB"  # CMYK and HEIC come out as plain RGB JPEG
    assert max(display.size) <= 2048
    assert max(thumb.size) <= 320
    # never upscaled, upright like the reported size (width and height are after orientation)
    assert display.size[0] <= body["width"]
    assert display.size[1] <= body["height"]
    assert abs(display.size[0] / display.size[1] - body["width"] / body["height"]) < 0.02
    for im in (display, thumb):
        assert not im.getexif()
        assert "exif" not in im.info
        assert "icc_profile" not in im.info


async def test_exif_gps_is_read_into_fields_and_removed_from_the_display(client):
    person = await make_person()
    r = await post_file(client, person, jpeg(gps=(39.9, 116.4)))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["gps_lat"] == pytest.approx(39.9, abs=1e-6)
    assert body["gps_lng"] == pytest.approx(116.4, abs=1e-6)
    display = await fetch_image(client, person, body["display_url"])
    assert not display.getexif()


async def test_corpus_exif_gps_block_without_a_usable_position_gives_no_gps(client):
    # exif_gps.jpg carries a GPS IFD whose latitude is 4294967295 with no N/S reference and no
    # longitude at all: there is no position to trust, so none is claimed.
    person = await make_person()
    r = await post_file(client, person, (IMAGES / "exif_gps.jpg").read_bytes(), "exif_gps.jpg")
    assert r.status_code == 201, r.text
    assert r.json()["gps_lat"] is None
    assert r.json()["gps_lng"] is None
    display = await client.get(r.json()["display_url"], headers=person.headers)
    assert b"Exif" not in display.content
    assert b"Make" not in display.content


@pytest.mark.parametrize("name", sorted(REJECTED))
async def test_corpus_bad_file_is_refused_and_leaves_nothing_behind(client, name):
    status, code = REJECTED[name]
    person = await make_person()
    before = incoming()
    r = await post_file(client, person, (IMAGES / name).read_bytes(), name)
    body = assert_problem(r, status, code)
    assert body["errors"][0]["field"] == "file"
    assert incoming() == before
    assert await Photo.count().run() == 0
    assert await PhotoUpload.count().run() == 0


async def test_png_decompression_dos_is_refused_or_its_chunks_ignored(client):
    person = await make_person()
    before = incoming()
    data = (IMAGES / "png_decompression_dos.png").read_bytes()
    r = await post_file(client, person, data, "png_decompression_dos.png", "image/png")
    if r.status_code == 201:
        assert r.json()["mime"] == "image/png"
    else:
        assert 400 <= r.status_code < 500, r.text
        assert r.json()["code"] in PHOTO_CODES
        assert await Photo.count().run() == 0
    assert incoming() == before


async def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(client):
    person = await make_person()
    before = incoming()
    r = await post_file(client, person, png_claiming(30_000, 30_000), "big.png", "image/png")
    assert_problem(r, 413, "photo_too_many_pixels")
    assert incoming() == before
    assert await Photo.count().run() == 0


# --- type by content ---------------------------------------------------------------------------


async def test_type_comes_from_the_content_not_the_name_or_declared_type(client):
    person = await make_person()
    r = await post_file(client, person, png(), "x.jpg", "image/jpeg")
    assert r.status_code == 201, r.text
    assert r.json()["mime"] == "image/png"
    r = await post_file(client, person, jpeg(), "photo.png", "image/png")
    assert r.status_code == 201, r.text
    assert r.json()["mime"] == "image/jpeg"
    r = await post_file(client, person, jpeg(colour=(1, 2, 3)), "photo", "application/octet-stream")
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "data",
    [
        b"this is not a photo at all, just some text\n" * 20,
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"GIF89a" + b"\x00" * 100,
    ],
    ids=["text", "empty", "svg", "gif"],
)
async def test_non_photos_sent_as_jpeg_are_refused(client, data):
    person = await make_person()
    before = incoming()
    r = await post_file(client, person, data, "x.jpg", "image/jpeg")
    assert_problem(r, 415, "photo_type_unsupported")
    assert incoming() == before
    assert await Photo.count().run() == 0


# --- size limits, enforced while streaming -----------------------------------------------------


@pytest.fixture
def small_limit(monkeypatch):
    small = dataclasses.replace(get_settings(), media_max_bytes=4096)
    monkeypatch.setattr("grid_backend.media.controllers.get_settings", lambda: small)
    monkeypatch.setattr("grid_backend.media.services.get_settings", lambda: small)
    return small


async def test_a_photo_over_the_size_limit_is_refused_with_413(client, small_limit):
    person = await make_person()
    before = incoming()
    r = await post_file(client, person, (IMAGES / "flower.jpg").read_bytes(), "flower.jpg")
    assert_problem(r, 413, "photo_too_large")
    assert incoming() == before
    assert await Photo.count().run() == 0
    # under the limit still goes through
    r = await post_file(client, person, jpeg())
    assert r.status_code == 201, r.text


class _Endless:
    """A streamed request body far larger than the limit, counting how much was pulled."""

    def __init__(self, head: bytes, chunks: int) -> None:
        self.head, self.left, self.pulled = head, chunks, 0

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        if self.pulled == 0:
            self.pulled = 1
            return self.head
        if self.left == 0:
            raise StopAsyncIteration
        self.left -= 1
        self.pulled += 1
        return b"\xaa" * 65536


async def test_the_limit_is_enforced_while_streaming_without_a_content_length(client, small_limit):
    person = await make_person()
    before = incoming()
    head = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0"
    )
    body = _Endless(head, chunks=1000)  # 64 MB if it were all read
    r = await client.post(
        "/api/v1/media",
        headers={**person.headers, "Content-Type": "multipart/form-data; boundary=b0undary"},
        content=body,
    )
    assert_problem(r, 413, "photo_too_large")
    assert body.pulled < 5  # refused after the first chunk past the limit, not at the end
    assert incoming() == before


async def test_a_declared_content_length_far_over_the_limit_is_refused_up_front(
    client, small_limit
):
    person = await make_person()
    r = await client.post(
        "/api/v1/media",
        headers={
            **person.headers,
            "Content-Type": "multipart/form-data; boundary=b0undary",
            "Content-Length": str(50 * 1024 * 1024),
        },
        content=b"--b0undary--\r\n",
    )
    assert_problem(r, 413, "photo_too_large")


# --- storage once per content ------------------------------------------------------------------


async def test_the_same_bytes_are_stored_once(client, photo_store):
    alice, bob = await make_person(), await make_person()
    data = (IMAGES / "hopper.jpg").read_bytes()
    first = await post_file(client, alice, data)
    second = await post_file(client, bob, data, "other-name.jpg")
    again = await post_file(client, bob, data)
    assert first.status_code == second.status_code == again.status_code == 201
    assert first.json()["already_stored"] is False
    assert second.json()["already_stored"] is True
    assert again.json()["already_stored"] is True
    assert first.json()["id"] == second.json()["id"] == again.json()["id"]
    assert await Photo.count().run() == 1
    assert await PhotoUpload.count().run() == 2  # one per person, not per request
    sha256 = first.json()["sha256"]
    assert await stored_bytes(photo_store, sha256, "original") == data
    assert len(await stored_keys(photo_store, sha256)) == 3  # original, display, thumbnail
    # both uploaders may see it
    for person in (alice, bob):
        r = await client.get(first.json()["thumbnail_url"], headers=person.headers)
        assert r.status_code == 200


async def test_parallel_uploads_of_the_same_new_bytes_store_it_once(client, photo_store):
    people = [await make_person() for _ in range(4)]
    data = jpeg(colour=(7, 77, 177))
    responses = await asyncio.gather(*(post_file(client, p, data) for p in people))
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await Photo.count().run() == 1
    assert await PhotoUpload.count().run() == 4
    # and one person sending it twice at once
    more = await asyncio.gather(*(post_file(client, people[0], data) for _ in range(3)))
    assert [r.status_code for r in more] == [201] * 3, [r.text for r in more]
    assert await PhotoUpload.count().run() == 4
    assert len(await stored_keys(photo_store, responses[0].json()["sha256"])) == 3


# --- derivatives -------------------------------------------------------------------------------


async def test_display_copy_is_upright_for_exif_orientation_6(client):
    person = await make_person()
    rotated = await post_file(
        client,
        person,
        (IMAGES / "hopper_orientation_6.jpg").read_bytes(),
        "hopper_orientation_6.jpg",
    )
    upright = await post_file(client, person, (IMAGES / "hopper.jpg").read_bytes())
    a = await fetch_image(client, person, rotated.json()["display_url"])
    b = await fetch_image(client, person, upright.json()["display_url"])
    assert a.size == b.size == (128, 128)
    assert not a.getexif()  # the orientation tag went with the rest of the metadata

    def diff(x, y):
        return ImageStat.Stat(ImageChops.difference(x.convert("L"), y.convert("L"))).mean[0]

    assert diff(a, b) < 10  # the same picture, the right way up
    assert diff(a.transpose(Image.Transpose.ROTATE_90), b) > 40

    # a non-square one shows it in the dimensions too: 64 x 32 stored, 32 x 64 upright
    r = await post_file(client, person, jpeg((64, 32), orientation=6))
    assert (r.json()["width"], r.json()["height"]) == (32, 64)
    display = await fetch_image(client, person, r.json()["display_url"])
    thumb = await fetch_image(client, person, r.json()["thumbnail_url"])
    assert display.size == thumb.size == (32, 64)
    assert not display.getexif()


async def test_thumbnails_are_at_most_320_px(client):
    person = await make_person()
    for name in ("flower.jpg", "hopper_bad_exif.jpg", "arrow.heic"):
        r = await post_file(client, person, (IMAGES / name).read_bytes(), name)
        assert r.status_code == 201, r.text
        thumb = await fetch_image(client, person, r.json()["thumbnail_url"])
        assert max(thumb.size) == 320
        display = await fetch_image(client, person, r.json()["display_url"])
        # aspect ratio kept (within rounding)
        w, h = r.json()["width"], r.json()["height"]
        assert abs(thumb.size[0] / thumb.size[1] - w / h) < 0.02
        assert abs(display.size[0] / display.size[1] - w / h) < 0.02


# --- who may see what --------------------------------------------------------------------------


async def test_photo_access_follows_uploader_and_cases(client):
    await make_tree()
    reporter = await make_person()
    stranger = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    other_township = await make_person(("dispatcher", "500103002"))
    worker = await make_person(("grid_worker", G1), employment="full_time")

    pid = await upload_photo(client, reporter, "flower.jpg")
    base = f"/api/v1/media/{pid}"
    assert (await client.get(f"{base}/display", headers=reporter.headers)).status_code == 200
    assert (await client.get(f"{base}/display", headers=stranger.headers)).status_code == 403
    # not in any case yet: staff have no reason to see it
    assert (await client.get(f"{base}/display", headers=dispatcher.headers)).status_code == 403
    assert (await client.get(f"{base}/original", headers=dispatcher.headers)).status_code == 403

    case = await file_report(client, reporter, photo="flower.jpg")
    assert case["photos"][0]["id"] == pid

    for person in (dispatcher, worker):
        for variant in ("display", "thumbnail"):
            r = await client.get(f"{base}/{variant}", headers=person.headers)
            assert r.status_code == 200, (variant, r.text)
    for variant in ("display", "thumbnail", "original"):
        r = await client.get(f"{base}/{variant}", headers=other_township.headers)
        assert_problem(r, 403, "forbidden")
        r = await client.get(f"{base}/{variant}", headers=stranger.headers)
        assert_problem(r, 403, "forbidden")
    assert (await client.get(f"{base}/display", headers=reporter.headers)).status_code == 200

    # originals: evidence, staff covering the case only, and every read audited
    r = await client.get(f"{base}/original", headers=reporter.headers)
    assert_problem(r, 403, "forbidden")
    assert await AuditEntry.count().where(AuditEntry.action == "photo.original_read").run() == 0
    r = await client.get(f"{base}/original", headers=dispatcher.headers)
    assert r.status_code == 200, r.text
    assert r.content == (IMAGES / "flower.jpg").read_bytes()
    assert r.headers["content-disposition"].startswith("attachment")
    r = await client.get(f"{base}/original", headers=worker.headers)
    assert r.status_code == 200
    entries = (
        await AuditEntry.select()
        .where(AuditEntry.action == "photo.original_read")
        .order_by(AuditEntry.id)
        .run()
    )
    assert [(e["actor_id"], e["object_id"]) for e in entries] == [
        (dispatcher.id, str(pid)),
        (worker.id, str(pid)),
    ]

    r = await client.get("/api/v1/media/999999/display", headers=reporter.headers)
    assert_problem(r, 404, "photo_not_found")
    r = await client.get(f"{base}/exif", headers=reporter.headers)
    assert 400 <= r.status_code < 500
    r = await client.get(f"{base}/display")
    assert_problem(r, 401, "unauthenticated")


async def test_caching_headers_and_revalidation(client):
    person = await make_person()
    pid = (await post_file(client, person, jpeg(colour=(90, 90, 200)))).json()["id"]
    r = await client.get(f"/api/v1/media/{pid}/display", headers=person.headers)
    assert r.status_code == 200
    etag = r.headers["etag"]
    assert "private" in r.headers["cache-control"]
    assert "public" not in r.headers["cache-control"]
    assert r.headers["content-disposition"].startswith("inline")
    assert r.headers["x-content-type-options"] == "nosniff"
    again = await client.get(
        f"/api/v1/media/{pid}/display", headers={**person.headers, "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    listed = await client.get(
        f"/api/v1/media/{pid}/display",
        headers={**person.headers, "If-None-Match": f'"other", W/{etag}'},
    )
    assert listed.status_code == 304
    thumb = await client.get(f"/api/v1/media/{pid}/thumbnail", headers=person.headers)
    assert thumb.headers["etag"] != etag  # each variant has its own validator
    stale = await client.get(
        f"/api/v1/media/{pid}/display", headers={**person.headers, "If-None-Match": '"other"'}
    )
    assert stale.status_code == 200
    # a revalidation does not bypass the access check
    stranger = await make_person()
    r = await client.get(
        f"/api/v1/media/{pid}/display", headers={**stranger.headers, "If-None-Match": etag}
    )
    assert r.status_code == 403


# --- malformed requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n\r\n"),
        ("application/json", b'{"file": "abc"}'),
        ("image/jpeg", (IMAGES / "hopper.jpg").read_bytes()),
        ("multipart/form-data; boundary=b0undary", b"complete garbage, no boundary in sight"),
        (
            "multipart/form-data; boundary=b0undary",
            b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"'
            b"\r\n\r\n\xff\xd8\xff",  # cut off: no closing boundary
        ),
        ("multipart/form-data; boundary=b0undary", b"--b0undary\r\nno header end"),
    ],
    ids=["no-boundary", "json", "raw-jpeg", "garbage", "unterminated", "bad-headers"],
)
async def test_malformed_uploads_are_4xx_problems(client, content_type, body):
    person = await make_person()
    before = incoming()
    r = await client.post(
        "/api/v1/media", headers={**person.headers, "Content-Type": content_type}, content=body
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"]
    assert incoming() == before
    assert await Photo.count().run() == 0


async def test_missing_file_field_is_422(client):
    person = await make_person()
    r = await client.post("/api/v1/media", headers=person.headers, files={"note": (None, "hello")})
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"][0]["field"] == "file"


async def test_a_file_under_another_field_name_or_two_files_are_refused(client):
    person = await make_person()
    before = incoming()
    r = await client.post(
        "/api/v1/media", headers=person.headers, files={"photo": ("a.jpg", jpeg(), "image/jpeg")}
    )
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"][0]["field"] == "photo"
    r = await client.post(
        "/api/v1/media",
        headers=person.headers,
        files=[("file", ("a.jpg", jpeg(), "image/jpeg")), ("file", ("b.jpg", png(), "image/png"))],
    )
    assert_problem(r, 422, "photo_count_exceeded")
    assert incoming() == before
    assert await Photo.count().run() == 0


async def test_uploading_needs_a_signed_in_caller(client):
    r = await client.post("/api/v1/media", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
    assert_problem(r, 401, "unauthenticated")
