"""Accessibility of every page, as its users see it with the demo data: axe-core (the copy inside
the pinned `axe-playwright-python` wheel) over each console page signed in as the duty officer and
each field page at 360 px signed in as the grid worker (and the sign-in pages signed out).

Every violation fails, whatever axe calls its impact (the last moderate and minor ones, empty
table headers and a skipped heading level, were mended). What axe found is also written, page
by page, to `.pytest-data/accessibility-<engine>.json` and printed. Beside axe (whose target-size rule is
WCAG 2.2 AA's 24 px), every control of the field app must offer a 44 x 44 CSS px target."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from browsing import sign_in_field
from evacuation_browser import seed_households
from field_evacuation import evacuate
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "Grid141demo"

WORKER = "13900000007"  # 周网格员, grid worker of 双湾商圈专属网格
DISPATCHER = "13900000004"
REPORT = ROOT / ".pytest-data"

# every visible control, with the box a thumb can hit: its own, or its label's when a label
# wraps it (a checkbox or a hidden file input inside a big label)
TARGETS_JS = """() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]')]
  .filter((e) => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
  .map((e) => {
    const box = (e.closest('label') || e).getBoundingClientRect();
    const name = (e.getAttribute('aria-label') || e.textContent || e.name || e.type || '').trim();
    return { what: `${e.tagName.toLowerCase()} ${name.slice(0, 24)}`,
             width: Math.round(box.width * 10) / 10, height: Math.round(box.height * 10) / 10 };
  })"""


def _engine() -> str:
    return "pg" if os.environ.get("GRID_DATABASE_URL", "").startswith("postgres") else "sqlite"


def scan(page, where: str, found: dict[str, list[str]]) -> list[str]:
    """axe over the page as it is now: its violations (returned, and noted for the report)."""
    response = Axe().run(page).response
    blocking, rest = [], []
    for v in response["violations"]:
        line = f"{v['id']} ({v['impact']}) x{len(v['nodes'])}: " + ", ".join(
            str(n["target"][0]) for n in v["nodes"][:3]
        )
        blocking.append(f"{where}: {line}")
        rest.append(line)
    found[where] = rest
    return blocking


def save(found: dict[str, list[str]], name: str) -> None:
    REPORT.mkdir(parents=True, exist_ok=True)
    path = REPORT / f"accessibility-{name}-{_engine()}.json"
    path.write_text(json.dumps(found, ensure_ascii=False, indent=2))
    for where, rest in found.items():
        print(f"{where}: {'; '.join(rest) if rest else 'nothing left'}")


def issue_warnings(live_server, grid_id: int) -> None:
    """A warning of each level over the worker's grid (each with its callout), so the warnings
    list shows every level's badge and the worker has callouts to answer."""
    with live_server.api(live_server.login(DISPATCHER)) as api:
        for level in ("blue", "yellow", "orange", "red"):
            r = api.post(
                "/api/v1/warnings",
                json={
                    "level": level,
                    "type": "heavy_rain",
                    "area_ids": [grid_id],
                    "expires_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
                    "message": f"强降雨 {level} {uuid.uuid4().hex[:4]}",
                    "callout": True,
                },
            )
            assert r.status_code == 201, r.text


def worker_grid(live_server) -> tuple[int, dict]:
    with live_server.api(live_server.login(WORKER)) as api:
        me = api.get("/api/v1/me").json()
        cases = api.get(
            "/api/v1/reports",
            params={
                "assignee_id": me["account"]["id"],
                "status": "dispatched",
                "sort": "due",
                "limit": 1,
            },
        ).json()["items"]
        tasks = api.get("/api/v1/me/tasks", params={"limit": 1}).json()["items"]
    grid = next(a["area_id"] for a in me["assignments"] if a["duty"] == "grid_worker")
    return grid, {"case": cases[0]["id"], "task": tasks[0]["id"] if tasks else None}


def settle(page) -> None:
    """The field pages fill #view from the API after the shell loads."""
    page.wait_for_load_state("networkidle")
    expect(page.locator("#view .loading")).to_have_count(0)


def field_pages(ids: dict) -> list[str]:
    pages = [
        "/app/",
        "/app/report",
        "/app/reports",
        f"/app/case?id={ids['case']}",
        "/app/points",
        "/app/tasks",
        "/app/cases",
        "/app/inbox",
        "/app/callouts",
        "/app/outbox",
        "/app/evacuation",
    ]
    if ids["task"]:
        pages.append(f"/app/task?id={ids['task']}")
    return pages


def test_every_field_page_passes_axe_at_360px(phone, live_server, screenshot):
    grid, ids = worker_grid(live_server)
    issue_warnings(live_server, grid)
    evacuate(live_server, 1)  # the worker's households on /app/evacuation
    with live_server.api(live_server.login(WORKER)) as api:  # one answered, the others not
        first = api.get("/api/v1/me/callouts").json()["items"][0]
        assert api.post(f"/api/v1/callouts/{first['id']}/ack").status_code == 200
    found: dict[str, list[str]] = {}
    blocking: list[str] = []
    for path in ("/app/login", "/app/register"):
        phone.goto(path)
        phone.wait_for_load_state("networkidle")
        blocking += scan(phone, path, found)
    sign_in_field(phone, WORKER)
    expect(phone.locator("#callout-banner")).to_be_visible()
    for path in field_pages(ids):
        phone.goto(path)
        if path != "/app/":
            settle(phone)
        else:
            expect(phone.locator("#callout-banner")).to_be_visible()
        blocking += scan(phone, path, found)
    screenshot(phone, "a11y-field-callouts-last")
    save(found, "field")
    assert blocking == []


def test_every_console_page_passes_axe(desktop, live_server, screenshot):
    grid, ids = worker_grid(live_server)
    issue_warnings(live_server, grid)
    found: dict[str, list[str]] = {}
    desktop.goto("/console/login")
    blocking = scan(desktop, "/console/login", found)
    desktop.fill("input[name=phone]", DISPATCHER)
    desktop.fill("input[name=password]", DEMO_PASSWORD)
    desktop.click("button[type=submit]")
    desktop.wait_for_url("**/console/**")
    pages = [
        "/console/",
        "/console/cases",
        f"/console/cases/{ids['case']}",
        "/console/map",
        "/console/patrols",
        "/console/people",
        "/console/rewards",
        "/console/urgent",
        "/console/households",
        "/console/qr",
        "/console/qr?revoked=true",
        "/console/evacuations",
        f"/console/evacuations/{evacuation_board(live_server)}",
        "/console/warnings",  # last: its badges and board are checked below
    ]
    for path in pages:
        desktop.goto(path)
        desktop.wait_for_load_state("networkidle")
        blocking += scan(desktop, path, found)
    # the households form, open in its dialog with each field's error
    desktop.goto("/console/households")
    desktop.click("[data-new]")
    desktop.click("#household-form button[type=submit]")
    desktop.locator("#household-form .field-error:not(:empty)").first.wait_for()
    blocking += scan(desktop, "/console/households (form errors)", found)
    desktop.goto("/console/warnings")
    desktop.wait_for_load_state("networkidle")
    # the warnings list showed a badge of each level, and the latest callout's live board
    expect(desktop.locator(".level.level-orange").first).to_be_visible()
    expect(desktop.locator("#board-people tr").first).to_be_visible()
    screenshot(desktop, "a11y-console-warnings")
    save(found, "console")
    assert blocking == []


def evacuation_board(live_server) -> int:
    """An evacuation under way with a refusal and a shelter flagged over 90 %."""
    seeded = seed_households(
        live_server,
        WORKER,
        [{"address": f"解放碑{uuid.uuid4().hex[:6]}号", "head_name": "王大爷",
          "head_phone": "13911110001", "people": 2, "elderly_alone": 1}],
        shelter={"name": "解放碑小学", "capacity": 2},
    )  # fmt: skip
    with live_server.api(live_server.login(DISPATCHER)) as api:
        run = api.post("/api/v1/evacuations", json={"area_ids": [seeded["grid_id"]]}).json()
        api.post(
            f"/api/v1/evacuations/{run['id']}/shelters/{seeded['shelter_id']}/arrivals",
            json={"people": 2},
        ).raise_for_status()
    with live_server.api(live_server.login(WORKER)) as api:
        api.post(
            f"/api/v1/evacuations/{run['id']}/households/{seeded['households'][0]}/status",
            json={"status": "refused", "reason": "不愿离家"},
        ).raise_for_status()
    return run["id"]


def small_targets(page) -> list[dict]:
    return [t for t in page.evaluate(TARGETS_JS) if t["width"] < 44 or t["height"] < 44]


def test_touch_targets_are_at_least_44_css_px_at_360px(phone, live_server, screenshot):
    phone.goto("/app/register")
    back = phone.locator(".bar a.back").bounding_box()
    lang = phone.locator(".bar a.lang").bounding_box()
    assert back["width"] >= 44 and back["height"] >= 44, back
    assert lang["width"] >= 44 and lang["height"] >= 44, lang
    phone.goto("/app/login")
    register = phone.locator("a[href='/app/register']").bounding_box()
    assert register["width"] >= 44 and register["height"] >= 44, register
    assert small_targets(phone) == []
    screenshot(phone, "a11y-field-login")
    _, ids = worker_grid(live_server)
    evacuate(live_server, 2)
    sign_in_field(phone, WORKER)
    small = {}
    for path in field_pages(ids):
        phone.goto(path)
        if path != "/app/":
            settle(phone)
        small[path] = small_targets(phone)
    assert {path: found for path, found in small.items() if found} == {}
