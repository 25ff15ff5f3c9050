"""Empty query values mean "no filter", on the console's forms and on the JSON API alike.

A browser submits every field of a GET form, so an untouched select or date arrives as
`assignee_id=&from=`; typed parameters (an id, a date, a choice) would refuse the empty
string. This middleware drops such pairs from the query string before anything parses it
(Litestar parses the query once per request, on first use, and caches the result in the
scope's state: the middleware runs before any handler, dependency or hook reads it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus


def without_blanks(query: bytes) -> bytes:
    """The query string without pairs whose value is empty or only spaces (`a=`, `a=+`, `a`);
    every other pair is kept byte for byte, in order."""
    if not query:
        return query
    kept = []
    for pair in query.split(b"&"):
        _, _, value = pair.partition(b"=")
        if unquote_plus(value.decode("latin-1")).strip():
            kept.append(pair)
    return b"&".join(kept)


def blank_query_middleware(app: Any) -> Any:
    """ASGI middleware: every HTTP request's query string without its blank pairs."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            scope["query_string"] = without_blanks(scope["query_string"])
        await app(scope, receive, send)

    return middleware
