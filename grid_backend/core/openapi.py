"""OpenAPI request bodies for handlers that read their body themselves (to accept JSON or a
streamed multipart upload on one path): the schema comes from the same msgspec Struct."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.spec import Components, OpenAPIMediaType, Operation, Reference, RequestBody
from litestar.openapi.spec import Schema as OpenAPISchema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

_REF = "#/components/schemas/{name}"
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_RENAMED = {"not": "schema_not", "if": "schema_if", "else": "schema_else"}


def _schema(node: Any) -> Any:
    """A JSON Schema dict as Litestar's Schema objects (recursively)."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return Reference(ref=node["$ref"])
    values: dict[str, Any] = {}
    for key, value in node.items():
        name = _RENAMED.get(key) or _CAMEL.sub("_", key).lower()
        if name == "type":
            value = (
                [OpenAPIType(v) for v in value] if isinstance(value, list) else OpenAPIType(value)
            )
        elif name == "properties":
            value = {k: _schema(v) for k, v in value.items()}
        elif name in ("items", "additional_properties"):
            value = _schema(value)
        elif name in ("any_of", "one_of", "all_of"):
            value = [_schema(v) for v in value]
        values[name] = value
    return OpenAPISchema(**values)


def components_for(*structs: type) -> Components:
    """Components for the given Structs (and the Structs they use)."""
    _, defs = msgspec.json.schema_components(structs, ref_template=_REF)
    return Components(schemas={name: _schema(d) for name, d in defs.items()})


def body_operation(struct: type | None, multipart: dict[str, Any] | None = None) -> type[Operation]:
    """An Operation class whose request body is `struct` as JSON and/or the multipart fields."""

    @dataclass
    class WithBody(Operation):  # re-decorated so the generated __init__ calls __post_init__
        def __post_init__(self) -> None:
            content: dict[str, OpenAPIMediaType] = {}
            if struct is not None:
                content["application/json"] = OpenAPIMediaType(
                    schema=Reference(ref=_REF.format(name=struct.__name__))
                )
            if multipart:
                content["multipart/form-data"] = OpenAPIMediaType(
                    schema=OpenAPISchema(type=OpenAPIType.OBJECT, properties=multipart)
                )
            self.request_body = RequestBody(content=content, required=True)

    return WithBody


def binary(description: str, *, many: bool = False) -> OpenAPISchema:
    """A file part (or several) of a multipart body."""
    one = OpenAPISchema(
        type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, description=description
    )
    return (
        OpenAPISchema(type=OpenAPIType.ARRAY, items=one, description=description) if many else one
    )


def text(description: str) -> OpenAPISchema:
    return OpenAPISchema(type=OpenAPIType.STRING, description=description)


# ---- error responses: declared once for every operation, from simple rules -------------------

_PROBLEM_REF = "#/components/schemas/ProblemDetails"
PUBLIC_RATE_LIMITED = {
    "/api/v1/auth/login",
    "/api/v1/auth/register",
    "/api/v1/auth/register/code",
    "/api/v1/auth/refresh",
    "/api/v1/sos",  # per account (flows/sos.py)
    "/api/v1/me/data-export",  # per account (flows/own_data.py)
    "/api/v1/me/deletion",  # wrong passwords count as failed sign-ins (flows/own_data.py)
}
PUBLIC_CONFLICTS: set[str] = set()  # sign-up answers a taken number like a wrong code
# answers 503 with Retry-After: the code request with no SMS gateway in production
PUBLIC_UNAVAILABLE = {"/readyz", "/api/v1/auth/register/code"}
_DESCRIPTIONS = {
    400: "Malformed body (not JSON, not UTF-8, nested too deeply)",
    401: "Not signed in, or the token is invalid",
    403: "The caller's duties do not allow this here",
    404: "No such object, or not visible to the caller",
    409: "Conflicts with the current state (or an Idempotency-Key reused for another body)",
    413: "The body or an uploaded file is too large, or has too many parts",
    415: "Not multipart/form-data",
    422: "Validation failed: errors[] names each field",
    429: "Too many attempts; Retry-After says when to try again",
    503: "Busy (photo decoding), or a dependency (database, SMS gateway) is unavailable",
}


class ProblemError(msgspec.Struct):
    field: str
    code: str
    message: str
    # a spreadsheet's problem (the households' ledger): the sheet's row number and the header
    row: int | None = None
    column: str | None = None


class ProblemDetails(msgspec.Struct):
    """RFC 9457 problem details with a stable machine `code`."""

    type: str
    title: str
    status: int
    code: str
    instance: str
    detail: str | None = None
    errors: list[ProblemError] | None = None


def _problem_response(status: int) -> Any:
    from litestar.openapi.spec import OpenAPIHeader, OpenAPIResponse

    headers: dict[str, OpenAPIHeader | Reference] | None = None
    if status == 429:
        headers = {
            "Retry-After": OpenAPIHeader(
                schema=OpenAPISchema(type=OpenAPIType.STRING), description="seconds"
            )
        }
    return OpenAPIResponse(
        description=_DESCRIPTIONS[status],
        content={"application/problem+json": OpenAPIMediaType(schema=Reference(ref=_PROBLEM_REF))},
        headers=headers,
    )


def error_statuses(
    *, method: str, path: str, authenticated: bool, has_body: bool, has_params: bool
) -> set[int]:
    """The error codes an operation can answer, by rule."""
    statuses = {422} if has_params or has_body or authenticated else set()
    if has_body:
        statuses |= {400, 413}
    if authenticated:
        statuses |= {401, 403, 404}
    if "{" in path:
        statuses.add(404)
    if method in ("POST", "PUT", "PATCH", "DELETE") and (authenticated or path in PUBLIC_CONFLICTS):
        statuses.add(409)
    if path in PUBLIC_RATE_LIMITED:
        statuses |= {429, 401, 403}
    if path in PUBLIC_UNAVAILABLE:
        statuses.add(503)
    return statuses


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BINARY = OpenAPISchema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
_GEOJSON = "application/geo+json"  # core/geojson.py; described by _GEOJSON_SCHEMA
_GEOJSON_SCHEMA = OpenAPISchema(
    type=OpenAPIType.OBJECT,
    description="an RFC 7946 FeatureCollection of Points (docs/gis.md)",
    required=["type", "name", "crs_name", "features"],
    properties={
        "type": OpenAPISchema(type=OpenAPIType.STRING, const="FeatureCollection"),
        "name": OpenAPISchema(type=OpenAPIType.STRING),
        "crs_name": OpenAPISchema(type=OpenAPIType.STRING, enum=["WGS84", "GCJ02"]),
        "crs_note": OpenAPISchema(type=OpenAPIType.STRING),
        "features": OpenAPISchema(
            type=OpenAPIType.ARRAY, items=OpenAPISchema(type=OpenAPIType.OBJECT)
        ),
    },
)
# answers that are not JSON, by path: (status, media types, description)
SUCCESS_CONTENT: dict[str, tuple[str, list[str], str]] = {
    "/api/v1/reports/export": (
        "200",
        ["text/csv", _XLSX, _GEOJSON],
        "the ledger as CSV, Excel or GeoJSON",
    ),
    "/api/v1/risk-points/export.geojson": ("200", [_GEOJSON], "the risk points as GeoJSON"),
    "/api/v1/shelters/export.geojson": ("200", [_GEOJSON], "the shelters as GeoJSON"),
    "/api/v1/patrols/check-ins/export.geojson": (
        "200",
        [_GEOJSON],
        "the patrol check-ins as GeoJSON",
    ),
    "/api/v1/households/export": ("200", [_XLSX], "the households' ledger (Excel)"),
    "/api/v1/households/template": ("200", [_XLSX], "the households' ledger template (Excel)"),
    "/api/v1/media/{photo_id}/{variant}": (
        "200",
        ["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"],
        "the photo (derivatives are JPEG; the original as uploaded)",
    ),
    "/api/v1/areas/{community_id}/risk-map.pdf": (
        "200",
        ["application/pdf"],
        "the community's risk map",
    ),
    "/api/v1/me/data-export": ("200", ["application/zip"], "the caller's own data (ZIP)"),
}
# extra success answers: a replayed create answers 200, an unchanged photo 304
EXTRA_SUCCESS = {
    ("POST", "/api/v1/reports"): ("200", "a replay of the same Idempotency-Key"),
    ("POST", "/api/v1/sos"): ("200", "a replay of the same Idempotency-Key"),
    ("GET", "/api/v1/media/{photo_id}/{variant}"): ("304", "unchanged since If-None-Match"),
    ("POST", "/api/v1/reports/{report_id}/responses"): ("200", "the team was already alerted"),
}


def _fix_success(method: str, path: str, operation: Operation) -> None:
    from litestar.openapi.spec import OpenAPIResponse

    responses = operation.responses or {}
    if path in SUCCESS_CONTENT:
        status, types, description = SUCCESS_CONTENT[path]
        responses[status] = OpenAPIResponse(
            description=description,
            content={
                t: OpenAPIMediaType(schema=_GEOJSON_SCHEMA if t == _GEOJSON else _BINARY)
                for t in types
            },
        )
    extra = EXTRA_SUCCESS.get((method, path))
    if extra:
        status, description = extra
        created = responses.get("201")
        content = (
            None if status == "304" or not isinstance(created, OpenAPIResponse) else created.content
        )
        responses.setdefault(status, OpenAPIResponse(description=description, content=content))
    operation.responses = responses


def _inputs() -> list[type]:
    from grid_backend.core.types import Input

    found, todo = [], [Input]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def tighten_inputs(schema: Any) -> None:
    """Request bodies described by msgspec itself, the decoder that enforces them: Litestar's
    generator drops constraints inside unions and on list items and dict keys, and does not
    say that unknown fields are refused."""
    components = schema.components.schemas or {}
    used = [cls for cls in _inputs() if cls.__name__ in components]
    components.update(components_for(*used).schemas or {})


def declare_errors(app: Any) -> None:
    """Add the problem+json error responses of every API operation to app.openapi_schema."""
    schema = app.openapi_schema
    tighten_inputs(schema)
    schema.components.schemas.update(components_for(ProblemDetails).schemas or {})
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.resolve_include_in_schema():
                continue
            item = (schema.paths or {}).get(route.path_format)
            if item is None:
                continue
            params = handler.parsed_fn_signature.parameters
            authenticated = bool({"caller", "member", "signed_caller"} & set(params))  # core.auth
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                if operation is None:
                    continue
                has_body = operation.request_body is not None
                has_params = bool(operation.parameters)
                responses = operation.responses or {}
                responses.pop("400", None)  # Litestar's own shape; ours is problem+json
                for status in sorted(
                    error_statuses(
                        method=method,
                        path=route.path_format,
                        authenticated=authenticated,
                        has_body=has_body,
                        has_params=has_params,
                    )
                ):
                    responses.setdefault(str(status), _problem_response(status))
                if has_body and "multipart/form-data" in operation.request_body.content:
                    responses.setdefault("415", _problem_response(415))
                    # photos wait for the decoding budget, then 503 server_busy (media.services)
                    responses.setdefault("503", _problem_response(503))
                operation.responses = responses
                _fix_success(method, route.path_format, operation)
