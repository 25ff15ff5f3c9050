"""Decoding memory under worst-case photos: 8 concurrent uploads of a 7,700 × 7,700 px PNG
(about 200 KB on the wire, about 178 MB of pixels once decoded) against a served app. Prints
JSON: the server's resident memory before, at its peak and after (right away and after a few
seconds), the answers (201, or 503 with Retry-After when the decoding budget is spent) and
how long it took.

    python benchmarks/decode_memory.py                  # SQLite in a temporary data folder
    python benchmarks/decode_memory.py --uploads 8 --side 7700 --budget-mb 512

Each upload is a different colour, so no two have the same bytes (the store deduplicates)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _setup import free_port  # noqa: E402 - the benchmarks folder


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--uploads", type=int, default=8, help="concurrent worst-case uploads")
    p.add_argument("--side", type=int, default=7700, help="width and height of the PNG (px)")
    p.add_argument(
        "--budget-mb",
        type=int,
        default=None,
        help="GRID_DECODE_MEMORY_MB for the server (default: the server's own default)",
    )
    p.add_argument("--settle-seconds", type=float, default=3.0, help="wait before 'after'")
    return p.parse_args()


ARGS = _parse()
WORK = Path(tempfile.mkdtemp(prefix="grid-bench-decode-"))
os.environ["GRID_DATABASE_URL"] = f"sqlite:///{WORK / 'grid.sqlite3'}"
os.environ["GRID_DATA_DIR"] = str(WORK / "data")
os.environ["GRID_SECRET_KEY"] = secrets.token_urlsafe(48)  # shared with the server subprocess
os.environ["GRID_PASSWORD_HASH_COST"] = "fast"
os.environ["GRID_LOG_LEVEL"] = "WARNING"
os.environ["GRID_SCHEDULER"] = "false"
os.environ["PICCOLO_CONF"] = "grid_backend.piccolo_conf"
if ARGS.budget_mb is not None:
    os.environ["GRID_DECODE_MEMORY_MB"] = str(ARGS.budget_mb)

import httpx  # noqa: E402
import psutil  # noqa: E402
from PIL import Image  # noqa: E402

MB = 2**20


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def worst_case_pngs(count: int, side: int) -> list[bytes]:
    """Single-colour RGB PNGs of side × side px, each a different colour."""
    pngs = []
    for n in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (side, side), (40 + n * 20, 90, 200 - n * 10)).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return pngs


async def _prepare() -> str:
    """Migrate and create one resident: an access token for them."""
    from grid_backend.core.security import issue_access_token
    from grid_backend.migrate import migrate
    from grid_backend.people.services import create_account

    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON figures
        await migrate()
    account = await create_account(
        phone="13900009901", password="Decode-bench-2026", name="压测居民"
    )
    return issue_access_token(account.id)[0]


class RssSampler:
    """The server's resident memory every 20 ms, on a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return self.process.memory_info().rss

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.rss())

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


async def upload_all(port: int, token: str, pngs: list[bytes]) -> list[dict]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=300, trust_env=False
    ) as client:

        async def one(n: int, png: bytes) -> dict:
            started = time.perf_counter()
            r = await client.post(
                "/api/v1/media",
                files={"file": (f"worst-{n}.png", png, "image/png")},
                headers={"Authorization": f"Bearer {token}"},
            )
            code = r.json().get("code") if r.status_code >= 400 else None
            return {
                "status": r.status_code,
                "code": code,
                "retry_after": r.headers.get("retry-after"),
                "seconds": round(time.perf_counter() - started, 2),
            }

        return await asyncio.gather(*(one(n, png) for n, png in enumerate(pngs)))


def main() -> None:
    result: dict = {
        "benchmark": "decode_memory",
        "machine": {"cpus": os.cpu_count(), "loadavg_1m_at_start": round(os.getloadavg()[0], 2)},
        "server": "uvicorn, 1 worker, SQLite, on 127.0.0.1",
        "uploads": ARGS.uploads,
        "budget_mb": ARGS.budget_mb,
    }
    server = None
    try:
        pngs = worst_case_pngs(ARGS.uploads, ARGS.side)
        result["photo"] = {
            "pixels": f"{ARGS.side} x {ARGS.side}",
            "png_kb": round(sum(map(len, pngs)) / len(pngs) / 1024, 1),
            "decoded_rgb_mb": round(ARGS.side * ARGS.side * 3 / MB, 1),
        }
        token = asyncio.run(_prepare())
        port = free_port()
        server_log = WORK / "server.log"
        with open(server_log, "wb") as log_file:
            server = subprocess.Popen(
                [sys.executable, "-m", "grid_backend.cli", "serve", "--port", str(port)],
                env=os.environ.copy(),
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        for _ in range(120):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", trust_env=False).status_code < 500:
                    break
            if server.poll() is not None:
                raise RuntimeError(f"the server exited: {server_log.read_text()[-2000:]}")
            time.sleep(0.5)
        sampler = RssSampler(server.pid)
        before = sampler.rss()
        started = time.perf_counter()
        with sampler:
            answers = asyncio.run(upload_all(port, token, pngs))
        elapsed = time.perf_counter() - started
        right_after = sampler.rss()
        time.sleep(ARGS.settle_seconds)
        settled = sampler.rss()
        statuses: dict[str, int] = {}
        for a in answers:
            statuses[str(a["status"])] = statuses.get(str(a["status"]), 0) + 1
        result["answers"] = {
            "statuses": statuses,
            "codes": sorted({a["code"] for a in answers if a["code"]}),
            "refusals_with_retry_after": sum(
                1 for a in answers if a["status"] == 503 and a["retry_after"]
            ),
            "server_errors": sum(1 for a in answers if a["status"] >= 500 and a["status"] != 503),
            "slowest_s": max(a["seconds"] for a in answers),
        }
        result["seconds"] = round(elapsed, 2)
        result["server_rss_mb"] = {
            "before": round(before / MB, 1),
            "peak": round(sampler.peak / MB, 1),
            "right_after": round(right_after / MB, 1),
            f"after_{ARGS.settle_seconds:g}s": round(settled / MB, 1),
            "peak_growth": round((sampler.peak - before) / MB, 1),
            "retained_growth": round((settled - before) / MB, 1),
        }
        result["machine"]["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=20)
        shutil.rmtree(WORK, ignore_errors=True)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
