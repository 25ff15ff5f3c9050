"""The XSS canary (issue 10 §1): a script payload in every text a user can write, then every
console and field page opened in Chromium, map features hovered and clicked, patrol tasks
opened. The payload must never run and never become markup.

Every payload sets `window.__xss` if it ever runs. A trap installed before any page script
records that, any alert/confirm/prompt/print and any dialog. A MutationObserver also records
any element that arrives with an `on…` handler or a `javascript:` link carrying the payload,
so a payload that became markup is caught even where the Content-Security-Policy stops it
from running. Each page must also show the payload as literal text (the test cannot pass by
not showing the data).

FIELDS lists every str field of the API's input Structs and the writes that are not Structs
(GeoJSON imports, the CLI): what the test seeds into it, or why it is not free text.
`test_every_input_text_field_is_in_the_canary_table` fails when a new one appears."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pkgutil
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import msgspec
import msgspec.inspect as mi
import pytest
from browsing import sign_in_console, sign_in_field
from evacuation_browser import seed_households
from field_evacuation import evacuate

import grid_backend
from grid_backend.web.field import PAGES

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "media" / "images" / "hopper.jpg"
REPORTS = ROOT / ".pytest-data" / "xss-canary"  # what each run visited and saw
PASSWORD = "Grid141demo"
ADMIN, SUPERVISOR, DISPATCHER = "13900000001", "13900000002", "13900000004"
LEADER, WORKER, OFFICER = "13900000006", "13900000007", "13900000009"
# accounts made by this test (create-user), with names that carry a payload
CANARY_WORKER, CANARY_RESIDENT = "13655500001", "13655500002"
CANARY_PASSWORD = "Canary-xss-141-Chongqing!"

# Each shape sets the canary if it ever runs as HTML or as a link.
IMG = '<img src=x onerror="window.__xss=1">'
SVG = '<svg onload="window.__xss=1">'
EVACUEES = [
    {"address": "转移户" + IMG, "head_name": "户主" + SVG, "head_phone": "13912345678",
     "people": 2, "lat": 29.56, "lng": 106.55, "note": IMG, "linked": True},
]  # fmt: skip
SCRIPT = '"><script>window.__xss=1</script>'
JS_LINK = "javascript:window.__xss=1"
TEMPLATE = "{{7*7}}${7*7}"

# field -> the value seeded into it: a short tag (to find it on the page) and a payload
V: dict[str, str] = {
    "worker_name": "工" + IMG,
    "resident_name": "民" + SVG,
    "grid_name": "网格" + IMG,
    "community_name": "社区" + SCRIPT,
    "rp_name": "点位" + IMG,
    "rp_note": "备注" + SVG,
    "rp_contact_name": "联系" + IMG,
    "rp_contact_role": "职务" + TEMPLATE,
    "rp_contact_phone": JS_LINK,
    "rp2_name": "改点" + SVG,
    "rp2_note": "改注" + IMG,
    "plan_name": "计划" + IMG,
    "plan2_name": "改计划" + SVG,
    "checkpoint_name": "签点" + IMG,
    "checkpoint2_name": "签点二" + SVG,
    "check_in_note": "签注" + IMG,
    "check_in_client_id": "cid" + IMG,
    "narrative": "日志" + SVG,
    "excuse": "免责" + IMG,
    "case_desc": "案" + IMG + TEMPLATE,
    "case_client_id": "rcid" + SVG,
    "sos_desc": "呼救" + IMG,
    "sos_client_id": "sosid" + SVG,
    "hotline_caller": "来电" + SVG,
    "hotline_desc": "热线" + IMG + TEMPLATE,
    "hotline_client_id": "hlid" + IMG,
    "hotline_address": "热线地址" + SVG + "网格" + IMG,  # names the seeded grid ("grid_name")
    "register_note": "立案" + SVG,
    "dispatch_note": "交办" + IMG,
    "reject_desc": "驳案" + SVG,
    "reject_reason": "驳回" + IMG,
    "suspend_desc": "挂案" + IMG,
    "suspend_reason": "挂起" + SVG,
    "return_desc": "退案" + SVG,
    "return_reason": "退回" + IMG,
    "major_desc": "重大" + IMG,
    "responsibility": "责任" + IMG,
    "measures": "措施" + SVG,
    "funds": "资金" + SCRIPT,
    "contingency": "预案" + IMG,
    "urgent_desc": "急" + IMG,
    "team_name": "救援" + IMG,
    "team_contact_name": "队长" + SVG,
    "team_contact_phone": JS_LINK,
    "team_note": "队注" + IMG,
    "team2_name": "改队" + SVG,
    "team2_note": "改队注" + IMG,
    "response_note": "出动" + SVG,
    "step_note": "到场" + IMG,
    "warning_message": "预警" + IMG,
    "warning2_message": "改预警" + SVG,
    "cancel_reason": "解除" + IMG,
    "callout_message": "叫应" + IMG,
    "callout_message_en": "Callout " + SVG,
    "shelter_name": "避险点" + IMG,
    "shelter_contact_name": "联系人" + SVG,
    "shelter_contact_phone": JS_LINK,
    "shelter2_name": "改避险点" + SVG,
    "shelter2_contact_name": "改联系人" + IMG,
    "shelter2_contact_phone": "<img src=x onerror=__xss=1>",  # 32 characters at most
    "household_address": "户址" + IMG,
    "household_head_name": "户主" + SVG,
    "household_watch_group": "联防" + SCRIPT,
    "household_note": "备注" + JS_LINK,
    "household2_address": "改户址" + SVG,
    "household2_head_name": "改户主" + IMG,
    "household2_watch_group": "改联防" + IMG,
    "household2_note": "改备注" + SCRIPT,
    "household3_address": "导入户址" + IMG,
    "household3_head_name": "导入户主" + SVG,
    "household3_watch_group": "导入联防" + SCRIPT,
    "household3_note": "导入备注" + IMG,
    "route_name": "转移路线" + IMG,
    "route_cluster": "片区" + SVG,
    # evacuations: households written straight into the table (tests/evacuation_browser.py)
    "evac_household_address": "住址" + IMG,
    "evac_household_head": "户主" + SVG,
    "evac_household_note": "户注" + SCRIPT,
    "evacuation_note": "转移" + IMG,
    "refusal_reason": "拒转" + SVG,
    "evacuation_shelter": "安置" + IMG,
    "webhook_name": "钩子" + IMG + TEMPLATE,
    "webhook2_name": "改钩子" + SVG,
    "open311_client_name": "接入方" + IMG,
    "open311_desc": "接入上报" + SVG,
}

EXEMPT = "not free text: "
# Every str field of an input Struct (grid_backend.*.schemas, forbid_unknown_fields), and
# every write that is not a Struct: the V key(s) seeded into it, or why it is not user text.
FIELDS: dict[str, str] = {
    "alerts.WarningCreate.message": "warning_message",
    "alerts.WarningUpdate.message": "warning2_message",
    "alerts.CancelIn.reason": "cancel_reason",
    "alerts.CalloutCreate.message": "callout_message",
    "alerts.CalloutCreate.message_en": "callout_message_en",
    "areas.Contact.name": "rp_contact_name",
    "areas.Contact.role": "rp_contact_role",
    "areas.Contact.phone": "rp_contact_phone",
    "areas.RiskPointCreate.name": "rp_name",
    "areas.RiskPointCreate.note": "rp_note",
    "areas.RiskPointCreate.code": EXEMPT + "pattern [A-Za-z0-9_-]+",
    "open311.ClientCreate.name": "open311_client_name",
    "open311.ClientCreate.slug": EXEMPT + "pattern [a-z0-9-]+",
    "areas.RiskPointUpdate.name": "rp2_name",
    "areas.RiskPointUpdate.note": "rp2_note",
    "hazards.ReportCreate.description": "case_desc reject_desc suspend_desc return_desc"
    " major_desc urgent_desc",
    "hazards.ReportCreate.client_id": "case_client_id",
    "hazards.SosCreate.description": "sos_desc",
    "hazards.SosCreate.client_id": "sos_client_id",
    "hazards.HotlineCreate.caller_name": "hotline_caller",
    "hazards.HotlineCreate.description": "hotline_desc",
    "hazards.HotlineCreate.client_id": "hotline_client_id",
    "hazards.HotlineCreate.address": "hotline_address",
    "hazards.HotlineCreate.caller_phone": EXEMPT + "a mainland mobile number, validated and"
    " stored as 11 digits",
    "hazards.HotlineCreate.category": EXEMPT + "one of the configured categories",
    "hazards.ReportCreate.category": EXEMPT + "one of the configured categories",
    "hazards.ReportCreate.qr": EXEMPT + "a QR code's token, looked up, never stored or shown",
    "hazards.Supervision.responsibility": "responsibility",
    "hazards.Supervision.measures": "measures",
    "hazards.Supervision.funds": "funds",
    "hazards.Supervision.contingency_plan": "contingency",
    "hazards.ActionIn.note": "register_note dispatch_note",
    "hazards.ActionIn.reason": "reject_reason suspend_reason return_reason",
    "hazards.ActionIn.category": EXEMPT + "one of the configured categories",
    "hazards.ActionIn.board": EXEMPT + "one of the configured boards",
    "hazards.DuplicateCheck.category": EXEMPT + "a lookup, never stored",
    "hazards.SlaRuleWrite.category": EXEMPT + "one of the configured categories",
    "patrols.Recurrence.time": EXEMPT + "pattern HH:MM",
    "patrols.CheckpointIn.name": "checkpoint_name checkpoint2_name",
    "patrols.PlanCreate.name": "plan_name",
    "patrols.PlanCreate.duty": EXEMPT + "a duty name",
    "patrols.PlanUpdate.name": "plan2_name",
    "patrols.PlanUpdate.duty": EXEMPT + "a duty name",
    "patrols.CheckInCreate.note": "check_in_note",
    "patrols.CheckInCreate.client_id": "check_in_client_id",
    "patrols.FinishIn.narrative": "narrative",
    "patrols.ExcuseIn.reason": "excuse",
    "people.RegisterIn.name": "resident_name",  # the account's name: seeded via create-user
    "people.RegisterIn.phone": EXEMPT + "a phone number, normalised",
    "people.RegisterIn.password": EXEMPT + "never shown",
    "people.RegisterIn.code": EXEMPT + "six digits, checked against a stored digest",
    "people.CodeRequestIn.phone": EXEMPT + "a phone number, normalised",
    "people.LoginIn.phone": EXEMPT + "never stored",
    "people.LoginIn.password": EXEMPT + "never shown",
    "people.DeletionIn.password": EXEMPT + "never shown",
    "people.RefreshIn.refresh_token": EXEMPT + "never shown",
    "people.AssignmentCreate.duty": EXEMPT + "a duty name",
    "people.AssignmentCreate.area_code": EXEMPT + "a lookup",
    "people.AssignmentCreate.phone": EXEMPT + "a lookup",
    "people.AssignmentCreate.employment": EXEMPT + "full_time or part_time",
    "people.AssignmentCreate.board": EXEMPT + "one of the configured boards",
    "evacuation.ShelterCreate.name": "shelter_name",
    "evacuation.ShelterCreate.contact_name": "shelter_contact_name",
    "evacuation.ShelterCreate.contact_phone": "shelter_contact_phone",
    "evacuation.ShelterUpdate.name": "shelter2_name",
    "evacuation.ShelterUpdate.contact_name": "shelter2_contact_name",
    "evacuation.ShelterUpdate.contact_phone": "shelter2_contact_phone",
    "evacuation.HouseholdCreate.address": "household_address",
    "evacuation.HouseholdCreate.head_name": "household_head_name",
    "evacuation.HouseholdCreate.head_phone": EXEMPT + "a mobile or landline number, normalised",
    "evacuation.HouseholdCreate.watch_group": "household_watch_group",
    "evacuation.HouseholdCreate.note": "household_note",
    "evacuation.HouseholdUpdate.address": "household2_address",
    "evacuation.HouseholdUpdate.head_name": "household2_head_name",
    "evacuation.HouseholdUpdate.head_phone": EXEMPT + "a mobile or landline number, normalised",
    "evacuation.HouseholdUpdate.watch_group": "household2_watch_group",
    "evacuation.HouseholdUpdate.note": "household2_note",
    "evacuation.RouteCreate.name": "route_name",
    "evacuation.RouteCreate.from_cluster": "route_cluster",
    "response.TeamCreate.name": "team_name",
    "response.TeamCreate.contact_name": "team_contact_name",
    "response.TeamCreate.contact_phone": "team_contact_phone",
    "response.TeamCreate.note": "team_note",
    "response.TeamUpdate.name": "team2_name",
    "response.TeamUpdate.contact_name": "team_contact_name",
    "response.TeamUpdate.contact_phone": "team_contact_phone",
    "response.TeamUpdate.note": "team2_note",
    "response.DispatchIn.note": "response_note",
    "response.StepIn.note": "step_note",
    "notify.QuietHours.start": EXEMPT + "pattern HH:MM",
    "notify.QuietHours.end": EXEMPT + "pattern HH:MM",
    "notify.WebhookCreate.name": "webhook_name",
    "notify.WebhookCreate.url": EXEMPT + "an http(s) URL to a public address, checked",
    "notify.WebhookCreate.secret": EXEMPT + "printable ASCII, never shown after creation",
    "notify.WebhookUpdate.name": "webhook2_name",
    "notify.WebhookUpdate.url": EXEMPT + "an http(s) URL to a public address, checked",
    "notify.WebhookUpdate.secret": EXEMPT + "printable ASCII, never shown",
    # writes that are not Structs
    "import:POST /api/v1/areas/import properties.name": "grid_name community_name",
    "cli:create-user --name": "worker_name resident_name",
    "import:POST /open311/v2/requests.json description (a form)": "open311_desc",
    "import:POST /api/v1/households/import 地址 户主姓名 十户联防组 备注": (
        "household3_address household3_head_name household3_watch_group household3_note"
    ),
}


def _str_fields(t: mi.Type) -> bool:
    if isinstance(t, mi.StrType):
        return True
    if isinstance(t, mi.Metadata):  # a Meta with a description or examples wraps the type
        return _str_fields(t.type)
    if isinstance(t, mi.UnionType):
        return any(_str_fields(x) for x in t.types)
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return _str_fields(t.item_type)
    if isinstance(t, mi.DictType):
        return _str_fields(t.value_type)
    return False


def input_text_fields() -> set[str]:
    """`domain.Struct.field` for every str-typed field of an input Struct (one that forbids
    unknown fields: the request bodies and what they nest)."""
    found = set()
    for module in pkgutil.iter_modules(grid_backend.__path__):
        try:
            schemas = importlib.import_module(f"grid_backend.{module.name}.schemas")
        except ModuleNotFoundError:
            continue
        for name, obj in vars(schemas).items():
            if not (isinstance(obj, type) and issubclass(obj, msgspec.Struct)):
                continue
            if obj.__module__ != schemas.__name__:
                continue
            info = mi.type_info(obj)
            if not info.forbid_unknown_fields:
                continue
            for f in info.fields:
                if _str_fields(f.type):
                    found.add(f"{module.name}.{name}.{f.name}")
    return found


def test_every_input_text_field_is_in_the_canary_table():
    """A new text field in a request body must be seeded with a payload by the canary test
    (or marked as not free text, with the reason)."""
    found = input_text_fields()
    listed = {k for k in FIELDS if not k.startswith(("import:", "cli:"))}
    assert found - listed == set(), "text fields the XSS canary does not cover; add to FIELDS"
    assert listed - found == set(), "FIELDS names fields that no longer exist"
    for key, seeded in FIELDS.items():
        if not seeded.startswith(EXEMPT):
            assert all(name in V for name in seeded.split()), key


# --- the trap -------------------------------------------------------------------------------

TRAP = r"""
(() => {
  if (window.__canary) return;
  // to Python at once (a binding), so a finding survives the page navigating away
  const report = (kind, text) => window.__canaryReport(kind, text);
  let value;
  Object.defineProperty(window, "__xss", {
    configurable: false,
    get() { return value; },
    set(v) {
      value = v;
      const stack = (new Error().stack || "").split("\n").slice(2, 5).map((l) => l.trim());
      report("fired", `via ${stack.join(" < ")}`);
    },
  });
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    const original = window[name];
    window[name] = function (...args) {
      report("dialogs", `${name}(${args.join(", ")})`);
      return original.apply(this, args);
    };
  }
  const bad = (name, value) =>
    (name.startsWith("on") && value.includes("__xss")) ||
    (["href", "src", "action", "formaction", "xlink:href", "data"].includes(name) &&
      /^\s*javascript:/i.test(value));
  const isCode = (el) => el.tagName === "SCRIPT" &&
    ["", "module", "text/javascript", "application/javascript"].includes(el.type || "");
  function check(el) {
    for (const attr of el.attributes || []) {
      if (bad(attr.name.toLowerCase(), attr.value)) {
        report("markup", `<${el.tagName.toLowerCase()} ${attr.name}="${attr.value}">`);
      }
    }
    if (isCode(el) && el.textContent.includes("__xss")) {
      report("markup", `<script>${el.textContent}</script>`);
    }
  }
  function scan(node) {
    if (node.nodeType !== 1) return;
    check(node);
    for (const el of node.querySelectorAll("*")) check(el);
  }
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") {
        const v = r.target.getAttribute(r.attributeName);
        if (v !== null && bad(r.attributeName.toLowerCase(), v)) check(r.target);
      }
      for (const n of r.addedNodes) scan(n);
    }
  }).observe(document, { childList: true, subtree: true, attributes: true });
  document.addEventListener("securitypolicyviolation", (e) =>
    report("csp", `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
  window.__canary = { scan: () => scan(document.documentElement) };
})();
"""


@dataclass
class Canary:
    """What the trap found on every page of one browser context."""

    fired: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    markup: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.context.expose_binding("__canaryReport", self._report)
        page.context.add_init_script(TRAP)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        page.on("console", self._console)

    def _report(self, source, kind: str, text: str) -> None:
        getattr(self, kind).append(f"{text} (/{source['page'].url.split('/', 3)[-1]})")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def collect(self, page, where: str) -> None:
        """Scan the page as it is now (the trap reports as it goes) and note the visit."""
        trapped = page.evaluate("() => Boolean(window.__canary && (window.__canary.scan(), 1))")
        assert trapped, f"{where}: the canary trap is missing"
        self.pages.append(where)

    def assert_clean(self, name: str) -> None:
        """Fail on anything the payload did; keep a record of the run either way."""
        engine = "pg" if os.environ["GRID_DATABASE_URL"].startswith("postgres") else "sqlite"
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / f"{name}-{engine}.json").write_text(
            json.dumps(dataclasses.asdict(self), ensure_ascii=False, indent=1)
        )
        problems = [
            *(f"payload ran: {x}" for x in self.fired),
            *(f"dialog: {x}" for x in self.dialogs),
            *(f"payload became markup: {x}" for x in self.markup),
            *(f"not shown as text: {x}" for x in self.missing),
        ]
        assert not problems, "\n".join(
            [*dict.fromkeys(problems), *(f"(page error: {e})" for e in self.errors)]
        )


def show(page, canary: Canary, path: str, texts: Sequence[str] = ()) -> None:
    """Open a page, wait for it to show `texts` literally, and let the trap scan it."""
    page.goto(path)
    expect_texts(page, canary, texts, path)
    canary.collect(page, path)


def expect_texts(page, canary: Canary, texts: Sequence[str], where: str) -> None:
    """Wait until the page shows every text literally; record the ones it never shows."""
    texts = list(texts)
    if not texts:
        page.wait_for_load_state("load")
        return
    try:
        page.wait_for_function(
            "(texts) => texts.every((t) => document.body.innerText.includes(t))",
            arg=texts,
            timeout=10000,
        )
    except Exception:
        body = page.evaluate("() => document.body.innerText")
        canary.missing.extend(f"{where}: {t}" for t in texts if t not in body)


def hover_and_click(
    page, canary: Canary, selector: str, where: str, *, click: bool
) -> tuple[int, set[str]]:
    """Hover every map feature (the tooltip opens), then click it; the trap sees each."""
    # in the page, in one go (a round trip per feature took most of the canary's minute): the
    # trap watches every change as it is made, so nothing drawn in between goes unseen
    count, tips = page.evaluate(
        """([selector, click]) => {
          const tips = [];
          const features = [...document.querySelectorAll(selector)];
          for (const feature of features) {
            feature.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
            for (const tip of document.querySelectorAll(".leaflet-tooltip")) tips.push(tip.innerText);
            feature.dispatchEvent(new MouseEvent("mouseout", { bubbles: true }));
            if (click) feature.dispatchEvent(new MouseEvent("click", { bubbles: true }));
          }
          return [features.length, tips];
        }""",
        [selector, click],
    )
    if click:  # what the clicks fetch is drawn (the live stream keeps the network busy)
        page.wait_for_timeout(800)
    canary.collect(page, f"{where} ({count} × {selector})")
    return count, set(tips)


# --- seeding through the API, as the roles that may write each text ---------------------------


def _ok(answer, *codes: int):
    assert answer.status_code in (codes or (200, 201)), answer.text
    return answer.json()


@dataclass
class Seeded:
    grid_id: int
    community_id: int
    township_id: int
    cases: dict[str, int]
    tasks: dict[str, int]
    callout_id: int
    warning_id: int
    day: str
    evacuation_id: int = 0


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _ledger(grid_code: str, helper_phone: str) -> bytes:
    """A households' ledger with payloads in its text columns, as an office's .xlsx."""
    import io

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(
        ["网格编码", "地址", "户主姓名", "户主电话", "人数", "包保责任人电话", "十户联防组", "备注"]
    )
    sheet.append(
        [
            grid_code,
            V["household3_address"],
            V["household3_head_name"],
            "023-63861234",
            2,
            helper_phone,
            V["household3_watch_group"],
            V["household3_note"],
        ]
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def seed(live_server) -> Seeded:
    login = live_server.login
    with live_server.api(login(WORKER)) as api:
        worker = api.get("/api/v1/me").json()
    worker_id = worker["account"]["id"]
    grid_id = next(a["area_id"] for a in worker["assignments"] if a["duty"] == "grid_worker")
    admin = live_server.api(login(ADMIN))
    grid = _ok(admin.get(f"/api/v1/areas/{grid_id}"))
    community = next(a for a in grid["ancestors"] if a["level"] == "community")
    township = next(a for a in grid["ancestors"] if a["level"] == "township")

    # accounts (the CLI: registration proves a phone first), areas (GeoJSON import, admin)
    live_server.cli(
        "create-user",
        *("--phone", CANARY_WORKER, "--password", CANARY_PASSWORD, "--name", V["worker_name"]),
        *("--duty", "grid_worker", "--area-code", grid["code"]),
    )
    live_server.cli(
        "create-user",
        *("--phone", CANARY_RESIDENT, "--password", CANARY_PASSWORD, "--name", V["resident_name"]),
    )
    tree = _ok(
        admin.get(
            f"/api/v1/areas/{community['id']}/export", params={"level": ["community", "grid"]}
        )
    )
    names = {community["code"]: V["community_name"], grid["code"]: V["grid_name"]}
    tree["features"] = [f for f in tree["features"] if f["properties"]["code"] in names]
    for feature in tree["features"]:
        feature["properties"]["name"] = names[feature["properties"]["code"]]
    _ok(admin.post("/api/v1/areas/import", json=tree))
    # an Open311 client (admin); it posts a report beside the residents' ones below
    issued = _ok(admin.post("/api/v1/open311-clients", json={"name": V["open311_client_name"]}))

    # risk points (the grid's emergency officer)
    with live_server.api(login(OFFICER)) as officer:
        demo = _ok(officer.get("/api/v1/risk-points", params={"area_id": grid_id}))["items"][0]
        lat, lng = demo["lat"], demo["lng"]
        point = _ok(
            officer.post(
                "/api/v1/risk-points",
                json={
                    "name": V["rp_name"],
                    "type": "landslide",
                    "risk_level": "high",
                    "lat": lat + 0.0003,
                    "lng": lng,
                    "note": V["rp_note"],
                    "contacts": [
                        {
                            "name": V["rp_contact_name"],
                            "role": V["rp_contact_role"],
                            "phone": V["rp_contact_phone"],
                        }
                    ],
                },
            )
        )
        second = _ok(
            officer.post(
                "/api/v1/risk-points",
                json={
                    "name": "临时",
                    "type": "flood_underpass",
                    "risk_level": "major",
                    "lat": lat - 0.0003,
                    "lng": lng + 0.0002,
                },
            )
        )
        _ok(
            officer.patch(
                f"/api/v1/risk-points/{second['id']}",
                json={"name": V["rp2_name"], "note": V["rp2_note"]},
            )
        )
        # QR codes: the point's first code reissued (a revoked one), then the grid's others
        for _ in range(2):
            _ok(
                officer.post(
                    "/api/v1/qr-codes", json={"target": "risk_point", "target_id": point["id"]}
                )
            )
        _ok(officer.post("/api/v1/qr-codes/issue-all", json={"area_id": grid_id}))

    # patrols: a plan for the demo worker, done with a log; another one missed and excused
    dispatcher = live_server.api(login(DISPATCHER))
    opens = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(minutes=2)

    def plan(name: str, checkpoints: list[dict]) -> dict:
        return _ok(
            dispatcher.post(
                "/api/v1/patrol-plans",
                json={
                    "name": name,
                    "grid_id": grid_id,
                    "account_id": worker_id,
                    "recurrence": {"kind": "daily", "time": opens.strftime("%H:%M")},
                    "checkpoints": checkpoints,
                    "window_minutes": 120,
                },
            )
        )

    def first_task(plan_id: int) -> dict:
        return _ok(dispatcher.get("/api/v1/tasks", params={"plan_id": plan_id}))["items"][0]

    done_plan = plan(
        V["plan_name"],
        [
            {"risk_point_id": point["id"], "radius_m": 50},
            {"lat": lat, "lng": lng + 0.0004, "name": V["checkpoint_name"], "radius_m": 50},
        ],
    )
    done_task = first_task(done_plan["id"])
    with live_server.api(login(WORKER)) as api:
        _ok(api.post(f"/api/v1/tasks/{done_task['id']}/start", json={}))
        checkpoint = done_plan["checkpoints"][0]
        _ok(
            api.post(
                f"/api/v1/tasks/{done_task['id']}/check-ins",
                json={
                    "checkpoint_id": checkpoint["id"],
                    "location": {"lat": checkpoint["lat"], "lng": checkpoint["lng"]},
                    "note": V["check_in_note"],
                    "client_id": V["check_in_client_id"],
                },
            )
        )
        _ok(
            api.post(
                f"/api/v1/tasks/{done_task['id']}/finish",
                json={"narrative": V["narrative"], "households_visited": 3},
            )
        )
    missed_plan = plan(
        "临时计划",
        [{"lat": lat + 0.0004, "lng": lng, "name": V["checkpoint2_name"], "radius_m": 50}],
    )
    _ok(
        dispatcher.patch(
            f"/api/v1/patrol-plans/{missed_plan['id']}", json={"name": V["plan2_name"]}
        )
    )
    missed_task = first_task(missed_plan["id"])
    live_server.miss_task(missed_task["id"])
    _ok(dispatcher.post(f"/api/v1/tasks/{missed_task['id']}/excuse", json={"reason": V["excuse"]}))

    # cases: reported by the canary resident, taken through the workflow by the dispatcher
    resident = live_server.api(login(CANARY_RESIDENT, CANARY_PASSWORD))

    def report(description: str, **extra) -> int:
        photo = _ok(
            resident.post(
                "/api/v1/media", files={"file": ("h.jpg", PHOTO.read_bytes(), "image/jpeg")}
            )
        )
        body = {
            "category": "fire",
            "description": description,
            "location": {"lat": lat + 0.0002, "lng": lng - 0.0002},
            "photo_ids": [photo["id"]],
            "reporter_safe": True,
            **extra,
        }
        return _ok(resident.post("/api/v1/reports", json=body))["id"]

    posted = admin.post(  # a form, not a Struct
        "/open311/v2/requests.json",
        data={
            "api_key": issued["api_key"],
            "service_code": "fire",
            "lat": str(lat + 0.0002),
            "long": str(lng - 0.0004),
            "description": V["open311_desc"],
            "attribute[reporter_safe]": "true",
        },
    )
    assert posted.status_code == 201, posted.text

    def act(case_id: int, action: str, who=dispatcher, **body) -> None:
        _ok(who.post(f"/api/v1/reports/{case_id}/actions", json={"action": action, **body}))

    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    cases = {
        "desc": report(V["case_desc"], client_id=V["case_client_id"]),
        "reject": report(V["reject_desc"]),
        "suspend": report(V["suspend_desc"]),
        "return": report(V["return_desc"]),
        "major": report(V["major_desc"]),
        "urgent": report(V["urgent_desc"], urgent=True, category="landslide"),
        "sos": _ok(
            resident.post(
                "/api/v1/sos",
                json={
                    "location": {"lat": lat + 0.0002, "lng": lng - 0.0002},
                    "description": V["sos_desc"],
                    "client_id": V["sos_client_id"],
                },
            )
        )["id"],
        "hotline": _ok(
            dispatcher.post(
                "/api/v1/hotline-reports",
                json={
                    "channel": "hotline_12345",
                    "caller_phone": "13900009999",
                    "caller_name": V["hotline_caller"],
                    "category": "fire",
                    "description": V["hotline_desc"],
                    "location": {"lat": lat + 0.0002, "lng": lng - 0.0002},
                    "client_id": V["hotline_client_id"],
                },
            )
        )["report_id"],
        # a typed address naming the grid (its name a payload too) is matched to it
        "hotline_address": _ok(
            dispatcher.post(
                "/api/v1/hotline-reports",
                json={
                    "channel": "staff",
                    "caller_phone": "13900009998",
                    "category": "fire",
                    "description": "代报",
                    "address": V["hotline_address"],
                },
            )
        )["report_id"],
    }
    act(cases["desc"], "register", note=V["register_note"])
    act(cases["desc"], "dispatch", note=V["dispatch_note"], assignee_id=worker_id, due_at=due)
    act(cases["reject"], "reject", reason=V["reject_reason"])
    act(cases["suspend"], "register")
    act(cases["suspend"], "dispatch", assignee_id=worker_id, due_at=due)
    with live_server.api(login(WORKER)) as api:
        act(cases["suspend"], "acknowledge", who=api)
    act(cases["suspend"], "suspend", reason=V["suspend_reason"])
    act(cases["return"], "register")
    act(cases["return"], "dispatch", assignee_id=worker_id, due_at=due)
    act(cases["return"], "return", reason=V["return_reason"])
    act(cases["major"], "register", level="major")
    act(
        cases["major"],
        "dispatch",
        assignee_id=worker_id,
        supervision={
            "responsibility": V["responsibility"],
            "measures": V["measures"],
            "funds": V["funds"],
            "deadline": due,
            "contingency_plan": V["contingency"],
        },
    )

    # rescue teams (the district supervisor) and a response to the urgent case
    with live_server.api(login(SUPERVISOR)) as supervisor:
        team = _ok(
            supervisor.post(
                "/api/v1/rescue-teams",
                json={
                    "name": V["team_name"],
                    "type": "professional",
                    "tier": "ground",
                    "base": {"lat": lat + 0.001, "lng": lng},
                    "area_ids": [township["id"]],
                    "contact_name": V["team_contact_name"],
                    "contact_phone": V["team_contact_phone"],
                    "note": V["team_note"],
                },
            )
        )
        other = _ok(
            supervisor.post(
                "/api/v1/rescue-teams",
                json={
                    "name": "临时队",
                    "type": "community",
                    "tier": "community",
                    "base": {"lat": lat - 0.001, "lng": lng},
                    "area_ids": [township["id"]],
                },
            )
        )
        _ok(
            supervisor.patch(
                f"/api/v1/rescue-teams/{other['id']}",
                json={"name": V["team2_name"], "note": V["team2_note"]},
            )
        )
        # shelters (no page shows them yet: seeded so that the pages that come do)
        shelter = _ok(
            supervisor.post(
                "/api/v1/shelters",
                json={
                    "name": V["shelter_name"],
                    "kind": "school",
                    "location": {"lat": lat + 0.002, "lng": lng},
                    "capacity": 300,
                    "area_ids": [township["id"]],
                    "contact_name": V["shelter_contact_name"],
                    "contact_phone": V["shelter_contact_phone"],
                },
            )
        )
        _ok(
            supervisor.patch(
                f"/api/v1/shelters/{shelter['id']}",
                json={
                    "name": V["shelter2_name"],
                    "contact_name": V["shelter2_contact_name"],
                    "contact_phone": V["shelter2_contact_phone"],
                },
            )
        )
        # threatened households (no page shows them yet): by the API and by the ledger
        household = _ok(
            supervisor.post(
                "/api/v1/households",
                json={
                    "grid_id": grid_id,
                    "address": V["household_address"],
                    "head_name": V["household_head_name"],
                    "head_phone": "13812345678",
                    "people": 3,
                    "elderly_alone": 1,
                    "helper_id": worker_id,
                    "shelter_id": shelter["id"],
                    "risk_point_id": point["id"],
                    "watch_group": V["household_watch_group"],
                    "note": V["household_note"],
                },
            )
        )
        _ok(
            supervisor.patch(
                f"/api/v1/households/{household['id']}",
                json={
                    "address": V["household2_address"],
                    "head_name": V["household2_head_name"],
                    "watch_group": V["household2_watch_group"],
                    "note": V["household2_note"],
                },
            )
        )
        _ok(
            supervisor.post(
                "/api/v1/households/import",
                files={"file": ("ledger.xlsx", _ledger(grid["code"], WORKER), XLSX)},
            )
        )
        _ok(
            supervisor.post(
                "/api/v1/evacuation-routes",
                json={
                    "name": V["route_name"],
                    "area_id": township["id"],
                    "points": [{"lat": lat, "lng": lng}, {"lat": lat + 0.002, "lng": lng}],
                    "shelter_id": shelter["id"],
                    "from_cluster": V["route_cluster"],
                },
            )
        )
    response = _ok(
        dispatcher.post(
            f"/api/v1/reports/{cases['urgent']}/responses",
            json={"team_id": team["id"], "note": V["response_note"]},
        )
    )
    _ok(
        dispatcher.post(
            f"/api/v1/reports/{cases['urgent']}/responses/{response['id']}/steps",
            json={"step": "acknowledge", "note": V["step_note"]},
        )
    )

    # warnings and callouts (the dispatcher of the township)
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    def warn(message: str, **extra) -> dict:
        body = {"level": "yellow", "type": "heavy_rain", "area_ids": [grid_id],
                "expires_at": expires, "message": message, **extra}  # fmt: skip
        return _ok(dispatcher.post("/api/v1/warnings", json=body))

    warning = warn(V["warning_message"])
    changed = warn("临时预警", callout=False)
    _ok(
        dispatcher.patch(
            f"/api/v1/warnings/{changed['id']}", json={"message": V["warning2_message"]}
        )
    )
    lifted = warn("将解除", callout=False)
    _ok(
        dispatcher.post(
            f"/api/v1/warnings/{lifted['id']}/cancel", json={"reason": V["cancel_reason"]}
        )
    )
    callout = _ok(
        dispatcher.post(
            "/api/v1/callouts",
            json={
                "area_ids": [grid_id],
                "message": V["callout_message"],
                "message_en": V["callout_message_en"],
                "duties": ["grid_worker"],
            },
        )
    )
    evacuation_id = _evacuation(live_server, dispatcher)
    # webhook subscribers (admins): paused at once, so nothing is ever sent to their address
    for name, renamed in ((V["webhook_name"], None), ("钩子", V["webhook2_name"])):
        hook = admin.post(
            "/api/v1/webhooks",
            json={"name": name, "url": "https://93.184.215.14/hook", "kinds": ["evacuation.ended"]},
        )
        assert hook.status_code == 201, hook.text
        _ok(admin.post(f"/api/v1/webhooks/{hook.json()['id']}/pause"))
        if renamed:
            _ok(admin.patch(f"/api/v1/webhooks/{hook.json()['id']}", json={"name": renamed}))
    for client in (admin, dispatcher, resident):
        client.close()
    # households in an evacuation (the demo worker helps them; one linked to the canary resident)
    evacuate(live_server, "", households=EVACUEES, resident=CANARY_RESIDENT, shelter="避险" + IMG)
    return Seeded(
        evacuation_id=evacuation_id,
        grid_id=grid_id,
        community_id=community["id"],
        township_id=township["id"],
        cases=cases,
        tasks={"done": done_task["id"], "missed": missed_task["id"]},
        callout_id=callout["id"],
        warning_id=warning["id"],
        day=done_task["local_date"],
    )


def _evacuation(live_server, dispatcher: httpx.Client) -> int:
    """Households with payloads in their texts, an evacuation over their grid (with a note), a
    refusal with a reason and a headcount at a shelter named with a payload."""
    texts = {"address": V["evac_household_address"], "head_name": V["evac_household_head"],
             "note": V["evac_household_note"], "head_phone": "13911112222", "people": 3}  # fmt: skip
    seeded = seed_households(
        live_server,
        WORKER,
        # two households, not one twice (the ledger's identity: grid, address, head's phone)
        [texts, {**texts, "elderly_alone": 1, "head_phone": "13911112223"}],
        shelter={"name": V["evacuation_shelter"], "capacity": 5},
    )
    run = _ok(
        dispatcher.post(
            "/api/v1/evacuations",
            json={"area_ids": [seeded["grid_id"]], "note": V["evacuation_note"]},
        )
    )
    with live_server.api(live_server.login(WORKER)) as worker:
        _ok(
            worker.post(
                f"/api/v1/evacuations/{run['id']}/households/{seeded['households'][0]}/status",
                json={"status": "refused", "reason": V["refusal_reason"]},
            )
        )
    _ok(
        dispatcher.post(
            f"/api/v1/evacuations/{run['id']}/shelters/{seeded['shelter_id']}/arrivals",
            json={"people": 4},
        )
    )
    return run["id"]


@pytest.fixture(scope="module")
def seeded(live_server) -> Seeded:
    return seed(live_server)


# --- the pages ---------------------------------------------------------------------------------


def console_pages(page, canary: Canary, s: Seeded, *, area: str = "", admin: bool = False) -> None:
    """Every console page, with the seeded texts each must show literally."""
    q = f"?area_id={s.township_id}" if area else ""
    amp = f"&area_id={s.township_id}" if area else ""
    show(page, canary, "/console/" + q)
    show(page, canary, "/console/cases" + q, ["案" + IMG, "急" + IMG])
    show(page, canary, "/console/cases?q=" + IMG.replace(" ", "%20"))  # reflected in the form
    assert page.input_value("input[name=q]") == IMG
    for key, texts in {
        "desc": [V["case_desc"], V["register_note"], V["dispatch_note"], V["resident_name"]],
        "reject": [V["reject_desc"], V["reject_reason"]],
        "suspend": [V["suspend_desc"], V["suspend_reason"]],
        "return": [V["return_desc"], V["return_reason"]],
        "major": [V["major_desc"], V["responsibility"], V["measures"], V["funds"]],
        "urgent": [V["urgent_desc"]],
        "sos": [V["sos_desc"]],
        "hotline": [V["hotline_desc"], V["hotline_caller"]],
        "hotline_address": [V["hotline_address"]],
    }.items():
        show(page, canary, f"/console/cases/{s.cases[key]}", [*texts, V["grid_name"]])
    show(page, canary, "/console/cases/2147483000", [])  # the missing-case page
    show(page, canary, "/console/hotline" + q)
    page.wait_for_selector("#hotline-map[data-ready=true]", timeout=20000)
    _, tips = hover_and_click(
        page, canary, "#hotline-map .leaflet-interactive", "/console/hotline", click=False
    )
    if not any(V["grid_name"] in tip for tip in tips):  # the grids' names, as text
        canary.missing.append(f"/console/hotline tooltips: {V['grid_name']}")

    page.goto("/console/map" + q)
    page.wait_for_selector("#map[data-ready=true]", timeout=20000)
    count, tips = hover_and_click(
        page, canary, "#map .leaflet-interactive", "/console/map", click=True
    )
    assert count > 5
    for name in ("rp_name", "rp2_name", "grid_name"):
        if not any(V[name] in tip for tip in tips):
            canary.missing.append(f"/console/map tooltips: {V[name]}")
    # the demo grid's detail: its team, its risk points, the names of its areas
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "grid_access")
    with httpx.Client(base_url=page.url.split("/console")[0]) as api:
        grids = api.get(
            "/api/v1/map/grids",
            params={"area_id": s.township_id},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["features"]
    index = next(i for i, f in enumerate(grids) if f["id"] == s.grid_id)
    page.locator("#map path.grid").nth(index).click(force=True)
    expect_texts(
        page,
        canary,
        [V["grid_name"], V["community_name"], V["worker_name"], V["rp_name"], V["rp2_name"]],
        "/console/map grid detail",
    )
    page.select_option("#colour-by", "risk")
    canary.collect(page, "/console/map (grid detail)")

    show(
        page,
        canary,
        f"/console/patrols?day={s.day}{amp}",
        [V["plan_name"], V["plan2_name"]],
    )
    for task in page.locator("[data-task]").all():
        task.click()
        dialog = page.locator("#task-dialog")
        dialog.wait_for()
        page.wait_for_selector("#task-map .leaflet-marker-icon", timeout=10000)
        hover_and_click(
            page,
            canary,
            "#task-map .leaflet-interactive, #task-map .leaflet-marker-icon",
            f"/console/patrols task {task.get_attribute('data-task')}",
            click=False,
        )
        dialog.locator("[data-close]").first.click()
    page.locator(f"[data-task='{s.tasks['done']}']").click()
    page.wait_for_selector("#task-map .leaflet-marker-icon", timeout=10000)
    expect_texts(
        page,
        canary,
        [V["plan_name"], V["rp_name"], V["checkpoint_name"], V["narrative"], V["grid_name"]],
        "/console/patrols done task",
    )
    canary.collect(page, "/console/patrols (done task)")
    page.locator("#task-dialog [data-close]").first.click()
    page.locator(f"[data-task='{s.tasks['missed']}']").click()
    page.wait_for_selector("#task-map .leaflet-marker-icon", timeout=10000)
    expect_texts(page, canary, [V["plan2_name"], V["checkpoint2_name"], V["excuse"]], "missed task")
    canary.collect(page, "/console/patrols (missed task)")
    page.locator("#task-dialog [data-close]").first.click()
    # the plan form lists the grid's people and risk points; each grid chosen loads its points,
    # and a late answer for the first grid would replace the chosen one's: wait for it first
    points = "/api/v1/risk-points?area_id="
    with page.expect_response(lambda r: points in r.url):
        page.click("#new-plan")
    with page.expect_response(lambda r: f"{points}{s.grid_id}&" in r.url):
        page.select_option("#plan-form select[name=grid_id]", str(s.grid_id))
    expect_texts(page, canary, [V["worker_name"], V["rp_name"]], "/console/patrols plan form")
    canary.collect(page, "/console/patrols (plan form)")

    show(page, canary, "/console/people" + q, [V["worker_name"]])
    show(page, canary, "/console/rewards" + q, [V["resident_name"]])
    show(page, canary, "/console/urgent" + q, [V["urgent_desc"], V["team_name"]])
    for button in page.locator("[data-suggest]").all():
        button.click()
    expect_texts(page, canary, [V["team_name"]], "/console/urgent suggestions")
    canary.collect(page, "/console/urgent (suggestions)")
    show(page, canary, "/console/warnings" + q, [V["warning_message"], V["warning2_message"]])
    show(
        page,
        canary,
        f"/console/warnings?callout_id={s.callout_id}{amp}",
        [V["callout_message"], V["worker_name"]],
    )
    show(page, canary, "/console/exports" + q)
    # Open311 clients: the admin's page (anyone else is shown the refusal page)
    show(page, canary, "/console/open311", [V["open311_client_name"]] if area else [])
    show(page, canary, "/console/cases" + q, [V["open311_desc"]])
    qr = f"/console/qr?area_id={s.community_id}"
    show(page, canary, qr, [V["rp_name"], V["rp2_name"], V["grid_name"], V["community_name"]])
    show(page, canary, qr + "&revoked=true", [V["rp_name"], V["grid_name"], V["community_name"]])
    show(page, canary, "/console/evacuations" + q, [V["grid_name"]])
    show(
        page,
        canary,
        f"/console/evacuations/{s.evacuation_id}",
        [V["evacuation_note"], V["evac_household_address"], V["evac_household_head"],
         V["refusal_reason"], V["evacuation_shelter"]],
    )  # fmt: skip
    households(page, canary, q)
    # admins keep the webhooks; everyone else is told so
    show(
        page, canary, "/console/webhooks", [V["webhook_name"], V["webhook2_name"]] if admin else []
    )


def households(page, canary: Canary, q: str) -> None:
    """The households page: its rows hovered, the form opened on the changed household, a
    search that finds nothing (the typed payload reflected into the search box)."""
    names = ["household2_address", "household2_head_name", "household2_watch_group"]
    names += ["household3_address", "household3_head_name", "household3_watch_group"]
    texts = [V[n] for n in names] + [V["shelter2_name"], V["worker_name"], V["rp_name"]]
    show(page, canary, "/console/households" + q, texts)
    for row in page.locator("[data-testid=households] tbody tr").all():
        row.hover()
    row = page.locator("[data-testid=households] tr", has_text=V["household2_address"])
    row.locator("[data-edit]").click()
    assert page.input_value("#household-form input[name=address]") == V["household2_address"]
    assert page.input_value("#household-form textarea[name=note]") == V["household2_note"]
    canary.collect(page, "/console/households (form)")
    page.locator("#household-dialog [data-close]").click()
    show(page, canary, "/console/households?q=" + IMG.replace(" ", "%20"))
    assert page.input_value("input[name=q]") == IMG


def bulk_dispatch(page, canary: Canary) -> None:
    """The bulk page names the assignee (the canary worker) and each refusal."""
    page.goto("/console/cases?q=" + "退案")
    page.check("#select-all")
    page.locator("#bulk-dispatch label.person", has_text="工<img").first.locator("input").check()
    page.click("#bulk-submit")
    confirm = page.locator("#bulk-dispatch dialog.outside-dialog")
    if confirm.is_visible():  # the canary worker is outside some of the cases' grids
        confirm.locator("[data-answer=yes]").click()
    page.wait_for_url("**/console/cases/dispatch")
    expect_texts(page, canary, [V["worker_name"]], "/console/cases/dispatch")
    canary.collect(page, "/console/cases/dispatch")


def console_routes() -> set[str]:
    """The console's pages: its GET routes, and the bulk dispatch answer (a POST)."""
    from grid_backend.web.console import router

    pages = {r.path for r in router().routes if "GET" in r.methods}
    return pages | {"/console/cases/dispatch"}


def covered(canary: Canary, routes: set[str]) -> set[str]:
    """The routes (`{report_id:int}` style) none of the visited pages matched."""
    visited = {where.split()[0].split("?")[0].rstrip("/") or "/" for where in canary.pages}
    patterns = {
        r: re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", r.rstrip("/")) + "$") for r in routes
    }
    return {r for r, p in patterns.items() if not any(p.match(v) for v in visited)}


def refused_action(page, canary: Canary, case_id: int) -> None:
    """A refused action shows the case page again with what was typed: the payload goes back
    into the form's attributes and text areas as text."""
    page.goto(f"/console/cases/{case_id}")
    form = page.locator("form[data-action=relocate]")
    form.locator("input[name=lat]").evaluate("(el, v) => { el.value = v; }", SCRIPT)
    form.locator("input[name=lng]").evaluate("(el, v) => { el.value = v; }", IMG)
    form.evaluate("(f) => f.requestSubmit()")
    page.wait_for_selector("[data-problem=relocate]", timeout=15000)
    again = page.locator("form[data-action=relocate]")
    assert again.locator("input[name=lat]").input_value() == SCRIPT
    assert again.locator("input[name=lng]").input_value() == IMG
    canary.collect(page, f"/console/cases/{case_id}/actions (refused)")


def field_pages(page, canary: Canary, pages: dict[str, list[str]]) -> None:
    """The field app's pages fill #view from the API (or its cache) after the shell loads."""
    for path, texts in pages.items():
        page.goto(path)
        page.wait_for_function("() => !document.querySelector('#view .loading')", timeout=20000)
        expect_texts(page, canary, texts, path)
        canary.collect(page, path)


@pytest.mark.browser
def test_console_pages_never_run_the_payload_as_the_dispatcher(desktop, seeded, screenshot):
    canary = Canary()
    canary.watch(desktop)
    show(desktop, canary, "/console/login?next=" + JS_LINK)
    sign_in_console(desktop, DISPATCHER)
    console_pages(desktop, canary, seeded)
    bulk_dispatch(desktop, canary)
    refused_action(desktop, canary, seeded.cases["desc"])
    desktop.goto(f"/console/patrols?day={seeded.day}")
    desktop.locator(f"[data-task='{seeded.tasks['done']}']").click()
    desktop.wait_for_selector("#task-map .leaflet-marker-icon")
    screenshot(desktop, "xss-console-patrol-task")
    desktop.goto("/console/map")
    desktop.wait_for_selector("#map[data-ready=true]", timeout=20000)
    for point in desktop.locator("#map path.risk-point").all():
        point.hover(force=True)
        if V["rp_name"] in " ".join(desktop.locator(".leaflet-tooltip").all_inner_texts()):
            break
    screenshot(desktop, "xss-console-map")
    canary.collect(desktop, "/console/map (screenshots)")
    canary.assert_clean("console-dispatcher")
    assert covered(canary, console_routes()) == set(), "console pages the canary never opened"


@pytest.mark.browser
def test_console_pages_never_run_the_payload_as_the_admin(desktop, seeded, screenshot):
    canary = Canary()
    canary.watch(desktop)
    sign_in_console(desktop, ADMIN)
    console_pages(desktop, canary, seeded, area="township", admin=True)
    desktop.goto(f"/console/cases/{seeded.cases['major']}")
    screenshot(desktop, "xss-console-case")
    canary.assert_clean("console-admin")


@pytest.mark.browser
def test_field_pages_never_run_the_payload_as_a_grid_worker(phone, seeded, screenshot):
    canary = Canary()
    canary.watch(phone)
    show(phone, canary, "/app/login")
    show(phone, canary, "/app/register")
    sign_in_field(phone, WORKER)
    s = seeded
    field_pages(
        phone,
        canary,
        {
            "/app/": [],
            "/app/tasks": [V["plan_name"]],
            f"/app/task?id={s.tasks['done']}": [
                V["plan_name"],
                V["rp_name"],
                V["checkpoint_name"],
                V["narrative"],
            ],
            f"/app/task?id={s.tasks['missed']}": [V["plan2_name"], V["checkpoint2_name"]],
            "/app/cases": ["案" + IMG],
            f"/app/case?id={s.cases['desc']}": [V["case_desc"], V["dispatch_note"]],
            f"/app/case?id={s.cases['major']}": [V["major_desc"]],
            f"/app/case?id={s.cases['suspend']}": [V["suspend_desc"], V["suspend_reason"]],
            "/app/callouts": [V["callout_message"]],
            "/app/evacuation": ["转移户" + IMG, "户主" + SVG, "避险" + IMG],
            "/app/inbox": [V["callout_message"]],
            "/app/outbox": [],
            "/app/points": [],
            "/app/me": [],
            "/app/report": [],
            "/app/reports": [],
        },
    )
    phone.goto(f"/app/task?id={s.tasks['done']}")
    phone.wait_for_selector("#view > *")
    screenshot(phone, "xss-field-task")
    canary.collect(phone, "/app/task (screenshot)")
    canary.assert_clean("field-worker")
    assert covered(canary, set(PAGES.values())) == set(), "field pages the canary never opened"


@pytest.mark.browser
def test_field_pages_never_run_the_payload_as_a_resident(phone, seeded, screenshot):
    canary = Canary()
    canary.watch(phone)
    sign_in_field(phone, CANARY_RESIDENT, CANARY_PASSWORD)
    s = seeded
    field_pages(
        phone,
        canary,
        {
            "/app/": [V["resident_name"], "转移户" + IMG, "避险" + IMG],
            "/app/reports": ["案" + IMG, "驳案" + SVG],
            **{
                f"/app/case?id={s.cases[key]}": texts
                for key, texts in {
                    "desc": [V["case_desc"]],
                    "reject": [V["reject_desc"], V["reject_reason"]],
                    "suspend": [V["suspend_desc"]],
                    "return": [V["return_desc"]],
                    "major": [V["major_desc"]],
                    "urgent": [V["urgent_desc"]],
                    "sos": [V["sos_desc"]],
                }.items()
            },
            "/app/points": [],
            "/app/inbox": [],
            "/app/outbox": [],
            "/app/report": [],
        },
    )
    screenshot(phone, "xss-field-report")
    # a resident in the console gets the error page
    sign_in_console(phone, CANARY_RESIDENT, CANARY_PASSWORD)
    phone.wait_for_selector("[data-code=forbidden]")
    canary.collect(phone, "/console (resident: error page)")
    canary.assert_clean("field-resident")
