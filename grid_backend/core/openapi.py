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
