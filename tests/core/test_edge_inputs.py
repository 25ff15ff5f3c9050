"""Hostile input at the edge (issue 10, §6): out-of-range ids, control characters, absurd dates,
deep JSON, invalid UTF-8, odd multipart. Each answers a 4xx problem+json naming the field,
never a 500, on both engines."""

from __future__ import annotations

import base64

import pytest
from factories import G1, POINT_IN, file_report, make_person, make_tree, upload_photo

from grid_backend.core.types import MAX_ID

HUGE = 2**63  # beyond SQLite's integer
INT4 = 2**31  # beyond PostgreSQL's serial / foreign key


def _problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])]
        assert field in fields, body
    return body


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
async def people(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    await file_report(client, resident)
    return resident, dispatcher


@pytest.mark.parametrize("value", [INT4, HUGE, 10**30, 0, -1])
@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/api/v1/reports/{}", "report_id"),
        ("POST", "/api/v1/reports/{}/support", "report_id"),
        ("GET", "/api/v1/areas/{}", "area_id"),
        ("GET", "/api/v1/areas/{}/coverage", "area_id"),
        ("GET", "/api/v1/risk-points/{}", "point_id"),
        ("GET", "/api/v1/map/grids/{}", "grid_id"),
        ("GET", "/api/v1/callouts/{}", "callout_id"),
        ("POST", "/api/v1/patrol-plans/{}/end", "plan_id"),
        ("DELETE", "/api/v1/rescue-teams/{}", "team_id"),
    ],
)
async def test_ids_out_of_range_in_a_path_are_422(client, people, method, path, field, value):
    _, dispatcher = people
    r = await client.request(method, path.format(value), headers=dispatcher.headers)
    _problem(r, 422, field)


@pytest.mark.parametrize("value", [INT4, HUGE, 0])
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/reports", "area_id"),
        ("/api/v1/reports", "assignee_id"),
        ("/api/v1/risk-points", "area_id"),
        ("/api/v1/patrols/stats", "area_id"),
        ("/api/v1/stats/points", "account_id"),
        ("/api/v1/stats/dashboard", "area"),
    ],
)
async def test_ids_out_of_range_in_a_query_are_422(client, people, path, param, value):
    _, dispatcher = people
    r = await client.get(path, params={param: value}, headers=dispatcher.headers)
    _problem(r, 422, param)


@pytest.mark.parametrize("value", [INT4, HUGE])
async def test_ids_out_of_range_in_a_body_are_422(client, people, value):
    resident, dispatcher = people
    lat, lng = POINT_IN[G1]
    body = {"category": "gas", "location": {"lat": lat, "lng": lng}, "photo_ids": [value]}
    r = await client.post("/api/v1/reports", json=body, headers=resident.headers)
    _problem(r, 422, "photo_ids[0]")
    r = await client.post(
        "/api/v1/reports/1/actions",
        json={"action": "dispatch", "assignee_id": value},
        headers=dispatcher.headers,
    )
    _problem(r, 422, "assignee_id")


@pytest.mark.parametrize("cursor", [f"i:{HUGE}", f"i:{INT4}", "i:0", "i:²", f"d:|{HUGE}"])
async def test_cursors_out_of_range_are_422(client, people, cursor):
    _, dispatcher = people
    for path in ("/api/v1/reports", "/api/v1/me/reports", "/api/v1/me/notifications"):
        r = await client.get(path, params={"cursor": _cursor(cursor)}, headers=dispatcher.headers)
        _problem(r, 422, "cursor")
    r = await client.get(
        "/api/v1/me/tasks", params={"cursor": _cursor(f"w:1:{HUGE}")}, headers=dispatcher.headers
    )
    _problem(r, 422, "cursor")


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "a\x9bb"])  # C0, DEL, C1
async def test_control_characters_are_refused_in_text(client, people, bad):
    resident, dispatcher = people
    lat, lng = POINT_IN[G1]
    photo = await upload_photo(client, resident)
    location = {"lat": lat, "lng": lng}
    r = await client.post(
        "/api/v1/reports",
        json={"category": "gas", "location": location, "photo_ids": [photo], "description": bad},
        headers=resident.headers,
    )
    body = _problem(r, 422, "description")
    assert body["errors"][0]["code"] == "control_characters"
    r = await client.post(
        "/api/v1/reports",
        json={"category": bad, "location": location, "photo_ids": [photo]},
        headers=resident.headers,
    )
    _problem(r, 422, "category")
    for params in ({"q": bad}, {"category": bad}):
        r = await client.get("/api/v1/reports", params=params, headers=dispatcher.headers)
        _problem(r, 422, next(iter(params)))
    r = await client.post(
        "/api/v1/risk-points",
        json={"name": bad, "type": "landslide", "grid_id": 1, "lat": lat, "lng": lng},
        headers=dispatcher.headers,
    )
    assert r.status_code == 422, r.text
    r = await client.post(
        "/api/v1/reports/1/actions",
        json={"action": "reject", "reason": bad},
        headers=dispatcher.headers,
    )
    _problem(r, 422, "reason")
    r = await client.get("/api/v1/accounts", params={"q": bad}, headers=dispatcher.headers)
    _problem(r, 422, "q")


async def test_newlines_and_tabs_stay_allowed_in_descriptions(client, people):
    resident, _ = people
    report = await file_report(client, resident, description="第一行\n第二行\t完")
    assert report["description"] == "第一行\n第二行\t完"


@pytest.mark.parametrize(
    "params",
    [{"to": "9999-12-31"}, {"from": "0001-01-01"}, {"from": "1999-12-31"}, {"to": "2101-01-01"}],
)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stats/dashboard",
        "/api/v1/stats/points",
        "/api/v1/stats/response-times",
        "/api/v1/patrols/stats",
        "/api/v1/reports/export",
        "/api/v1/tasks",
    ],
)
async def test_dates_outside_the_window_are_422(client, people, path, params):
    _, dispatcher = people
    r = await client.get(path, params=params, headers=dispatcher.headers)
    body = _problem(r, 422, next(iter(params)))
    assert body["code"] == "date_out_of_range"


async def test_dates_in_bodies_outside_the_window_are_422(client, people):
    resident, _ = people
    lat, lng = POINT_IN[G1]
    r = await client.post(
        "/api/v1/reports",
        json={
            "category": "gas",
            "location": {"lat": lat, "lng": lng},
            "photo_ids": [await upload_photo(client, resident)],
            "captured_at": "9999-12-31T23:59:59Z",
        },
        headers=resident.headers,
    )
    _problem(r, 422, "captured_at")


async def test_deeply_nested_json_is_refused_before_decoding(client):
    deep = b'{"phone":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    r = await client.post(
        "/api/v1/auth/login", content=deep, headers={"content-type": "application/json"}
    )
    body = _problem(r, 400)
    assert body["code"] == "json_too_deep"
    deep_object = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    r = await client.post(
        "/api/v1/auth/login", content=deep_object, headers={"content-type": "application/json"}
    )
    assert _problem(r, 400)["code"] == "json_too_deep"


async def test_invalid_utf8_in_a_report_is_a_client_error(client, people):
    resident, _ = people
    raw = b'{"category":"gas","description":"\xff\xfe","location":{"lat":29.52,"lng":106.52}}'
    r = await client.post(
        "/api/v1/reports",
        content=raw,
        headers={**resident.headers, "content-type": "application/json"},
    )
    body = _problem(r, 400)
    assert body["code"] == "encoding_invalid"
    r = await client.post(  # a body Litestar decodes, not the report's own reader
        "/api/v1/auth/login",
        content=b'{"phone":"\xff","password":"x"}',
        headers={"content-type": "application/json"},
    )
    assert _problem(r, 400)["code"] == "encoding_invalid"


async def test_multipart_photo_ids_must_be_ascii_digits(client, people):
    resident, _ = people
    lat, lng = POINT_IN[G1]
    r = await client.post(
        "/api/v1/reports",
        data={"category": "gas", "lat": str(lat), "lng": str(lng), "photo_ids": "²"},
        files={"photos": ("a.jpg", b"x", "image/jpeg")},
        headers=resident.headers,
    )
    _problem(r, 422, "photo_ids")


async def test_too_many_multipart_parts_is_its_own_code(client, people):
    resident, _ = people
    data = {f"f{i}": "x" for i in range(60)}
    r = await client.post(
        "/api/v1/reports",
        data=data,
        files={"photos": ("a.jpg", b"x", "image/jpeg")},
        headers=resident.headers,
    )
    body = _problem(r, 413)
    assert body["code"] == "too_many_parts"
    r = await client.post(
        "/api/v1/media",
        data=data,
        files={"file": ("a.jpg", b"x", "image/jpeg")},
        headers=resident.headers,
    )
    assert _problem(r, 413)["code"] == "too_many_parts"


async def test_the_largest_id_is_still_a_plain_404(client, people):
    _, dispatcher = people
    r = await client.get(f"/api/v1/reports/{MAX_ID}", headers=dispatcher.headers)
    assert _problem(r, 404)["code"] == "report_not_found"


async def test_openapi_declares_problem_responses(client):
    doc = (await client.get("/schema/openapi.json")).json()
    assert "ProblemDetails" in doc["components"]["schemas"]
    read = doc["paths"]["/api/v1/reports/{report_id}"]["get"]["responses"]
    for status in ("401", "403", "404", "422"):
        assert "application/problem+json" in read[status]["content"], status
    assert read["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "/ProblemDetails"
    )
    login = doc["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"400", "401", "422", "429"} <= set(login)
    assert "409" not in login
    # a taken number answers like a wrong code (422), never 409, so sign-up tells nothing
    register = doc["paths"]["/api/v1/auth/register"]["post"]["responses"]
    assert "409" not in register and {"422", "429"} <= set(register)
    assert {"429", "503"} <= set(doc["paths"]["/api/v1/auth/register/code"]["post"]["responses"])
    assert "503" in doc["paths"]["/api/v1/media"]["post"]["responses"]  # server_busy
    export = doc["paths"]["/api/v1/reports/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/geo+json",
    }
    param = next(
        p
        for p in doc["paths"]["/api/v1/reports/{report_id}"]["get"]["parameters"]
        if p["name"] == "report_id"
    )
    assert param["schema"]["maximum"] == MAX_ID


async def test_options_lists_every_method_of_the_path(client):
    r = await client.options("/api/v1/assignments")
    assert r.status_code == 204
    assert r.headers["allow"] == "GET, OPTIONS, POST"
    r = await client.options("/api/v1/assignments/1")
    assert r.headers["allow"] == "DELETE, GET, OPTIONS, PATCH"


async def test_json_bodies_over_a_megabyte_are_413(client):
    big = b'{"phone":"' + b"1" * (1024 * 1024) + b'","password":"x"}'
    r = await client.post(
        "/api/v1/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert _problem(r, 413)["code"] == "payload_too_large"
