"""The API fuzzed from its own OpenAPI document (schemathesis): every operation, as a resident, a
grid worker and a dispatcher, with valid and invalid inputs. No answer may be a 5xx, and every
answer must be one the document declares (status code, content type, body schema, headers).

Bounded and seeded (hypothesis `derandomize`), so a run is the same on every machine; the suite
runs it on each engine like every other test. Requests go through httpx's ASGI transport on the
test's event loop (schemathesis' own ASGI client runs the app on another thread, which an asyncpg
pool cannot follow), and schemathesis validates each answer.

Excluded, because they cannot be fuzzed in-process:
- GET /api/v1/events: a live-event stream that never ends (tests/notify covers it).

`FUZZ_EXAMPLES` raises the number of examples per operation (default 5); `FUZZ_COLLECT=path`
writes every failure to a JSON-lines file instead of failing on the first, and one line per
request to `path.count` (to count them)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import httpx
import pytest
import requests
import schemathesis
from factories import CITY, G1, Person, file_report, make_person, make_tree
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

from grid_backend.app import create_app

EXCLUDED = {("GET", "/api/v1/events")}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
COLLECT = os.environ.get("FUZZ_COLLECT")
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)

_app = create_app(open_pool=False)
SCHEMA = schemathesis.openapi.from_dict(_app.openapi_schema.to_schema())
OPERATIONS = [
    op.ok()
    for op in SCHEMA.get_all_operations()
    if (op.ok().method.upper(), op.ok().path) not in EXCLUDED
]
CHECK_FUNCTIONS = [CHECKS.get_one(name) for name in CHECK_NAMES]


@dataclass
class Cast:
    roles: dict[str, dict[str, str]]
    admin: dict[str, str]  # also for the admin-only operations (ADMIN_ONLY), which 403 the rest


# admin-only operations: fuzzed as an admin too, or only their 403 would be
ADMIN_ONLY = ("/api/v1/webhooks",)


@pytest.fixture
async def cast(client, monkeypatch) -> Cast:
    """A resident, a grid worker of G1 and a dispatcher of its township, and a case in G1;
    an admin for ADMIN_ONLY. Webhook host names are not looked up (tests talk only to
    127.0.0.1): each resolves to a documentation address, refused as not global."""
    from grid_backend.notify import addresses

    async def resolve(host: str) -> list[str]:
        return ["203.0.113.7"]

    monkeypatch.setattr(addresses, "_addresses", resolve)
    await make_tree()
    resident = await make_person()
    worker = await make_person(("grid_worker", G1), employment="full_time")
    dispatcher = await make_person(("dispatcher", "500103001"))
    await file_report(client, resident)
    admin = await make_person(("admin", CITY))
    people: dict[str, Person] = {"resident": resident, "worker": worker, "dispatcher": dispatcher}
    return Cast({name: p.headers for name, p in people.items()}, admin.headers)


def _request(case, auth: dict[str, str]) -> httpx.Request:
    """The case as schemathesis would send it (requests prepares the body), for httpx."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        params=kwargs.get("params"),
        headers={**(kwargs.get("headers") or {}), **auth},
        cookies=kwargs.get("cookies"),
        data=kwargs.get("data"),
        json=kwargs.get("json"),
        files=kwargs.get("files"),
    ).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return httpx.Request(
        prepared.method, prepared.url, headers=dict(prepared.headers), content=body or b""
    )


def _record(case, role: str, response: httpx.Response, error: Exception) -> None:
    with open(COLLECT, "a", encoding="utf-8") as f:
        line = {
            "operation": f"{case.operation.method.upper()} {case.operation.path}",
            "role": role,
            "status": response.status_code,
            "request": f"{response.request.method} {response.request.url}",
            "body": response.request.content[:300].decode("utf-8", "replace"),
            "response": response.text[:300],
            "error": str(error)[:600],
        }
        f.write(json.dumps(line, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
async def test_no_operation_answers_a_server_error_or_off_schema(operation, cast, client, data):
    mode = data.draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]))
    case = data.draw(operation.as_strategy(generation_mode=mode))
    roles = dict(cast.roles)
    if case.operation.path.startswith(ADMIN_ONLY):
        roles["admin"] = cast.admin
    for role, auth in roles.items():
        response = await client.send(_request(case, auth))
        if COLLECT:  # one line per request, to count them
            with open(COLLECT + ".count", "a") as f:  # noqa: ASYNC230 - a test's own log
                f.write(f"{case.operation.method.upper()} {case.operation.path}\n")
        try:
            case.validate_response(response, checks=CHECK_FUNCTIONS)
        except (AssertionError, BaseExceptionGroup) as exc:
            if not COLLECT:
                raise AssertionError(f"as {role}: {exc}") from exc
            _record(case, role, response, exc)
