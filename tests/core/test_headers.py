"""Security headers (core/headers.py): the Content-Security-Policy on every HTML page of the app
(console, field app, home, error and 404 pages), nosniff and Referrer-Policy on every answer,
no-store on the console and on the API's personal data."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest
from factories import G1, file_report, make_person, make_tree

from grid_backend.core.headers import content_security_policy, tile_source
from grid_backend.settings import get_settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
NOT_PAGES = (
    "/api/",
    "/open311/",
    "/static/",
    "/schema",
    "/healthz",
    "/readyz",
)  # open311: JSON/XML
NOT_HTML = {"/app/sw.js", "/app/manifest.webmanifest", "/favicon.ico"}


def page_paths(app) -> list[str]:
    """Every GET route of the app that renders a page, with its path parameters filled."""
    paths = []
    for route in app.routes:
        if "GET" not in getattr(route, "methods", ()) or route.path.startswith(NOT_PAGES):
            continue
        if route.path in NOT_HTML:
            continue
        paths.append(
            re.sub(r"\{\w+:path\}", "not-a-code", re.sub(r"\{\w+:int\}", "999999", route.path))
        )
    return sorted(paths)


def assert_html_headers(answer: httpx.Response) -> None:
    assert answer.headers["content-type"].startswith("text/html"), answer.request.url
    assert answer.headers["content-security-policy"] == CSP, answer.request.url
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"


def test_the_policy_is_the_documented_one():
    assert content_security_policy(replace(get_settings(), map_tile_url="")) == CSP
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://{s}.tile.example/{z}/{x}/{y}.png", "https://*.tile.example"),
        (
            "https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}",
            "https://*.is.autonavi.com",
        ),
        ("http://tiles.city.local:8080/{z}/{x}/{y}.png", "http://tiles.city.local:8080"),
        ("/tiles/{z}/{x}/{y}.png", None),  # our own origin: 'self' covers it
        ("", None),
    ],
)
def test_the_tile_host_becomes_an_image_source(url, source):
    assert tile_source(url) == source
    policy = content_security_policy(replace(get_settings(), map_tile_url=url))
    img = next(d for d in policy.split("; ") if d.startswith("img-src "))
    assert img == "img-src 'self' data: blob:" + (f" {source}" if source else "")


async def test_a_configured_tile_host_is_in_the_policy_of_the_pages(db):
    from grid_backend.app import create_app

    settings = replace(get_settings(), map_tile_url="https://{s}.tile.example/{z}/{x}/{y}.png")
    app = create_app(settings, open_pool=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        answer = await c.get("/")
    policy = answer.headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://*.tile.example;" in policy
    assert "script-src 'self';" in policy


async def test_every_page_carries_the_policy(client, app):
    await make_tree()
    dispatcher = await make_person(("dispatcher", "500103001"))
    paths = page_paths(app)
    assert {"/", "/app", "/app/task", "/console", "/console/map", "/console/patrols"} <= set(paths)
    assert "/console/cases/999999" in paths  # a case that does not exist: the 404 page

    for path in paths:  # a visitor: the console sends to sign-in
        answer = await client.get(path)
        if answer.status_code in (302, 303):
            assert path.startswith("/console")
            continue
        # a QR code that is not one: the page saying so (web/qr.py)
        assert answer.status_code == (404 if path.startswith("/q/") else 200), path
        assert_html_headers(answer)

    client.cookies.set("grid_access", dispatcher.token)
    for path in paths:
        answer = await client.get(path, params={"lang": "en"})
        # 403: an admin's page (Open311 clients) refused to a dispatcher, as a page
        assert answer.status_code in (200, 403, 404), (path, answer.status_code)
        assert_html_headers(answer)
        if path.startswith("/console"):
            assert answer.headers["cache-control"] == "no-store", path


async def test_error_and_missing_pages_carry_the_policy(client):
    await make_tree()
    resident = await make_person()
    client.cookies.set("grid_access", resident.token)
    refused = await client.get("/console/map")  # the console is for staff: an HTML 403 page
    assert refused.status_code == 403
    assert_html_headers(refused)
    expired = await client.post("/console/logout", data={"csrf_token": "forged"})
    assert expired.status_code == 403  # the CSRF error page
    assert_html_headers(expired)

    client.cookies.clear()
    for path in ("/no-such-page", "/console/no-such-page", "/app/no-such-page", "/static/nope.js"):
        missing = await client.get(path, headers={"Accept": "text/html"})
        assert missing.status_code == 404, path
        assert missing.headers["x-content-type-options"] == "nosniff"
        assert missing.headers["referrer-policy"] == "same-origin"
        # unknown paths answer problem+json, never HTML: nothing there to run a script in
        assert missing.headers["content-type"].startswith("application/problem+json")


async def test_api_answers_and_files_are_not_sniffed_and_personal_data_is_not_stored(client):
    await make_tree()
    resident = await make_person(name="居民甲")
    me = await client.get("/api/v1/me", headers=resident.headers)
    assert me.status_code == 200
    assert me.headers["cache-control"] == "no-store"
    assert me.headers["x-content-type-options"] == "nosniff"
    assert me.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in me.headers  # JSON is not a page

    report = await file_report(client, resident, grid=G1)
    case = await client.get(f"/api/v1/reports/{report['id']}", headers=resident.headers)
    assert case.headers["cache-control"] == "no-store"
    photo = case.json()["photos"][0]["thumbnail_url"]
    image = await client.get(photo, headers=resident.headers)
    assert image.status_code == 200
    # a photo revalidates every time (access may end); its bytes never change, so 304 is cheap
    assert image.headers["cache-control"] == "private, no-cache"
    assert image.headers["x-content-type-options"] == "nosniff"

    login = await client.post(
        "/api/v1/auth/login", json={"phone": resident.phone, "password": "wrong-password-1"}
    )
    assert login.headers["cache-control"] == "no-store"  # answers of the token endpoint too

    config = await client.get("/api/v1/config")  # the same for everybody: may be cached
    assert "no-store" not in config.headers.get("cache-control", "")
    script = await client.get("/static/console/map.js")
    assert script.status_code == 200
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in script.headers.get("cache-control", "")
    worker = await client.get("/app/sw.js")
    assert worker.headers["x-content-type-options"] == "nosniff"
