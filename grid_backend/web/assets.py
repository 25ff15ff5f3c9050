"""Static files: names that change with their content, long cache lifetimes, compressed once.

Every file under /static (grid_ui/static, and Leaflet under /static/vendor/leaflet) gets a
content hash at start-up. Pages ask for `static_url("console/cases.js")`, which gives
`/static/console/cases.js?v=<hash>`; an answer to a URL carrying the file's current hash is
`Cache-Control: public, max-age=31536000, immutable`, any other (an old hash, none at all, as
for the field app's `import()` of a page module) is `no-cache` with an ETag, so a browser never
keeps a stale file. The module scripts' own `import ... from "./x.js"` lines are written with
the imported file's hash when served, so a module's hash changes with any module it imports.

Text files are served gzip- or brotli-compressed, as the browser's Accept-Encoding allows:
each variant is made on its first request, in a worker thread, and kept."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import posixpath
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import brotli
from anyio import to_thread
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from xstatic.pkg import leaflet

STATIC = Path(__file__).resolve().parents[2] / "grid_ui" / "static"
# URL prefix under /static -> directory, the longest first
ROOTS: tuple[tuple[str, Path], ...] = (
    ("vendor/leaflet/", Path(leaflet.BASE_DIR)),
    ("", STATIC),
)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = {".js", ".css", ".svg", ".json", ".map", ".webmanifest", ".txt", ".html"}
# `import x from "./a.js"`, `import "../b.js"`, `export * from "/static/c.js"`
IMPORT = re.compile(r"""(\b(?:import|from)\s*["'])([./][^"'?]*\.js)(["'])""")
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}  # Litestar adds the charset


@dataclass
class Asset:
    """One static file as served: its bytes (imports versioned), hash, and compressed copies."""

    url: str  # under /static/, e.g. "console/cases.js"
    body: bytes
    digest: str
    media_type: str
    variants: dict[str, bytes | None] = field(default_factory=dict)

    def encoded(self, encoding: str) -> bytes | None:
        """The body compressed as `encoding` ("br" or "gzip"), or None when not worth it."""
        if encoding not in self.variants:
            if posixpath.splitext(self.url)[1] not in COMPRESSIBLE:
                self.variants[encoding] = None
            else:
                packed = (
                    brotli.compress(self.body, quality=11 if len(self.body) < 300_000 else 6)
                    if encoding == "br"
                    else gzip.compress(self.body, compresslevel=9, mtime=0)
                )
                self.variants[encoding] = packed if len(packed) < len(self.body) else None
        return self.variants[encoding]


def _files(roots: tuple[tuple[str, Path], ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for prefix, root in reversed(roots):  # vendor last: its prefix wins over grid_ui/static
        for path in sorted(root.rglob("*")):
            if path.is_file():
                found[prefix + path.relative_to(root).as_posix()] = path
    return found


@cache
def manifest() -> dict[str, Asset]:
    """Every static file by its URL under /static/, hashed once (module imports rewritten)."""
    return build_manifest(ROOTS)


def build_manifest(roots: tuple[tuple[str, Path], ...]) -> dict[str, Asset]:
    """The files under `roots` (URL prefix, directory) by URL, each with its hash as served."""
    files = _files(roots)
    assets: dict[str, Asset] = {}

    def build(url: str, seen: frozenset[str]) -> Asset:
        if url in assets:
            return assets[url]
        body = files[url].read_bytes()
        if url.endswith(".js") and url not in seen:
            body = _version_imports(url, body, lambda dep: build(dep, seen | {url}), files)
        suffix = posixpath.splitext(url)[1]
        media_type = MEDIA_TYPES.get(suffix) or (
            mimetypes.guess_type(url)[0] or "application/octet-stream"
        )
        asset = Asset(url, body, hashlib.sha256(body).hexdigest()[:12], media_type)
        assets[url] = asset
        return asset

    for url in files:
        build(url, frozenset())
    return assets


def _version_imports(url: str, body: bytes, build: Any, files: dict[str, Path]) -> bytes:
    """`from "./api.js"` -> `from "./api.js?v=<hash of api.js as served>"`."""
    text = body.decode("utf-8")

    def versioned(match: re.Match[str]) -> str:
        target = match.group(2)
        if target.startswith("/static/"):
            dep = target.removeprefix("/static/")
        else:
            dep = posixpath.normpath(posixpath.join(posixpath.dirname(url), target))
        if dep not in files:
            return match.group(0)
        return f"{match.group(1)}{target}?v={build(dep).digest}{match.group(3)}"

    return IMPORT.sub(versioned, text).encode("utf-8")


def static_url(path: str) -> str:
    """The URL of a static file that changes with its content: `/static/<path>?v=<hash>`."""
    asset = manifest().get(path)
    if asset is None:
        raise LookupError(f"no static file {path!r}")  # a typo in a template fails at once
    return f"/static/{path}?v={asset.digest}"


def _pick_encoding(accept: str) -> list[str]:
    wanted = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return [e for e in ("br", "gzip") if e in wanted]


async def _answer(
    request: Request[Any, Any, Any], url: str, cache: str | None = None
) -> Response[bytes]:
    asset = manifest().get(url)
    if asset is None:
        raise NotFoundException()
    body, encoding = asset.body, None
    for choice in _pick_encoding(request.headers.get("accept-encoding", "")):
        packed = asset.variants.get(choice) if choice in asset.variants else None
        if choice not in asset.variants:
            packed = await to_thread.run_sync(asset.encoded, choice)
        if packed is not None:
            body, encoding = packed, choice
            break
    etag = f'"{asset.digest}{"-" + encoding if encoding else ""}"'
    headers = {
        "Cache-Control": cache
        or (IMMUTABLE if request.query_params.get("v") == asset.digest else REVALIDATE),
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if encoding:
        headers["Content-Encoding"] = encoding
    if etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type=asset.media_type, headers=headers)


@get("/static/{path:path}", name="static", include_in_schema=False, opt={"exclude_from_auth": True})
async def static_file(request: Request[Any, Any, Any], path: FromPath[Path]) -> Response[bytes]:
    """A static file, compressed as the browser allows, cached for a year when versioned."""
    return await _answer(request, path.as_posix().lstrip("/"))


FAVICON = "favicon.ico"


@get("/favicon.ico", name="favicon", include_in_schema=False)
async def favicon(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Browsers ask for /favicon.ico on their own; pages link the SVG icon."""
    return await _answer(request, FAVICON, cache="public, max-age=86400")
