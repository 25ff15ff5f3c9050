"""Decoding memory is budgeted across concurrent uploads and given back afterwards (issue 10 §7;
docs/security.md, "Per-account and per-process caps"): a 7,700 × 7,700 px PNG of about 200 KB
costs about 240 MB to decode."""

from __future__ import annotations

import asyncio
import gc
import io
import threading

import psutil
import pytest
from factories import make_person
from PIL import Image

from grid_backend.media import pipeline, services
from grid_backend.media.pipeline import DecodeBudget, DecoderBusy, PhotoRejected

MB = 2**20
SIDE = 7700


@pytest.fixture(scope="session")
def worst_png(tmp_path_factory) -> bytes:
    """The worst case: one colour, so it compresses to about 200 KB, and 59 megapixels (just
    under GRID_MEDIA_MAX_PIXELS)."""
    path = tmp_path_factory.mktemp("decode") / "worst.png"
    Image.new("RGB", (SIDE, SIDE), (200, 60, 40)).save(path, "PNG")
    data = path.read_bytes()
    assert len(data) < 300 * 1024
    return data


@pytest.fixture
def budget(monkeypatch):
    """A fresh process budget for the test (the default size unless the test replaces it)."""
    monkeypatch.setattr(services, "_budget", None)
    return services.decode_budget


async def post_file(client, person, data: bytes):
    return await client.post(
        "/api/v1/media", files={"file": ("worst.png", data, "image/png")}, headers=person.headers
    )


def test_the_cost_comes_from_the_header_and_a_jpeg_draft():
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 4000), (1, 2, 3)).save(buffer, "JPEG")
    im = Image.open(io.BytesIO(buffer.getvalue()))
    full = pipeline.decode_cost(im)
    assert full == 6000 * 4000 * 4 + pipeline._DERIVATIVES_BYTES  # RGB is stored as RGBX
    pipeline._draft(im)  # libjpeg will decode at half scale: a quarter of the pixels
    assert im.size == (3000, 2000)
    assert pipeline.decode_cost(im) == 3000 * 2000 * 4 + pipeline._DERIVATIVES_BYTES
    buffer = io.BytesIO()
    Image.new("RGBA", (1000, 1000)).save(buffer, "PNG")
    rgba = Image.open(io.BytesIO(buffer.getvalue()))  # flattening copies it twice
    assert pipeline.decode_cost(rgba) == 1000 * 1000 * 13 + pipeline._DERIVATIVES_BYTES


def test_the_budget_waits_a_bounded_time_then_refuses():
    budget = DecodeBudget(100 * MB, wait_seconds=0.2, retry_after=3)
    with budget.hold(80 * MB, (1, 1)):
        with pytest.raises(DecoderBusy) as busy, budget.hold(30 * MB, (1, 1)):
            pass
        assert busy.value.retry_after == 3
        with budget.hold(20 * MB, (1, 1)):  # what still fits goes ahead
            assert budget.used == 100 * MB
    assert budget.used == 0

    # a waiting photo goes ahead as soon as the memory is given back
    budget = DecodeBudget(100 * MB, wait_seconds=5)
    release = threading.Event()

    def first() -> None:
        with budget.hold(80 * MB, (1, 1)):
            release.wait(5)

    holder = threading.Thread(target=first)
    holder.start()
    while budget.used == 0:
        pass
    threading.Timer(0.1, release.set).start()
    with budget.hold(80 * MB, (1, 1)):
        assert budget.used == 80 * MB
    holder.join()
    assert budget.peak == 80 * MB

    # one photo bigger than the whole budget can never be decoded: refused at once
    with pytest.raises(PhotoRejected) as refused, budget.hold(101 * MB, (7700, 7700)):
        pass
    assert refused.value.code == "photo_too_many_pixels"
    assert "7700" in refused.value.detail and "100 MB" in refused.value.detail


async def test_a_spent_budget_answers_503_with_retry_after(client, budget, monkeypatch):
    person = await make_person()
    small = DecodeBudget(300 * MB, wait_seconds=0.2, retry_after=7)
    monkeypatch.setattr(services, "_budget", small)
    small.used = 250 * MB  # other uploads are decoding
    png = io.BytesIO()
    Image.new("RGB", (4000, 4000), (1, 2, 3)).save(png, "PNG")  # 61 MB + derivatives
    r = await post_file(client, person, png.getvalue())
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "7"
    assert r.json()["code"] == "server_busy"
    assert "稍后" in r.json()["detail"]
    small.used = 0  # they finished: the same upload goes through
    r = await post_file(client, person, png.getvalue())
    assert r.status_code == 201, r.text


async def test_a_photo_larger_than_the_whole_budget_is_413(client, budget, worst_png, monkeypatch):
    person = await make_person()
    monkeypatch.setattr(services, "_budget", DecodeBudget(128 * MB, wait_seconds=5))
    r = await post_file(client, person, worst_png)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "photo_too_many_pixels"


async def test_eight_worst_case_uploads_at_once_finish_and_give_the_memory_back(
    client, budget, worst_png
):
    person = await make_person()
    process = psutil.Process()
    gc.collect()
    pipeline._give_back_memory()
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(post_file(client, person, worst_png) for _ in range(8))), 120
        )
    finally:
        done.set()
        sampler.join()
    for r in answers:
        assert r.status_code in (200, 201, 503), r.text
        if r.status_code == 503:
            assert r.json()["code"] == "server_busy" and int(r.headers["retry-after"]) >= 1
    assert any(r.status_code in (200, 201) for r in answers)
    used = budget()
    assert used.used == 0
    assert used.peak <= used.total  # never more held than the budget
    gc.collect()
    after = process.memory_info().rss
    # one decode holds about 240 MB; without malloc_trim about 260 MB stayed resident
    assert peak[0] - baseline < used.total + 100 * MB
    assert after - baseline < 80 * MB, f"{(after - baseline) / MB:.0f} MB kept"
