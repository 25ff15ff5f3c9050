"""Photos in an S3-compatible object store (moto's server): what a caller and an operator see."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import httpx
import obstore
import pytest
from factories import IMAGES, file_report, make_person, make_tree
from objects import stored_keys

from grid_backend.media import storage
from grid_backend.media.objectstore import S3Store
from grid_backend.media.tables import Photo


def incoming() -> set[str]:
    folder = storage.spool_dir()
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


async def all_keys(store: S3Store) -> list[str]:
    return sorted([m["path"] async for batch in obstore.list(store.client) for m in batch])


def local_files() -> set[str]:
    return {str(p) for p in storage.root().rglob("*") if "incoming" not in p.parts}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_an_upload_lands_in_the_bucket_and_is_served_through_the_access_check(
    client, s3_store
):
    await make_tree()
    reporter, stranger = await make_person(), await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    data = (IMAGES / "flower.jpg").read_bytes()
    before, on_disk = incoming(), local_files()
    r = await client.post(
        "/api/v1/media", headers=reporter.headers, files={"file": ("f.jpg", data, "image/jpeg")}
    )
    assert r.status_code == 201, r.text
    photo = r.json()
    sha256 = photo["sha256"]
    assert await all_keys(s3_store) == sorted(storage.key_of(sha256, v) for v in storage.VARIANTS)
    assert local_files() == on_disk  # nothing kept on local disk
    assert incoming() == before  # and the spooled upload is gone
    head = await obstore.get_async(
        s3_store.client, storage.key_of(sha256, "original"), options={"head": True}
    )
    assert head.attributes["sha256"] == sha256

    base = f"/api/v1/media/{photo['id']}"
    thumb = await client.get(f"{base}/thumbnail", headers=reporter.headers)
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert int(thumb.headers["content-length"]) == len(thumb.content) > 0
    assert thumb.headers["content-disposition"].startswith("inline")
    assert "private" in thumb.headers["cache-control"]
    again = await client.get(
        f"{base}/thumbnail", headers={**reporter.headers, "If-None-Match": thumb.headers["etag"]}
    )
    assert again.status_code == 304
    assert (await client.get(f"{base}/display", headers=stranger.headers)).status_code == 403
    assert (await client.get(f"{base}/original", headers=reporter.headers)).status_code == 403

    await file_report(client, reporter, photo="flower.jpg")
    original = await client.get(f"{base}/original", headers=dispatcher.headers)
    assert original.status_code == 200
    assert original.content == data  # streamed from the bucket, byte for byte
    assert original.headers["content-disposition"].startswith("attachment")


async def test_a_large_original_goes_up_in_parts_and_streams_back_whole(s3_store, tmp_path):
    data = os.urandom(12 * 1024 * 1024 + 17)  # three parts of a multipart upload
    sha256 = hashlib.sha256(data).hexdigest()
    upload = tmp_path / "upload"
    upload.write_bytes(data)
    await s3_store.keep(sha256, upload, b"display", b"thumb")
    assert not upload.exists()
    opened = await s3_store.open(sha256, "original")
    assert opened.size == len(data)
    chunks = [c async for c in opened.chunks]
    assert len(chunks) > 1  # streamed in pieces, not one body
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == sha256
    # the same bytes again: kept as they are, one object
    upload.write_bytes(data)
    await s3_store.keep(sha256, upload, b"other display", b"other thumb")
    assert len(await stored_keys(s3_store, sha256)) == 3
    assert [c async for c in (await s3_store.open(sha256, "display")).chunks] == [b"display"]


async def test_an_interrupted_upload_leaves_no_object(s3_store, s3_endpoint, tmp_path):
    data = os.urandom(40 * 1024 * 1024)
    sha256 = hashlib.sha256(data).hexdigest()
    upload = tmp_path / "upload"
    upload.write_bytes(data)
    task = asyncio.create_task(s3_store.keep(sha256, upload, b"d", b"t"))
    # wait until the multipart upload has begun on the server, then cut it off
    async with httpx.AsyncClient() as http:
        for _ in range(400):
            listing = await http.get(f"{s3_endpoint}/{s3_store.bucket}?uploads")
            if s3_store.prefix in listing.text or task.done():
                break
            await asyncio.sleep(0.005)
    assert not task.done(), "the upload finished before it could be interrupted"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)
    assert await s3_store.sha256_at(storage.key_of(sha256, "original")) is None
    # the small derivatives go up alongside: either absent or whole, never a part
    for variant, whole in (("display", b"d"), ("thumbnail", b"t")):
        key = storage.key_of(sha256, variant)
        if key in await all_keys(s3_store):
            assert [c async for c in (await s3_store.open(sha256, variant)).chunks] == [whole]
    assert storage.key_of(sha256, "original") not in await all_keys(s3_store)


async def test_an_unreachable_store_answers_503_and_keeps_nothing(client, s3_store):
    person = await make_person()
    dead = S3Store(bucket="grid-photos", endpoint_url=f"http://127.0.0.1:{closed_port()}")
    storage.set_store(dead)
    before = incoming()
    r = await client.post(
        "/api/v1/media",
        headers=person.headers,
        files={"file": ("h.jpg", (IMAGES / "hopper.jpg").read_bytes(), "image/jpeg")},
    )
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "storage_unavailable"
    assert int(r.headers["retry-after"]) >= 1
    assert await Photo.count().run() == 0
    assert incoming() == before
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["title"] == "photo store unreachable"
    assert "127.0.0.1" not in ready.text  # a public endpoint names no address

    storage.set_store(s3_store)  # the store is back: the same upload goes through
    assert (await client.get("/readyz")).json()["photos"] == "s3"
    r = await client.post(
        "/api/v1/media",
        headers=person.headers,
        files={"file": ("h.jpg", (IMAGES / "hopper.jpg").read_bytes(), "image/jpeg")},
    )
    assert r.status_code == 201, r.text


async def test_a_missing_bucket_makes_readyz_fail(client, s3_endpoint):
    storage.set_store(S3Store(bucket="no-such-bucket", endpoint_url=s3_endpoint))
    try:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["code"] == "unavailable"
    finally:
        storage.set_store(None)
