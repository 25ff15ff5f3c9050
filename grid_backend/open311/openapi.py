"""The OpenAPI description of /open311/v2: answers in JSON or XML, and errors in the spec's
format (a list of {code, description}), not problem+json as on /api/v1."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse
from litestar.openapi.spec import Schema as OpenAPISchema
from litestar.openapi.spec.enums import OpenAPIType

from grid_backend.open311.controllers import BASE

_ERROR = OpenAPISchema(
    type=OpenAPIType.ARRAY,
    items=OpenAPISchema(
        type=OpenAPIType.OBJECT,
        properties={
            "code": OpenAPISchema(type=OpenAPIType.INTEGER),
            "description": OpenAPISchema(type=OpenAPIType.STRING),
        },
        required=["code", "description"],
    ),
)
_XML = OpenAPIMediaType(schema=OpenAPISchema(type=OpenAPIType.STRING))
_DESCRIPTIONS = {
    400: "Bad request: a missing or malformed parameter",
    401: "No api_key",
    403: "Invalid or revoked api_key",
    404: "No such resource, service, request, token or jurisdiction",
    413: "The body is too large",
    429: "Too many requests for this api_key",
}


def _answer(description: str, schema: OpenAPISchema, headers: Any = None) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description,
        content={"application/json": OpenAPIMediaType(schema=schema), "text/xml": _XML},
        headers=headers,
    )


def document(app: Any) -> None:
    """Replace the problem+json responses core.openapi declared on the Open311 operations."""
    for path, item in (app.openapi_schema.paths or {}).items():
        if not path.startswith(BASE):
            continue
        for method in ("get", "post"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            ok = "201" if method == "post" else "200"
            responses: dict[str, Any] = {
                ok: _answer("The answer, in the format of the suffix", OpenAPISchema())
            }
            statuses = [400, 404] + ([401, 403, 413, 429] if method == "post" else [])
            for status in statuses:
                headers = None
                if status == 429:
                    headers = {
                        "Retry-After": OpenAPIHeader(
                            schema=OpenAPISchema(type=OpenAPIType.STRING), description="seconds"
                        )
                    }
                responses[str(status)] = _answer(_DESCRIPTIONS[status], _ERROR, headers)
            operation.responses = responses
