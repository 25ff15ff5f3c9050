"""A real S3-protocol server for tests: moto's standalone server (`moto[server]`, a dev extra)
on 127.0.0.1 at a free port, with a bucket. No MinIO binary can be installed here; deployments
use MinIO or a cloud store (docs/deployment.md). A plain module, so that any test (the
two-replica test too) can start one: `endpoint, stop = start_moto()`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import servers

BUCKET = "grid-photos"
# moto accepts any credentials; the store reads the standard variables, as in production
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "grid-test", "AWS_SECRET_ACCESS_KEY": "grid-test-secret"}
_RUNNING = re.compile(r"Running on (http://127\.0\.0\.1:\d+)")


def start_moto(*, bucket: str = BUCKET, timeout: float = 30.0) -> tuple[str, Callable[[], None]]:
    """Start moto_server, wait until it answers, create `bucket`; (endpoint URL, stop)."""
    os.environ.update(CREDENTIALS)
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", "0"],  # port 0: it prints the one it bound
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found: list[str] = []

    def read_banner() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:  # keep reading so the pipe never fills
            if not found and (m := _RUNNING.search(line)):
                found.append(m.group(1))

    reader = threading.Thread(target=read_banner, daemon=True)
    reader.start()

    def stop() -> None:
        servers.stop(proc)
        reader.join(timeout=5)  # it ends at the pipe's end of file
        assert proc.stderr is not None
        proc.stderr.close()

    deadline = time.monotonic() + timeout
    try:
        while not found:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start within {timeout:g} s")
            time.sleep(0.05)
        endpoint = found[0]
        while True:
            try:
                # moto does not check signatures: a plain PUT creates the bucket
                r = httpx.put(f"{endpoint}/{bucket}", timeout=5)
                if r.status_code in (200, 409):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server at {endpoint} does not answer")
            time.sleep(0.1)
    except BaseException:
        stop()
        raise
    return endpoint, stop
