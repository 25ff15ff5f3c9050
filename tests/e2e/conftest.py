"""Browser tests: the real server in a subprocess on a free 127.0.0.1 port, with its own
database (migrated and seeded with the demo), driven by Debian's Chromium through Playwright.

The server's database follows the suite's engine: a temporary SQLite file, or a PostgreSQL
database named after the suite's with `_e2e` appended (dropped and created for the session).
Screenshots go to `.pytest-data/screenshots/` (look at them: they are the test artifacts)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from browsing import CHROMIUM, CHROMIUM_ARGS, sign_in_console

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".pytest-data" / "screenshots"
DEMO_PASSWORD = "Grid141demo"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_database(data_dir: Path) -> str:
    url = os.environ["GRID_DATABASE_URL"]
    if not url.startswith("postgres"):
        return f"sqlite:///{data_dir}/e2e.sqlite3"
    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_e2e"
    admin = urlunsplit(parts._replace(path="/postgres"))
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-q", "-c", sql], check=True, capture_output=True)  # noqa: S607
    return urlunsplit(parts._replace(path="/" + name))


_MOVE_WINDOW = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from grid_backend.patrols.tables import PatrolTask

async def main():
    end = datetime.now(UTC) - timedelta(minutes=90)
    await PatrolTask.update({PatrolTask.window_start: end - timedelta(hours=2),
                             PatrolTask.window_end: end}).where(PatrolTask.id == int(sys.argv[1])).run()

asyncio.run(main())
"""


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    log: Path

    def cli(self, *args: str) -> str:
        """Run `grid-backend ARGS` against the server's database (e.g. `jobs run ...`)."""
        done = subprocess.run(
            [sys.executable, "-m", "grid_backend.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise AssertionError(f"grid-backend {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def miss_task(self, task_id: int) -> None:
        """Make a patrol task missed: the server runs on the real clock, so move the task's
        window into the past (today), then let the real job mark it."""
        subprocess.run(
            [sys.executable, "-c", _MOVE_WINDOW, str(task_id)],
            env={**self.env, "PICCOLO_CONF": "grid_backend.piccolo_conf"},
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.cli("jobs", "run", "patrols.mark_missed")

    def api(self, token: str | None = None) -> httpx.Client:
        """A JSON API client for setting up or checking what the pages show."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def texted_code(self, phone: str) -> str:
        """The last registration code texted to a phone: with no SMS gateway the development
        server writes it to its log."""
        masked = f"{phone[:3]}****{phone[-4:]}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = [
                line
                for line in self.log.read_text(errors="replace").splitlines()
                if "sms (no gateway, development)" in line and f" to {masked}: " in line
            ]
            codes = [m.group(1) for line in lines if (m := re.search(r"code is (\d{6})", line))]
            if codes:
                return codes[-1]
            time.sleep(0.1)
        raise AssertionError(f"no code texted to {masked} in the server log")

    def register(self, phone: str, password: str, name: str) -> httpx.Response:
        """Sign a new resident up through both steps (code asked for, read from the log)."""
        with self.api() as client:
            asked = client.post("/api/v1/auth/register/code", json={"phone": phone})
            assert asked.status_code == 202, asked.text
            return client.post(
                "/api/v1/auth/register",
                json={
                    "phone": phone,
                    "code": self.texted_code(phone),
                    "password": password,
                    "name": name,
                },
            )

    def login(self, phone: str, password: str = DEMO_PASSWORD) -> str:
        """An access token for a demo account."""
        with self.api() as client:
            answer = client.post("/api/v1/auth/login", json={"phone": phone, "password": password})
            answer.raise_for_status()
            return answer.json()["access_token"]


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    data = Path(tempfile.mkdtemp(prefix="grid-e2e-"))
    env = {
        **os.environ,
        "GRID_DATA_DIR": str(data),
        "GRID_MEDIA_ROOT": str(data / "media"),
        "GRID_DATABASE_URL": _server_database(data),
        "GRID_SCHEDULER": "false",  # the tests run jobs by hand through `live_server.cli`
        "GRID_LOG_LEVEL": "WARNING",
        # every browser test signs up from 127.0.0.1: the per-address limits of
        # registration would refuse the later tests of a full run
        "GRID_SIGNUP_CODES_PER_ADDRESS": "100000",
        "GRID_SIGNUP_ATTEMPTS_PER_ADDRESS": "100000",
    }
    port = _free_port()
    server = LiveServer(url=f"http://127.0.0.1:{port}", env=env, log=data / "server.log")
    server.cli("migrate")
    server.cli("seed", "demo")
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grid_backend.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"the server exited:\n{server.log.read_text()}")
                try:
                    if httpx.get(server.url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start:\n{server.log.read_text()}")
                time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def browser():
    """Chromium for one test. Playwright's sync API holds an event loop while it runs, which
    would stop every later async test of the suite: so it is started and stopped per test."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _csp_violations(context) -> list[str]:
    """Chromium's console reports of what the pages' CSP refused (an inline handler, a script,
    a style, an image): every page must work under the policy, so each test ends with none."""
    seen: list[str] = []

    def note(message) -> None:
        if "Content Security Policy" in message.text:
            seen.append(f"{message.page.url if message.page else ''}: {message.text}")

    context.on("console", note)
    _print_trouble(context)
    return seen


def _print_trouble(context) -> None:
    """Print what went wrong in the browser (script errors, console errors, answers of 400 and
    above): it lands in the test's captured output, so a failure in CI says what the page saw."""
    context.on("weberror", lambda e: print(f"[page error] {e.error}"))
    context.on(
        "console",
        lambda m: print(f"[console {m.type}] {m.text}") if m.type in ("error", "warning") else None,
    )
    context.on(
        "response",
        lambda r: print(f"[{r.status}] {r.request.method} {r.url}") if r.status >= 400 else None,
    )


@pytest.fixture
def desktop(browser, live_server):
    """A desktop-sized page (the console) on the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    refused = _csp_violations(context)
    page = context.new_page()
    yield page
    context.close()
    assert refused == [], "the Content-Security-Policy blocked something the pages need"


@pytest.fixture
def phone(browser, live_server):
    """A 360 px wide phone page (the field app) on the live server."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": 29.5630, "longitude": 106.5516, "accuracy": 12},
        permissions=["geolocation"],
    )
    refused = _csp_violations(context)
    page = context.new_page()
    yield page
    context.close()
    assert refused == [], "the Content-Security-Policy blocked something the pages need"


@pytest.fixture
def screenshot():
    """`screenshot(page, name)` saves a full-page screenshot as a test artifact."""

    def take(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        engine = (
            "pg" if os.environ.get("GRID_DATABASE_URL", "").startswith("postgres") else "sqlite"
        )
        path = SCREENSHOTS / f"{name}-{engine}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def console(desktop):
    """A desktop page signed in to the console as the demo dispatcher."""
    sign_in_console(desktop)
    return desktop


@pytest.fixture
def send_report():
    """`send_report(page)` taps "send" on the field app's report form; when the app offers
    possible duplicates first, it chooses to send anyway. True if duplicates were offered."""

    def send(page) -> bool:
        page.click("#send")
        page.locator(
            "#result:not([hidden]), #precheck:not([hidden]), #form-error:not([hidden])"
        ).first.wait_for()
        if page.locator("#precheck").is_visible():
            page.click("#send-anyway")
            return True
        return False

    return send
