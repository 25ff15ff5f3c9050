"""The field web app under /app/: phone pages for residents and grid workers without the
native app. The pages are shells rendered in the page language; the data comes from the JSON
API with the tokens the page keeps in IndexedDB, so the service worker can serve the shell
offline and the outbox can send what was made offline once the network returns."""

from __future__ import annotations

import hashlib
import json
from functools import cache

from litestar import Controller, Response, get
from litestar.response import Template

from grid_backend.settings import get_settings
from grid_backend.web import assets, i18n
from grid_backend.web.templating import STATIC, TEMPLATES

FIELD_STATIC = STATIC / "field"

# page name -> (path under /app/, template). The service worker keeps every one of them.
PAGES: dict[str, str] = {
    "home": "/app/",
    "login": "/app/login",
    "register": "/app/register",
    "report": "/app/report",
    "reports": "/app/reports",
    "case": "/app/case",
    "points": "/app/points",
    "tasks": "/app/tasks",
    "task": "/app/task",
    "cases": "/app/cases",
    "inbox": "/app/inbox",
    "callouts": "/app/callouts",
    "outbox": "/app/outbox",
    "evacuation": "/app/evacuation",
    "me": "/app/me",
}


@cache
def shell_assets() -> tuple[list[str], str]:
    """The static URLs the service worker keeps, and a version that changes with any of them
    (or with the page templates), so a changed shell replaces the old cache."""
    # the large install icons are the browser's to fetch from the manifest, not the shell's
    files = sorted(
        p for p in FIELD_STATIC.rglob("*") if p.is_file() and not p.name.endswith("-512.png")
    )
    templates = sorted(p for p in (TEMPLATES / "field").rglob("*") if p.is_file())
    shell = ["common.css", "favicon.svg"] + [
        "field/" + p.relative_to(FIELD_STATIC).as_posix() for p in files
    ]
    urls = [assets.static_url(name) for name in shell]  # the names the pages ask for
    digest = hashlib.sha256()
    for url in urls:
        digest.update(url.encode())
    for path in templates:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return urls, digest.hexdigest()[:12]


def _page(name: str, title: str, **context: object) -> Template:
    return Template(
        template_name=f"field/{name}.html",
        context={
            "page": name,
            "page_title": title,
            "timezone": get_settings().timezone,
            "version": shell_assets()[1],
            "duty_names": {duty: i18n.duty_name(duty) for duty in i18n.DUTY_NAMES},
            **context,
        },
    )


class FieldController(Controller):
    """Every page is the same shell for every visitor: who is signed in is known to the page's
    script (tokens in IndexedDB), never to the server, so the shell can be cached offline."""

    path = "/app"
    include_in_schema = False

    @get("/", name="field:home")
    async def home(self) -> Template:
        return _page("home", "Field app")

    @get("/login", name="field:login")
    async def login(self) -> Template:
        return _page("login", "Sign in")

    @get("/register", name="field:register")
    async def register(self) -> Template:
        s = get_settings()
        # development without an SMS gateway: the code is only in the server's log
        return _page("register", "Sign up", code_in_log=not (s.production or s.sms_gateway_url))

    @get("/report", name="field:report")
    async def report(self) -> Template:
        return _page("report", "Report a hazard")

    @get("/reports", name="field:reports")
    async def reports(self) -> Template:
        return _page("reports", "My reports")

    @get("/case", name="field:case")
    async def case(self) -> Template:
        return _page("case", "Case")

    @get("/points", name="field:points")
    async def points(self) -> Template:
        return _page("points", "My points")

    @get("/tasks", name="field:tasks")
    async def tasks(self) -> Template:
        return _page("tasks", "Patrol tasks")

    @get("/task", name="field:task")
    async def task(self) -> Template:
        return _page("task", "Patrol")

    @get("/cases", name="field:cases")
    async def cases(self) -> Template:
        return _page("cases", "Cases for me")

    @get("/inbox", name="field:inbox")
    async def inbox(self) -> Template:
        return _page("inbox", "Notifications")

    @get("/callouts", name="field:callouts")
    async def callouts(self) -> Template:
        return _page("callouts", "Callouts")

    @get("/outbox", name="field:outbox")
    async def outbox(self) -> Template:
        return _page("outbox", "Waiting to send")

    @get("/evacuation", name="field:evacuation")
    async def evacuation(self) -> Template:
        return _page("evacuation", "Evacuation")

    @get("/me", name="field:me")
    async def me(self) -> Template:
        return _page("me", "My data")

    @get("/manifest.webmanifest", name="field:manifest")
    async def manifest(self) -> Template:
        return Template(
            template_name="field/manifest.webmanifest",
            media_type="application/manifest+json",
        )

    @get("/sw.js", name="field:service_worker")
    async def service_worker(self) -> Response[str]:
        """Served from /app/ so its scope covers every page; never cached, so a new shell
        version is picked up on the next visit."""
        assets, version = shell_assets()
        script = (TEMPLATES / "field" / "sw.js").read_text()
        config = {"version": version, "pages": list(PAGES.values()), "assets": assets}
        body = f"const SHELL = {json.dumps(config)};\n{script}"
        return Response(
            body,
            media_type="text/javascript",
            headers={
                "Service-Worker-Allowed": "/app/",
                "Cache-Control": "no-store, max-age=0",
            },
        )
