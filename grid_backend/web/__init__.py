"""Pages of the street-office console and the field web app; templates and static files live in
grid_ui/. Page handlers call the same services as the API."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router

from grid_backend.settings import get_settings
from grid_backend.web import assets, console, i18n
from grid_backend.web.field import FieldController
from grid_backend.web.home import HomeController
from grid_backend.web.qr import QrScanController

PAGE_HANDLERS: list[Any] = [HomeController, FieldController, QrScanController]


async def _page_language(request: Request[Any, Any, Any]) -> None:
    i18n.choose_for(request)


async def _remember_language(response: Response) -> Response:
    """`?lang=` sets the language cookie too, so the choice holds on the following pages."""
    response.set_cookie(
        i18n.COOKIE,
        i18n.current_language(),
        max_age=365 * 86400,
        samesite="lax",
        secure=get_settings().production,
    )
    return response


def routes() -> list[Any]:
    """The page router (language chosen per request; the console nested in it) and the static
    files (web/assets.py: hashed names, compressed, cached for a year)."""
    return [
        Router(
            path="/",
            route_handlers=[*PAGE_HANDLERS, console.router()],
            before_request=_page_language,
            after_request=_remember_language,
            include_in_schema=False,
            request_max_body_size=10_000_000,  # console forms with photos
        ),
        assets.static_file,
        assets.favicon,
    ]
