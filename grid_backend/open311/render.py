"""GeoReport v2's two formats: a resource name's `.json` / `.xml` suffix picks one, and every
answer, errors included, is written in it (errors as the spec's list of {code, description},
never problem+json)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Literal
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from grid_backend.core.errors import DomainError, translated
from grid_backend.settings import get_settings

logger = logging.getLogger("grid_backend.open311")

Format = Literal["json", "xml"]
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
# characters XML 1.0 cannot hold at all, even escaped (input is refused before it gets here;
# this keeps an answer well-formed whatever a stored text holds)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Open311Error(Exception):
    """An error as GeoReport v2 answers it: an HTTP status, and a description in English
    (translated at the edge when the catalogue has it), `%(name)s` filled from params."""

    def __init__(self, status: int, description: str, params: dict[str, Any] | None = None):
        super().__init__(description % params if params else description)
        self.status = status
        self.description = description
        self.params = params or {}
        self.headers: dict[str, str] = {}


def split(resource: str, name: str) -> tuple[str, Format]:
    """`name` (e.g. "12.xml") as its stem and format; an unknown suffix is a 404."""
    stem, dot, suffix = resource.rpartition(".")
    if not dot or suffix not in ("json", "xml"):
        raise Open311Error(404, "%(name)s: the format must be .json or .xml", {"name": name})
    return stem, suffix  # type: ignore[return-value]  # checked to be json or xml just above


def w3c(value: datetime | None) -> str | None:
    """A W3C datetime with its offset, in the deployment's time zone (the spec's format)."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(get_settings().timezone)).isoformat(timespec="seconds")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(parent: ET.Element, value: Any, item: str) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(parent, key), child, key[:-1] if key.endswith("s") else "item")
    elif isinstance(value, list):
        for child in value:
            _fill(ET.SubElement(parent, item), child, "item")
    else:
        parent.text = _text(value)


def xml_bytes(root: str, item: str, data: Any) -> bytes:
    """`data` as the spec's XML: lists under `root` as repeated `item` elements, dicts as
    elements by key (a list under a key repeats that key's singular: formats → format)."""
    element = ET.Element(root)
    _fill(element, data, item)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def respond(data: Any, fmt: Format, *, root: str, item: str, status: int = 200) -> Response[bytes]:
    """The answer in the format asked for."""
    if fmt == "xml":
        return Response(xml_bytes(root, item, data), status_code=status, media_type=XML_TYPE)
    return Response(msgspec.json.encode(data), status_code=status, media_type=JSON_TYPE)


def _format_of(request: Request[Any, Any, Any]) -> Format:
    return "xml" if request.url.path.endswith(".xml") else "json"


def errors(
    request: Request[Any, Any, Any], status: int, description: str, headers: dict[str, str]
) -> Response[bytes]:
    body = [{"code": status, "description": description}]
    response = respond(body, _format_of(request), root="errors", item="error", status=status)
    response.headers.update(headers)
    return response


def handle_open311_error(request: Request[Any, Any, Any], exc: Open311Error) -> Response[bytes]:
    text = translated(exc.description, exc.params) or exc.description % exc.params
    return errors(request, exc.status, text, exc.headers)


def handle_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[bytes]:
    status = 400 if exc.status == 422 else exc.status
    text = exc.translated_detail() or exc.detail or exc.code
    return errors(request, status, text, exc.headers)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = 400 if exc.status_code == 422 else exc.status_code
    detail = exc.detail if status < 500 and exc.detail else "the request cannot be processed"
    return errors(request, status, detail, dict(exc.headers or {}))


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if isinstance(exc, UnicodeDecodeError):
        return errors(request, 400, "the body is not valid UTF-8", {})
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return errors(request, 500, "internal error", {})


EXCEPTION_HANDLERS = {
    Open311Error: handle_open311_error,
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
