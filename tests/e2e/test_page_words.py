"""Every console and field page, in both languages, shows people words: no raw code
(`in_progress`, `party_building`), no message id left untranslated, no leftover placeholder
(`%(x)s`, `{x}`, `{{ }}`), and never `null`, `undefined` or `NaN`.

Each page is rendered with the demo data, signed in as someone who sees it, in several states
(cases in every status, a missing case, empty lists, a callout board, the phone's report
result, duplicate offer and offline-saved screens). The words read are those a person sees: the
visible text of the page and the visible attributes (placeholder, title, aria-label, alt, an
option group's label).

English pages must not show a Chinese label either. What people typed and the demo's area and
person names are Chinese in both languages; the sweep tells them apart by reading every text
the server's database holds (`_data_texts`): a Chinese run on an English page that is not in
the data is a label that missed its translation. `test_the_sweep_finds_what_it_looks_for`
shows each check failing on a page that breaks it."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browsing import sign_in_console, sign_in_field
from evacuation_browser import seed_households
from field_evacuation import evacuate
from playwright.sync_api import expect

from grid_backend.core import i18n
from grid_backend.evacuation import ledger
from grid_backend.stats import labels

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "media" / "images" / "hopper.jpg"
ADMIN = "13900000001"  # the demo's admin
DISPATCHER = "13900000004"  # 李值班, dispatcher of 七星岗街道
WORKER = "13900000007"  # 周网格员
RESPONDER = "13900000010"  # 孙群防, called out by a warning
RESIDENT = "13900000012"
DEMO_PASSWORD = "Grid141demo"
MISSING = 99_999_999
LANGUAGES = ("zh-CN", "en")

# What a page shows people, read in the browser: visible text nodes, visible attributes, and
# the options of visible selects (shown when opened).
PAGE_WORDS = """() => {
  const seen = (el) => el && el.checkVisibility({ checkVisibilityCSS: true });
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest("script, style, template, option, optgroup")) continue;
    const text = n.textContent.trim();
    if (text && seen(el)) out.push(["text", text]);
  }
  for (const el of document.body.querySelectorAll("[placeholder], [title], [aria-label], [alt]")) {
    if (!seen(el) && !(el.tagName === "svg" && seen(el.parentElement))) continue;
    for (const name of ["placeholder", "title", "aria-label", "alt"]) {
      const value = (el.getAttribute(name) || "").trim();
      if (value) out.push([name, value]);
    }
  }
  for (const select of document.body.querySelectorAll("select")) {
    if (!seen(select)) continue;
    for (const o of select.querySelectorAll("option")) if (o.text.trim()) out.push(["option", o.text.trim()]);
    for (const g of select.querySelectorAll("optgroup")) if (g.label.trim()) out.push(["optgroup", g.label.trim()]);
  }
  return out;
}"""

NEVER = [
    (re.compile(r"\b(?:null|undefined|NaN)\b"), "null/undefined/NaN"),
    (re.compile(r"%\(\w+\)[sdf]"), "a %(x)s placeholder"),
    (re.compile(r"\{\w+\}"), "a {x} placeholder"),
    (re.compile(r"\{\{|\}\}|\{%|%\}"), "template syntax"),
    (re.compile(r"\bjs:"), "a js: message id"),
    (re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"), "a snake_case code"),
]
CJK = re.compile(r"[\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]+")
HAN = re.compile(r"[\u3400-\u9fff]")
# Chinese that English pages show on purpose: the switch to Chinese, and the one word a
# callout asks people to answer with (quoted as such in the English text).
CHINESE_ON_PURPOSE = {"中文", "收到"} | {c.header for c in ledger.COLUMNS}  # + the ledger's
# column headers, named as the office's Chinese .xlsx names them


def _english_with_chinese() -> set[str]:
    """English texts of the catalogue that have a Chinese translation (the message ids and the
    label tables' names): on a Chinese page, one of them alone is a missed translation."""
    found = set()
    for key, value in i18n.catalog("zh-CN").items():
        text = value[0] if isinstance(value, tuple | list) else value
        english = key.rpartition("\x04")[2].removeprefix("js:")
        if text and text != english and "%(" not in english and "{" not in english:
            found.add(english)
    return found


def _raw_codes() -> set[str]:
    """The codes of the label tables whose name is another word (`pending`, `orange`)."""
    return {
        code
        for table in labels.PAGE_TABLES.values()
        for code, english in table.items()
        if code != english.lower()
    }


def _code_ids() -> set[str]:
    """Message ids made of a word and a code (`level orange`, `answer reminded`): the English
    of such an id is the id itself, never a word for people."""
    codes = {code for table in labels.PAGE_TABLES.values() for code in table}
    return {
        english
        for key in i18n.catalog("zh-CN")
        if (english := key.rpartition("\x04")[2].removeprefix("js:")).count(" ") >= 1
        and english.rsplit(" ", 1)[1] in codes
        and english.split(" ", 1)[0]
        in {
            "level",
            "warning",
            "tier",
            "board",
            "answer",
            "duty",
            "risk",
            "task",
            "plan",
            "day",
            "response",
            "group",
        }
    }


@dataclass
class Sweep:
    """The words found wrong, page by page, for one report at the end."""

    data: str  # every text of the database, joined: what people typed and the demo's names
    english_texts: set[str] = field(default_factory=_english_with_chinese)
    codes: set[str] = field(default_factory=_raw_codes)
    ids: set[str] = field(default_factory=_code_ids)
    wrong: list[str] = field(default_factory=list)
    pages: int = 0

    def __post_init__(self) -> None:
        # one pattern for every id (a search per id and text took seconds a page)
        alternatives = "|".join(re.escape(i) for i in sorted(self.ids, key=len, reverse=True))
        self.id_pattern = re.compile(rf"(?<!\w)(?:{alternatives or '(?!)'})(?!\w)")

    def problems(self, words: list[list[str]], language: str) -> list[str]:
        found = []
        for where, text in words:
            for pattern, what in NEVER:
                # a text as someone wrote it (a payload with "{{7*7}}", "null" typed in) is data
                if (match := pattern.search(text)) and text not in self.data:
                    found.append(f"{what} {match.group(0)!r} in {where} {text[:80]!r}")
            if text in self.codes:
                found.append(f"a raw code in {where} {text!r}")
            if self.id_pattern.search(text):  # alone, or inside ("Risk point · risk major")
                found.append(f"a message id in {where} {text!r}")
            if language == "en":
                for run in CJK.findall(text):
                    if HAN.search(run) and run not in CHINESE_ON_PURPOSE and run not in self.data:
                        found.append(f"Chinese label {run!r} in {where} {text[:80]!r}")
            elif text in self.english_texts:
                found.append(f"untranslated {where} {text!r}")
        return found

    def check(self, page, language: str, what: str) -> None:
        self.pages += 1
        found = self.problems(page.evaluate(PAGE_WORDS), language)
        self.wrong += [f"[{language}] {what} ({page.url}): {p}" for p in sorted(set(found))]


_DATA_TEXTS = """
import asyncio, json
from piccolo.columns import JSON, JSONB, Text, Varchar
from grid_backend.piccolo_conf import APP_REGISTRY

async def main():
    out = []
    tables = [t for app in APP_REGISTRY.app_configs.values() for t in app.table_classes]
    for table in tables:
        columns = [c for c in table._meta.columns if isinstance(c, (Varchar, Text, JSON, JSONB))]
        if columns:
            for row in await table.select(*columns).run():
                for value in row.values():
                    if isinstance(value, str) and value:
                        try:
                            value = json.dumps(json.loads(value), ensure_ascii=False)
                        except ValueError:
                            pass
                        out.append(value)
    print(json.dumps(out, ensure_ascii=False))

asyncio.run(main())
"""


def _data_texts(live_server) -> str:
    """Every text value the server's database holds, joined by newlines."""
    done = subprocess.run(
        [sys.executable, "-c", _DATA_TEXTS],
        env={**live_server.env, "PICCOLO_CONF": "grid_backend.piccolo_conf"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return "\n".join(json.loads(done.stdout))


def _settle(page, selector: str | None = None) -> None:
    """Let a page's script fetch and draw its data."""
    page.wait_for_load_state("load")
    if selector:  # the page's data is drawn: a moment for what is drawn after it
        page.locator(selector).first.wait_for(timeout=15000)
        page.wait_for_timeout(200)
    else:
        page.wait_for_timeout(500)


@dataclass
class World:
    """What the pages are opened on: a case of each status, a callout, a resident's case."""

    cases: dict[str, int]
    callout_id: int
    township_id: int
    resident_case: int
    worker_case: int | None
    task_id: int | None
    qr_area_id: int  # a community with a working QR code and a revoked one
    evacuations: dict[str, int] = field(default_factory=dict)  # a board of each state


def _world(live_server) -> World:
    evacuate(live_server, random.randint(100, 999))  # households on /app/evacuation
    with live_server.api(live_server.login(DISPATCHER)) as api:
        items = api.get("/api/v1/reports", params={"limit": 100}).json()["items"]
        cases: dict[str, int] = {}
        for item in items:
            cases.setdefault(item["status"], item["id"])
        me = api.get("/api/v1/me").json()
        township = me["assignments"][0]["area_id"]
        warning = api.post(
            "/api/v1/warnings",
            json={
                "level": "orange",
                "type": "heavy_rain",
                "area_ids": [township],
                "expires_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
                "message": f"今夜有暴雨 {uuid.uuid4().hex[:6]}，请做好防范",
                "callout": True,
            },
        )
        assert warning.status_code == 201, warning.text
        callout = warning.json()["callout_ids"][-1]
        point = api.get("/api/v1/risk-points", params={"limit": 1}).json()["items"][0]
        for _ in range(2):  # issued, then reissued: one working code and one revoked
            issued = api.post(
                "/api/v1/qr-codes", json={"target": "risk_point", "target_id": point["id"]}
            )
            assert issued.status_code == 201, issued.text
        grid = api.get(f"/api/v1/areas/{point['grid']['id']}").json()
        qr_area = next(a["id"] for a in grid["ancestors"] if a["level"] == "community")
    with live_server.api(live_server.login(RESIDENT)) as api:
        mine = api.get("/api/v1/me/reports", params={"limit": 5}).json()["items"]
    with live_server.api(live_server.login(WORKER)) as api:
        tasks = api.get("/api/v1/me/tasks", params={"limit": 5}).json()["items"]
        me = api.get("/api/v1/me").json()
        worker_cases = api.get(
            "/api/v1/reports", params={"assignee_id": me["account"]["id"], "limit": 5}
        ).json()["items"]
    return World(
        evacuations=_evacuations(live_server),
        cases=cases,
        callout_id=callout,
        township_id=township,
        resident_case=mine[0]["id"],
        worker_case=worker_cases[0]["id"] if worker_cases else None,
        task_id=tasks[0]["id"] if tasks else None,
        qr_area_id=qr_area,
    )


def _evacuations(live_server) -> dict[str, int]:
    """An evacuation of each state: under way (with households, and one covering none),
    proposed by the warnings job, ended."""
    tag = uuid.uuid4().hex[:6]
    people = {"head_name": "王大爷", "head_phone": "13911110001", "people": 2, "elderly_alone": 1}
    seeded = seed_households(
        live_server,
        WORKER,
        [{**people, "address": f"解放碑{tag}号"}],
        shelter={"name": f"解放碑小学{tag}", "capacity": 2},
    )
    found: dict[str, int] = {}
    with live_server.api(live_server.login(DISPATCHER)) as api:
        start = {"area_ids": [seeded["grid_id"]]}
        found["active"] = api.post("/api/v1/evacuations", json=start).json()["id"]
        ended = api.post("/api/v1/evacuations", json=start).json()["id"]
        assert api.post(f"/api/v1/evacuations/{ended}/end", json={}).status_code == 200
        found["ended"] = ended
        point = api.get("/api/v1/risk-points", params={"area_id": seeded["grid_id"]}).json()
        empty = api.post("/api/v1/evacuations", json={"risk_point_ids": [point["items"][0]["id"]]})
        assert empty.status_code == 201, empty.text
        found["empty"] = empty.json()["id"]
        warning = api.post(
            "/api/v1/warnings",
            json={
                "level": "red",
                "type": "heavy_rain",
                "area_ids": [seeded["grid_id"]],
                "expires_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
                "message": f"红色暴雨预警 {tag}",
                "callout": False,
            },
        ).json()
        live_server.cli("jobs", "run", "evacuation.warnings")
        proposed = api.get("/api/v1/evacuations", params={"status": "proposed"}).json()["items"]
        found["proposed"] = next(p["id"] for p in proposed if p["warning_id"] == warning["id"])
        r = api.post(
            f"/api/v1/evacuations/{found['active']}/shelters/{seeded['shelter_id']}/arrivals",
            json={"people": 3},
        )
        assert r.status_code == 201, r.text
    with live_server.api(live_server.login(WORKER)) as api:
        r = api.post(
            f"/api/v1/evacuations/{found['active']}/households/{seeded['households'][0]}/status",
            json={"status": "refused", "reason": "不愿离家"},
        )
        assert r.status_code == 201, r.text
    return found


def _console_pages(world: World) -> list[tuple[str, str, str | None]]:
    """(what, path, a selector to wait for) of every console page state."""
    pages = [
        ("dashboard", "/console/", None),
        ("case queue", "/console/cases", "tr[data-case]"),
        ("closed cases", "/console/cases?status=closed", None),
        ("empty queue", "/console/cases?status=closed&overdue=true&urgent=true", None),
        ("warnings", "/console/warnings", None),
        (
            "callout board",
            f"/console/warnings?area_id={world.township_id}&callout_id={world.callout_id}",
            "#board-people tr",
        ),
        ("patrols", "/console/patrols", None),
        ("people", "/console/people", None),
        ("rewards", "/console/rewards", None),
        ("exports", "/console/exports", None),
        ("webhooks", "/console/webhooks", None),
        ("map", "/console/map", ".leaflet-container"),
        ("urgent", "/console/urgent", None),
        ("qr codes", "/console/qr", "[data-testid=qr-places]"),
        ("qr codes issued", f"/console/qr?area_id={world.qr_area_id}", "td.qr-preview img"),
        ("revoked qr codes", f"/console/qr?area_id={world.qr_area_id}&revoked=true", None),
        ("missing case", f"/console/cases/{MISSING}", None),
        ("hotline intake", "/console/hotline", "#hotline-map[data-ready=true]"),
        ("evacuations", "/console/evacuations", None),
        ("missing evacuation", f"/console/evacuations/{MISSING}", None),
    ]
    pages += [
        (f"evacuation {state}", f"/console/evacuations/{evacuation_id}", "#helper-rows tr")
        for state, evacuation_id in sorted(world.evacuations.items())
    ]
    pages += [
        (f"case {status}", f"/console/cases/{case_id}", None)
        for status, case_id in sorted(world.cases.items())
    ]
    return pages


def _sign_in_field(page, phone: str, language: str) -> None:
    sign_in_field(page, phone, language=language)


def _phone(browser, live_server):
    return browser.new_context(
        base_url=live_server.url,
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": 29.5630, "longitude": 106.5516, "accuracy": 12},
        permissions=["geolocation"],
    )


def _report_screens(page, sweep: Sweep, language: str, screenshot) -> None:
    """The report form's result, duplicate-offer and offline-saved screens."""

    def fill(description: str) -> None:
        page.goto("/app/report")
        page.locator("#send:not([disabled])").wait_for()  # the page's script listens
        expect(page.locator("#position")).to_contain_text(re.compile(r"\d+\.\d+"))
        page.set_input_files("#photo-input", str(PHOTO))
        page.locator("#photos img").first.wait_for()  # a draft may keep the last photo too
        page.select_option("#category", "gas")
        page.fill("textarea[name=description]", description)
        page.check("input[name=safe][value=yes]")

    fill(f"楼道燃气味 {uuid.uuid4().hex[:6]}")
    _settle(page)
    sweep.check(page, language, "report form")
    page.click("#send")
    page.locator("#result:not([hidden]), #precheck:not([hidden])").first.wait_for()
    if page.locator("#precheck").is_visible():
        sweep.check(page, language, "report duplicate offer")
        page.click("#send-anyway")
    page.locator("#result:not([hidden])").wait_for()
    _settle(page)
    sweep.check(page, language, "report result")
    screenshot(page, f"words-report-result-{language}")

    # the same place and category again: the app offers the case just sent as a duplicate
    fill(f"楼道燃气味 {uuid.uuid4().hex[:6]}")
    page.click("#send")
    page.locator("#result:not([hidden]), #precheck:not([hidden])").first.wait_for()
    if page.locator("#precheck").is_visible():
        _settle(page)
        sweep.check(page, language, "report duplicate offer")
        screenshot(page, f"words-report-duplicate-{language}")

    fill(f"路灯不亮 {uuid.uuid4().hex[:6]}")
    page.context.set_offline(True)
    page.click("#send")
    page.locator("#result:not([hidden])").wait_for()
    _settle(page)
    sweep.check(page, language, "report saved offline")
    screenshot(page, f"words-report-offline-{language}")
    page.goto("/app/outbox")  # served by the service worker, or the network fails
    _settle(page)
    sweep.check(page, language, "outbox offline")
    page.context.set_offline(False)


def _field_pages(browser, live_server, world: World, sweep: Sweep, language: str, screenshot):
    anonymous = _phone(browser, live_server)
    page = anonymous.new_page()
    for what, path in (("login", "/app/login"), ("register", "/app/register")):
        page.goto(f"{path}?lang={language}")
        _settle(page)
        sweep.check(page, language, f"field {what}")
    anonymous.close()

    resident = _phone(browser, live_server)
    page = resident.new_page()
    _sign_in_field(page, RESIDENT, language)
    for what, path in (
        ("home", "/app/"),
        ("reports", "/app/reports"),
        ("case", f"/app/case?id={world.resident_case}"),
        ("missing case", f"/app/case?id={MISSING}"),
        ("points", "/app/points"),
        ("inbox", "/app/inbox"),
        ("outbox", "/app/outbox"),
        ("callouts (none)", "/app/callouts"),
        ("my data", "/app/me"),
    ):
        page.goto(path)
        _settle(page)
        sweep.check(page, language, f"resident {what}")
    _report_screens(page, sweep, language, screenshot)
    resident.close()

    worker = _phone(browser, live_server)
    page = worker.new_page()
    _sign_in_field(page, WORKER, language)
    paths = [("home", "/app/"), ("tasks", "/app/tasks"), ("cases", "/app/cases")]
    paths.append(("evacuation", "/app/evacuation"))
    if world.task_id:
        paths.append(("task", f"/app/task?id={world.task_id}"))
    if world.worker_case:
        paths.append(("case", f"/app/case?id={world.worker_case}"))
    paths.append(("missing task", f"/app/task?id={MISSING}"))
    for what, path in paths:
        page.goto(path)
        _settle(page)
        sweep.check(page, language, f"worker {what}")
    worker.close()

    responder = _phone(browser, live_server)
    page = responder.new_page()
    _sign_in_field(page, RESPONDER, language)
    for what, path in (("home", "/app/"), ("callouts", "/app/callouts")):
        page.goto(path)
        _settle(page)
        sweep.check(page, language, f"responder {what}")
    screenshot(page, f"words-field-callouts-{language}")
    responder.close()


def _open311_states(browser, live_server, sweep: Sweep, language: str, screenshot) -> None:
    """The admins' Open311 clients page: its list, and a key just issued from its form."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in_console(page, ADMIN, language=language)
    page.goto("/console/open311")
    _settle(page)
    sweep.check(page, language, "open311 clients")
    page.fill("#open311-issue input[name=name]", f"Civic311 {language}")
    page.click("#open311-issue button[type=submit]")
    _settle(page, "[data-testid=open311-key]:not([hidden])")
    sweep.check(page, language, "open311 key issued")
    screenshot(page, f"words-console-open311-{language}")
    context.close()


def _households_states(browser, live_server, sweep: Sweep, language: str, screenshot) -> None:
    """The households page in each state: the list, nothing found, an area with none, the
    form's field errors, a refused ledger's problems, an import's counts. The ledger imported
    is the area's own export, so it changes nothing the other pages show."""
    import io

    import openpyxl

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in_console(page, DISPATCHER, language=language)
    for what, path, selector in (
        ("households", "/console/households", "[data-testid=households]"),
        (
            "households none found",
            "/console/households?q=zz-none",
            "[data-testid=households-empty]",
        ),
    ):
        page.goto(path)
        _settle(page, selector)
        sweep.check(page, language, what)
    page.goto("/console/households")
    page.click("[data-new]")
    page.click("#household-form button[type=submit]")
    _settle(page, "#household-form .field-error:not(:empty)")
    sweep.check(page, language, "household form errors")
    page.click("#household-dialog [data-close]")
    book = openpyxl.Workbook()
    book.active.append(["网格编码", "地址", "户主姓名", "户主电话", "人数", "包保责任人电话"])
    book.active.append(["999999999999999", "甲", "乙", "12345", 0, "1"])
    book.active.append(["", "", "", "", "", ""])
    book.active.append(["999999999999998", "", "丙", "13600000000", "x", WORKER])
    broken = io.BytesIO()
    book.save(broken)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    page.set_input_files(
        "#import-form input[type=file]",
        {"name": "broken.xlsx", "mimeType": xlsx, "buffer": broken.getvalue()},
    )
    page.click("#import-form button[type=submit]")
    _settle(page, "[data-testid=import-problems]")
    sweep.check(page, language, "household import problems")
    screenshot(page, f"words-console-households-problems-{language}")
    with live_server.api(live_server.login(DISPATCHER)) as api:
        export = api.get("/api/v1/households/export")
        assert export.status_code == 200, export.text
    page.set_input_files(
        "#import-form input[type=file]",
        {"name": "export.xlsx", "mimeType": xlsx, "buffer": export.content},
    )
    page.click("#import-form button[type=submit]")
    _settle(page, "[data-testid=import-success]")
    sweep.check(page, language, "household import success")
    screenshot(page, f"words-console-households-imported-{language}")
    context.close()
    # an area without households: another township, as the city's administrator
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in_console(page, "13900000001", language=language)
    page.goto("/console/households")
    other = page.locator("select[name=area_id] option", has_text="朝天门街道").get_attribute(
        "value"
    )
    page.goto(f"/console/households?area_id={other}")
    _settle(page, "[data-testid=households-empty]")
    sweep.check(page, language, "households of an empty area")
    screenshot(page, f"words-console-households-empty-{language}")
    page.goto("/console/webhooks")  # what admins keep (the dispatcher is told it is theirs)
    _settle(page, "[data-testid=webhooks-table]")
    sweep.check(page, language, "webhooks (admin)")
    context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_shows_people_words(browser, live_server, screenshot, language):
    world = _world(live_server)
    sweep = Sweep(data=_data_texts(live_server))

    console = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    page = console.new_page()
    page.goto(f"/console/login?lang={language}")
    _settle(page)
    sweep.check(page, language, "console login")
    page.fill("input[name=phone]", DISPATCHER)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/**")
    for what, path, selector in _console_pages(world):
        page.goto(path)
        _settle(page, selector)
        sweep.check(page, language, what)
        if what in {
            "callout board",
            "dashboard",
            "people",
            "urgent",
            "qr codes issued",
            "evacuation active",
        }:
            screenshot(page, f"words-console-{what.replace(' ', '-')}-{language}")
    console.close()
    _households_states(browser, live_server, sweep, language, screenshot)
    _open311_states(browser, live_server, sweep, language, screenshot)

    _field_pages(browser, live_server, world, sweep, language, screenshot)
    assert sweep.pages >= 35
    assert not sweep.wrong, f"{len(sweep.wrong)} wrong words:\n" + "\n".join(sweep.wrong)


def test_the_sweep_finds_what_it_looks_for(browser, live_server):
    """Each check fails on a page that breaks it: the Chinese console read as if English, and a
    page made of the mistakes the sweep is for."""
    sweep = Sweep(data="第一网格\n李值班")
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_content(
        "<body><p>level orange</p><p>answer_reminded</p><p>pending</p><p>%(done)s of 5</p>"
        "<p>{count} cases</p><p>{{ name }}</p><p>null</p><p>NaN%</p><p>undefined</p>"
        "<p>已收到 · 第一网格 · 李值班</p><p hidden>null</p><input placeholder='js:Search'>"
        "<p>Dashboard</p></body>"
    )
    found = sweep.problems(page.evaluate(PAGE_WORDS), "en")
    text = "\n".join(found)
    for expected in (
        "snake_case code 'answer_reminded'",
        "a raw code in text 'pending'",
        "'%(done)s'",
        "'{count}'",
        "'{{'",
        "null/undefined/NaN 'null'",
        "'NaN'",
        "'undefined'",
        "Chinese label '已收到'",
        "a js: message id",
        "a message id in text 'level orange'",
    ):
        assert expected in text, (expected, found)
    assert "label '第一网格'" not in text and "label '李值班'" not in text  # data, not labels
    assert len([f for f in found if "'null'" in f]) == 1  # the hidden one is not seen
    untranslated = sweep.problems(page.evaluate(PAGE_WORDS), "zh-CN")
    assert "untranslated text 'Dashboard'" in untranslated

    page.goto("/console/login?lang=zh-CN")
    assert any("Chinese label" in p for p in sweep.problems(page.evaluate(PAGE_WORDS), "en"))
    context.close()
