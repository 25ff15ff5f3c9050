"""Health, readiness, OpenAPI and the error contract every client relies on."""

from __future__ import annotations

import httpx
from litestar import Litestar, get

from grid_backend.core.errors import EXCEPTION_HANDLERS


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"


async def test_openapi_is_served_locally_and_lists_the_api(client):
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in (
        "/api/v1/auth/login",
        "/api/v1/locate",
        "/api/v1/areas/{area_id}",
        "/api/v1/assignments",
        "/api/v1/risk-points",
        "/api/v1/areas/import",
    ):
        assert path in paths, path
    login = paths["/api/v1/auth/login"]["post"]
    assert "requestBody" in login


async def test_config_publishes_datums_and_duties(client):
    body = (await client.get("/api/v1/config")).json()
    assert body["datums"] == ["wgs84", "gcj02", "bd09"]
    assert body["timezone"] == "Asia/Shanghai"
    assert "grid_leader" in body["duties"]
    assert body["locate_tolerance_m"] == 300


async def test_unknown_route_and_wrong_method_are_problems(client):
    r = await client.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"
    assert r.json()["title"] == "Not found"
    r = await client.put("/api/v1/me")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"


async def test_an_unexpected_error_is_a_500_that_leaks_nothing():
    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/secret/path")

    app = Litestar([boom], exception_handlers=EXCEPTION_HANDLERS, logging_config=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "internal_error"
    assert "hunter2" not in r.text
    assert "secret" not in r.text


async def test_chinese_is_the_default_language(client):
    r = await client.get("/api/v1/me")
    assert r.json()["title"] == "请先登录"
    r = await client.get("/api/v1/me", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert r.json()["title"] == "请先登录"
    r = await client.get("/api/v1/me", headers={"Accept-Language": "en-GB"})
    assert r.json()["title"] == "Authentication is required"


async def test_openapi_describes_bodies_read_by_hand(client):
    doc = (await client.get("/schema/openapi.json")).json()
    body = doc["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["$ref"] == "#/components/schemas/ReportCreate"
    assert (
        body["multipart/form-data"]["schema"]["properties"]["photos"]["items"]["format"] == "binary"
    )
    report = doc["components"]["schemas"]["ReportCreate"]
    assert {"category", "location"} <= set(report["required"])
    upload = doc["paths"]["/api/v1/media"]["post"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
