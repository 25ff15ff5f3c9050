"""docker/nginx.conf in front of two real `grid-backend serve` processes, as compose runs it:
requests alternate between the replicas, the body limits are nginx's and the app's alike, live
events pass through as they happen (also across replicas, through Redis), and the sign-in
limits count the client's own address from X-Forwarded-For, which a client cannot forge.

Runs Debian's nginx (not as a daemon, on a free port, in a temporary prefix); skipped when it
is missing, failed under CI=true (.ci/run installs it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from deploy_files import local_copy, nginx_or_skip
from factories import IMAGES, REDIS_URL, make_person, require_redis

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(ready, what: str, processes: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in processes:
            assert p.poll() is None, f"{p.args[:3]} exited while waiting for {what}"
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready after {timeout} s")


@dataclass
class Stack:
    url: str  # nginx
    logs: dict[str, Path]  # replica name -> its output (uvicorn's access log among it)

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")


@contextlib.contextmanager
def _stack(tmp: Path) -> Iterator[Stack]:
    nginx = nginx_or_skip()
    # nginx's workers (nobody, when root starts nginx) write request bodies under the prefix:
    # a directory they can reach (pytest's tmp_path sits under a private one)
    prefix = Path(tempfile.mkdtemp(prefix="grid-nginx-"))
    prefix.chmod(0o755)
    ports = {"app-1": _free_port(), "app-2": _free_port()}
    env = {
        **os.environ,
        "GRID_SCHEDULER": "false",
        "GRID_REDIS_URL": REDIS_URL,
        "GRID_REDIS_PREFIX": f"proxy{uuid.uuid4().hex[:8]}",
        "GRID_FORWARDED_ALLOW_IPS": "127.0.0.1",  # nginx connects from here
        "GRID_LOGIN_FAILURES_PER_ADDRESS": "3",
        "GRID_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",  # the access log is read while they run
    }
    processes: list[subprocess.Popen] = []
    logs = {}
    with contextlib.ExitStack() as files:
        files.callback(shutil.rmtree, prefix, ignore_errors=True)
        files.callback(_stop, processes)
        for name, port in ports.items():
            logs[name] = tmp / f"{name}.log"
            out = files.enter_context(logs[name].open("w"))
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "grid_backend.cli", "serve", "--port", str(port)],
                    env=env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        conf = local_copy(prefix, {n: f"127.0.0.1:{p}" for n, p in ports.items()})
        port = _free_port()
        text = conf.read_text()
        text, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", text)
        assert n == 1
        # temporary files in the prefix, not in /var/lib/nginx: runs without root too
        temp = "".join(f"    {d}_temp_path {prefix}/{d};\n" for d in ("client_body", "proxy"))
        temp += "".join(f"    {d}_temp_path {prefix}/{d};\n" for d in ("fastcgi", "uwsgi", "scgi"))
        conf.write_text(text.replace("http {\n", "http {\n" + temp, 1))
        nginx_out = files.enter_context((tmp / "nginx.log").open("w"))
        processes.append(
            subprocess.Popen(
                [nginx, "-e", "stderr", "-p", str(prefix), "-c", str(conf), "-g",
                 f"daemon off; pid {prefix}/nginx.pid;"],
                stdout=nginx_out,
                stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        for name, p in ports.items():
            _wait_until(
                lambda p=p: httpx.get(f"http://127.0.0.1:{p}/readyz", timeout=2).is_success,
                name,
                processes,
            )
        url = f"http://127.0.0.1:{port}"
        _wait_until(
            lambda: httpx.get(f"{url}/nginx-health", timeout=2).is_success, "nginx", processes
        )
        yield Stack(url, logs)


def _stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:  # uvicorn and nginx both stop gracefully on SIGTERM... nginx fast
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextlib.asynccontextmanager
async def _client(url: str, source: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client connecting from `source` (any 127.x.y.z on Linux): a distinct address to nginx."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
        yield client


async def test_two_replicas_behind_nginx(db, tmp_path: Path) -> None:
    await require_redis()
    resident = await make_person()
    with _stack(tmp_path) as stack:
        async with _client(stack.url) as client:
            await _alternates(stack, client)
            await _body_limits(stack, client, resident.headers)
            await _live_events(client, resident)
        await _client_address(stack)


async def _alternates(stack: Stack, client: httpx.AsyncClient) -> None:
    """Round robin: one request to each replica in turn."""
    for i in range(6):
        assert (await client.get(f"/healthz?probe={i}")).status_code == 200
    served = []
    for i in range(6):
        deadline = time.monotonic() + 5
        while not (who := [n for n in stack.logs if f"GET /healthz?probe={i} " in stack.log(n)]):
            assert time.monotonic() < deadline, f"probe {i} reached no replica"
            await asyncio.sleep(0.05)
        served.extend(who)
    assert all(a != b for a, b in zip(served, served[1:], strict=False)), served
    # and the metrics stay inside
    assert (await client.get("/metrics")).status_code == 404


async def _body_limits(stack: Stack, client: httpx.AsyncClient, headers: dict) -> None:
    """A 14 MiB photo passes to the app (and is stored); 16 MiB is refused by nginx itself,
    the replicas never see it."""
    photo = (IMAGES / "hopper.jpg").read_bytes()
    big = photo + b"\0" * (14 * MiB - len(photo))  # bytes after the JPEG's end are ignored
    r = await client.post("/api/v1/media", headers=headers, files={"file": ("a.jpg", big)})
    assert r.status_code == 201, r.text
    too_big = photo + b"\0" * (16 * MiB - len(photo))
    r = await client.post("/api/v1/media", headers=headers, files={"file": ("b.jpg", too_big)})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html") and "nginx" in r.text
    posts = sum(stack.log(n).count("POST /api/v1/media ") for n in stack.logs)
    assert posts == 1, "the 16 MiB upload reached a replica"
    # a JSON body over the API's 1 MiB: refused by nginx too
    r = await client.post("/api/v1/auth/login", content=b"{" + b" " * MiB + b"}")
    assert r.status_code == 413 and "nginx" in r.text


async def _live_events(client: httpx.AsyncClient, resident) -> None:
    """An event raised on either replica reaches a stream held open through nginx at once."""
    from grid_backend.notify.tables import Notification

    async with client.stream("GET", "/api/v1/events", headers=resident.headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        for i in range(2):  # round robin: the two reads land on different replicas
            await Notification.insert(
                Notification(
                    recipient=resident.id,
                    kind="test",
                    channel="inbox",
                    dedupe_key=f"proxy-{i}",
                    status="sent",
                )
            ).run()
            started = time.monotonic()
            r = await client.post("/api/v1/me/notifications/read-all", headers=resident.headers)
            assert r.status_code == 200 and r.json()["marked"] == 1, r.text
            line = await asyncio.wait_for(_next_event(lines), timeout=10)
            assert line == "event: inbox.read_all"
            # well before the next heartbeat (15 s) would push a buffer out
            assert time.monotonic() - started < 5, "the event was held back"


async def _next_event(lines: AsyncIterator[str]) -> str:
    async for line in lines:
        if line.startswith("event:"):
            return line
    raise AssertionError("stream ended")


async def _client_address(stack: Stack) -> None:
    """Sign-in failures count against the client's address as nginx saw it (X-Forwarded-For),
    across both replicas (Redis); a client's own X-Forwarded-For changes nothing."""
    login = "/api/v1/auth/login"
    async with _client(stack.url, "127.0.0.2") as guesser, _client(stack.url, "127.0.0.3") as other:
        for i in range(3):  # GRID_LOGIN_FAILURES_PER_ADDRESS, different phones
            r = await guesser.post(login, json={"phone": f"1390000000{i}", "password": "wrong-1"})
            assert r.status_code == 401, r.text
        r = await guesser.post(login, json={"phone": "13900000009", "password": "wrong-1"})
        assert r.status_code == 429, r.text
        forged = {"X-Forwarded-For": "198.51.100.9"}
        r = await guesser.post(
            login, json={"phone": "13900000008", "password": "wrong-1"}, headers=forged
        )
        assert r.status_code == 429, "a forged X-Forwarded-For escaped the limit"
        r = await other.post(login, json={"phone": "13900000009", "password": "wrong-1"})
        assert r.status_code == 401, "another client was blocked with the guesser"
    logs = "".join(stack.log(n) for n in stack.logs)
    assert "sign-in from 127.0.0.2 locked after 3 failures" in logs
    assert "198.51.100.9" not in logs  # the access log names the address the app believed
