"""The address a printed QR code holds (GET /q/{token}): public and short. A working code's
scan is counted and sent on to the field app's report page with the place and category filled
in (signed out, the app signs the person in first and comes back to it); a withdrawn or
unknown code gets a plain page saying so."""

from __future__ import annotations

from pathlib import Path

from litestar import Controller, get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_404_NOT_FOUND, HTTP_410_GONE

from grid_backend.evacuation import qrcodes


class QrScanController(Controller):
    path = "/q"
    include_in_schema = False

    # never kept by a browser or proxy: every scan reaches the server and is counted
    @get("/{token:path}", name="qr:scan", cache_control=CacheControlHeader(no_store=True))
    async def scan(self, token: FromPath[Path]) -> Redirect | Template:
        # any path below /q/ (a code copied with a slash in it too) gets the page, not a 404 trace
        found = await qrcodes.scan(token=str(token).strip("/")[:64])
        if found.outcome == "ok":
            return Redirect(found.location, status_code=HTTP_303_SEE_OTHER)
        return Template(
            template_name="qr.html",
            context={"outcome": found.outcome},
            status_code=HTTP_410_GONE if found.outcome == "revoked" else HTTP_404_NOT_FOUND,
        )
