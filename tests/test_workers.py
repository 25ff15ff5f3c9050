"""`grid-backend serve --workers N`: several server processes on one port, stopped cleanly by one
SIGTERM; refused where processes could not share their state (SQLite, no Redis)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from factories import REDIS_URL

from grid_backend.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn's manager `pid` spawned (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        if int(ppid) == pid and b"spawn_main" in (entry / "cmdline").read_bytes():
            found.append(int(entry.name))
    return found


def _connections_held(pid: int, port: int, state: str = "01") -> int:
    """How many TCP sockets on `port` process `pid` holds in `state` (from /proc): "01"
    established connections, "0A" listening sockets."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    held = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, inode = int(fields[1].split(":")[1], 16), fields[9]
        held += local_port == port and fields[3] == state and inode in inodes
    return held


def _burst(port: int, count: int) -> list[socket.socket]:
    """`count` keep-alive connections opened at once (all handshakes under way before any is
    accepted, as a load generator or a proxy filling its pool does), each answered once and
    left open."""
    clients = [socket.socket() for _ in range(count)]
    for client in clients:
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
    for client in clients:
        select.select([], [client], [], 10)
        client.setblocking(True)
        client.settimeout(10)
    for client in clients:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for client in clients:
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
    return clients


def _serve(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "grid_backend.cli", "serve", *args],
        env={**os.environ, "GRID_SCHEDULER": "false", **env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_more_than_one_worker_needs_redis():
    refused = _serve("--workers", "2", GRID_REDIS_URL="")
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2 and "GRID_WORKERS" in err and "GRID_REDIS_URL" in err


def test_two_workers_on_postgresql_none_on_sqlite():
    """On PostgreSQL two workers answer on one port, share a burst of new connections, and
    one SIGTERM stops them all; SQLite
    (one process by design) refuses to start them."""
    if get_settings().engine == "sqlite":
        refused = _serve("--workers", "2", GRID_REDIS_URL=REDIS_URL)
        _, err = refused.communicate(timeout=60)
        assert refused.returncode == 2 and "GRID_WORKERS" in err and "PostgreSQL" in err
        return
    port = _free_port()
    server = _serve("--workers", "2", GRID_REDIS_URL=REDIS_URL, GRID_PORT=str(port))
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = _workers(server.pid)
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready and len(workers) == 2:
                break
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.3)
        assert len(workers) == 2, workers
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            assert all(client.get("/readyz").status_code == 200 for _ in range(20))
        # a burst of new connections is shared by the workers (a socket each on the port),
        # not accepted by whichever woke first; once both listen (one may start later)
        while not all(_connections_held(p, port, "0A") for p in workers):
            assert time.monotonic() < deadline, "a worker never listened"
            time.sleep(0.2)
        clients = _burst(port, 32)
        try:
            held = [_connections_held(p, port) for p in workers]
            assert sum(held) == 32 and min(held) > 0, held
        finally:
            for client in clients:
                client.close()
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert all(not Path(f"/proc/{p}").exists() for p in workers)  # no worker left behind
