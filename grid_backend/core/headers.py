"""Security headers on every response, set in one `before_send` hook (it sees every answer:
handlers, error handlers, unknown paths and static files alike).

- Every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`.
- HTML responses: the Content-Security-Policy built once from settings (`content_security_policy`):
  scripts only from our own origin, no inline script or handler, no plugins, no framing.
- Personal data is never stored by a browser or proxy: `Cache-Control: no-store` on everything
  under /console and /api/, unless the handler chose its own policy (photos revalidate
  privately, live events are `no-cache`) or the answer is the public /api/v1/config."""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from grid_backend.settings import Settings

NO_STORE_PREFIXES = ("/console", "/api/")
PUBLIC_PATHS = frozenset({"/api/v1/config"})


def tile_source(url: str) -> str | None:
    """The CSP source of a map tile URL template: its origin, with a `{s}`-style placeholder in
    the host turned into a leading wildcard (https://{s}.tile.example -> https://*.tile.example,
    https://webrd0{s}.is.autonavi.com -> https://*.is.autonavi.com). None for our own origin."""
    if not url or url.startswith("/"):
        return None
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    labels = host.split(".")
    templated = [i for i, label in enumerate(labels) if "{" in label]
    if templated:
        labels = ["*", *labels[templated[-1] + 1 :]]
    return f"{parts.scheme}://{'.'.join(labels)}"


def content_security_policy(settings: Settings) -> str:
    """The one policy of every HTML page."""
    images = ["'self'", "data:", "blob:"]
    tiles = tile_source(settings.map_tile_url)
    if tiles:
        images.append(tiles)
    directives = [
        ("default-src", "'self'"),
        ("script-src", "'self'"),
        ("style-src", "'self'"),
        ("img-src", " ".join(images)),
        ("connect-src", "'self'"),
        ("worker-src", "'self'"),
        ("manifest-src", "'self'"),
        ("object-src", "'none'"),
        ("base-uri", "'none'"),
        ("frame-ancestors", "'none'"),
        ("form-action", "'self'"),
    ]
    return "; ".join(f"{name} {value}" for name, value in directives)


def security_headers(settings: Settings) -> BeforeMessageSendHookHandler:
    """The `before_send` hook for create_app, with the policy computed once."""
    csp = content_security_policy(settings)

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if (headers.get("content-type") or "").startswith("text/html"):
            headers["Content-Security-Policy"] = csp
        path = scope.get("path", "")
        if (
            path.startswith(NO_STORE_PREFIXES)
            and path not in PUBLIC_PATHS
            and "cache-control" not in headers
        ):
            headers["Cache-Control"] = "no-store"

    return add_headers
