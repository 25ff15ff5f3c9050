"""`grid-backend media migrate --to s3`: local photo files copied to the object store with
progress, resumable, every SHA-256 checked; local files left in place."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid

import obstore
import pytest
from click.testing import CliRunner
from s3server import BUCKET

from grid_backend.cli import main
from grid_backend.media import storage
from grid_backend.media.objectstore import S3Store
from grid_backend.settings import get_settings


def write_photo(root, data: bytes) -> str:
    """A photo as the local store keeps it: original, display and thumbnail."""
    sha256 = hashlib.sha256(data).hexdigest()
    for variant, content in (("original", data), ("display", b"D" + data), ("thumbnail", b"T")):
        path = root / storage.key_of(sha256, variant)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return sha256


@pytest.fixture
def media(tmp_path, s3_endpoint, monkeypatch):
    """A media root with two photos (and what is not a photo), and settings naming a fresh
    prefix of the S3 server's bucket; the store it names."""
    root = tmp_path / "media"
    shas = [write_photo(root, os.urandom(70_000)), write_photo(root, os.urandom(6 * 2**20))]
    (root / "incoming").mkdir()
    (root / "incoming" / "upload-x").write_bytes(b"half an upload")
    (root / "display" / shas[0][:2] / ".tmp-abc").write_bytes(b"unfinished")
    prefix = f"m-{uuid.uuid4().hex[:12]}"
    for name, value in {
        "GRID_MEDIA_ROOT": str(root),
        "GRID_S3_BUCKET": BUCKET,
        "GRID_S3_ENDPOINT_URL": s3_endpoint,
        "GRID_S3_PREFIX": prefix,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield root, shas, S3Store(bucket=BUCKET, endpoint_url=s3_endpoint, prefix=prefix)
    get_settings.cache_clear()


def migrate():
    return CliRunner().invoke(main, ["media", "migrate", "--to", "s3"])


def keys_in(store: S3Store) -> list[str]:
    async def listing() -> list[str]:
        return sorted([m["path"] async for batch in obstore.list(store.client) for m in batch])

    return asyncio.run(listing())


def test_migrate_copies_every_file_with_progress_and_a_second_run_skips_them(media):
    root, shas, store = media
    r = migrate()
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    total = sum(
        (root / storage.key_of(s, v)).stat().st_size for s in shas for v in storage.VARIANTS
    )
    assert lines[0].startswith("1/6 ")
    assert lines[5].startswith(f"6/6 {total}/{total} bytes ")
    assert all(line.endswith(": copied") for line in lines[:6])
    assert (
        lines[6]
        == f"done: 6 files ({total} bytes): 6 uploaded ({total} bytes), 0 already there, 0 SHA-256 mismatches"
    )
    expected = sorted(storage.key_of(s, v) for s in shas for v in storage.VARIANTS)
    assert keys_in(store) == expected  # neither the spool nor temporary files
    for sha256 in shas:  # the same bytes, and the local files are still there
        for variant in storage.VARIANTS:
            local = (root / storage.key_of(sha256, variant)).read_bytes()
            held = asyncio.run(store.sha256_of(storage.key_of(sha256, variant)))
            assert held == hashlib.sha256(local).hexdigest()

    again = migrate()
    assert again.exit_code == 0, again.output
    assert sum(line.endswith(": already there") for line in again.output.splitlines()) == 6
    assert "0 uploaded (0 bytes), 6 already there" in again.output


def test_a_run_cut_short_resumes_where_it_stopped(media, monkeypatch):
    store = media[2]
    real_put = S3Store.put_file
    calls = []

    async def failing_third(self, key, path, **kwargs):
        calls.append(key)
        if len(calls) == 3:
            raise storage.StoreUnavailable("connection reset")
        await real_put(self, key, path, **kwargs)

    monkeypatch.setattr(S3Store, "put_file", failing_third)
    r = migrate()
    assert r.exit_code == 1
    assert "run again to resume" in r.output
    assert len(keys_in(store)) == 2
    monkeypatch.setattr(S3Store, "put_file", real_put)
    again = migrate()
    assert again.exit_code == 0, again.output
    assert "4 uploaded" in again.output
    assert "2 already there" in again.output
    assert len(keys_in(store)) == 6


def test_a_sha256_mismatch_is_reported_and_fails_the_run(media, monkeypatch):
    root, shas, store = media
    # an original whose bytes no longer match its name (a damaged disk) is not copied
    damaged = root / storage.key_of(shas[0], "original")
    damaged.write_bytes(b"not what was uploaded")
    r = migrate()
    assert r.exit_code == 1
    assert f"originals/{shas[0][:2]}/{shas[0]}: MISMATCH" in r.output
    assert "1 SHA-256 mismatches" in r.output
    assert storage.key_of(shas[0], "original") not in keys_in(store)
    assert len(keys_in(store)) == 5  # the rest went across

    # a store that holds other bytes than were sent: found by reading back, and removed
    real_put = S3Store.put_file
    damaged.unlink()

    async def garbling(self, key, path, **kwargs):
        garbled = path.with_name("garbled")
        garbled.write_bytes(path.read_bytes()[:-1] + b"!")
        await real_put(self, key, garbled, **kwargs)

    monkeypatch.setattr(S3Store, "put_file", garbling)
    asyncio.run(store.delete(storage.key_of(shas[1], "thumbnail")))
    r = migrate()
    assert r.exit_code == 1
    assert "MISMATCH, the store held" in r.output
    assert storage.key_of(shas[1], "thumbnail") not in keys_in(store)


def test_migrate_needs_a_bucket(media, monkeypatch):
    monkeypatch.delenv("GRID_S3_BUCKET")
    get_settings.cache_clear()
    r = migrate()
    assert r.exit_code == 1
    assert "GRID_S3_BUCKET" in r.output
