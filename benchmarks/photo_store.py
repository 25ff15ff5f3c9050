"""Photo stores side by side: keep (original from its spooled file, display copy, thumbnail)
and read back (display streamed, original streamed) on local disk and on an S3-protocol server
(moto's, started here on 127.0.0.1; a MinIO or cloud store answers faster than moto, which
is a Python test double). Prints JSON.

    python benchmarks/photo_store.py [--photos 24] [--concurrency 4] [--original-mb 3]

The store alone, without decoding (the pipeline costs the same with either store)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("GRID_SECRET_KEY", "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--photos", type=int, default=24)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--original-mb", type=float, default=3.0)
    return p.parse_args()


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
    }


async def _phase(jobs, concurrency: int) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []

    async def one(job) -> None:
        async with gate:
            started = time.perf_counter()
            await job()
            times.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(j) for j in jobs))
    return time.perf_counter() - started, times


async def _drain(source) -> int:
    if isinstance(source, Path):
        return len(source.read_bytes())
    return sum([len(c) async for c in source.chunks])


async def bench(store, photos: list[tuple[str, bytes]], spool: Path, concurrency: int) -> dict:
    display, thumb = os.urandom(300_000), os.urandom(20_000)

    def keeper(sha256: str, data: bytes):
        async def job() -> None:
            upload = spool / f"upload-{sha256}"
            upload.write_bytes(data)  # as the multipart reader leaves it
            await store.keep(sha256, upload, display + sha256.encode(), thumb)

        return job

    def reader(sha256: str, variant: str):
        async def job() -> None:
            await _drain(await store.open(sha256, variant))

        return job

    total = sum(len(d) for _s, d in photos)
    kept_s, kept = await _phase([keeper(s, d) for s, d in photos], concurrency)
    disp_s, disp = await _phase([reader(s, "display") for s, _d in photos], concurrency)
    orig_s, orig = await _phase([reader(s, "original") for s, _d in photos], concurrency)
    return {
        "keep": {
            "per_s": round(len(photos) / kept_s, 1),
            "mb_per_s": round(total / kept_s / 2**20, 1),
            **_ms(kept),
        },
        "read_display": {"per_s": round(len(photos) / disp_s, 1), **_ms(disp)},
        "read_original": {
            "per_s": round(len(photos) / orig_s, 1),
            "mb_per_s": round(total / orig_s / 2**20, 1),
            **_ms(orig),
        },
    }


async def main() -> None:
    args = _parse()
    from s3server import BUCKET, start_moto

    with tempfile.TemporaryDirectory(prefix="grid-bench-store-") as folder:
        os.environ["GRID_MEDIA_ROOT"] = str(Path(folder) / "media")
        from grid_backend.media import storage
        from grid_backend.media.objectstore import S3Store

        spool = storage.spool_dir()
        spool.mkdir(parents=True)
        size = int(args.original_mb * 2**20)
        endpoint, stop = start_moto()
        try:
            results = {}
            for name, store in (
                ("local", storage.LocalStore()),
                ("s3_moto", S3Store(bucket=BUCKET, endpoint_url=endpoint, prefix="bench")),
            ):
                photos = [
                    (hashlib.sha256(d).hexdigest(), d)
                    for d in (os.urandom(size) for _ in range(args.photos))
                ]
                results[name] = await bench(store, photos, spool, args.concurrency)
        finally:
            stop()
    print(
        json.dumps(
            {
                "photos": args.photos,
                "original_bytes": size,
                "concurrency": args.concurrency,
                "cpus": os.cpu_count(),
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
