"""The street-office console: pages under /console behind the cookie session.

Every console request passes `guard` first: unsafe requests must carry the CSRF token (form
field or header) of their session (`session_identity`: the access cookie's session, else the
refresh cookie's, else a visitor's pre-session nonce for the sign-in form); a visitor without a
valid access cookie is refreshed from the refresh cookie or sent to the login page, and only
accounts with an assignment get in. Page handlers then take `caller: CurrentCaller` like API
handlers and call the same services."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router
from litestar.response import Redirect, Template

from grid_backend.core import policy
from grid_backend.core.auth import (
    ACCESS_COOKIE,
    CSRF_CHECKED,
    CSRF_COOKIE,
    CSRF_HEADER,
    CSRF_TOKEN,
    REFRESH_COOKIE,
    SAFE_METHODS,
    cookie_session,
    csrf_matches,
    csrf_token_for,
)
from grid_backend.core.errors import DomainError
from grid_backend.core.security import read_access_token
from grid_backend.people import services as people_services
from grid_backend.people.schemas import MeRead
from grid_backend.web import i18n
from grid_backend.web.console import session
from grid_backend.web.console.cases import CasesPage
from grid_backend.web.console.dashboard import DashboardPage
from grid_backend.web.console.evacuations import EvacuationsPage
from grid_backend.web.console.exports import ExportsPage
from grid_backend.web.console.hotline import HotlinePage
from grid_backend.web.console.households import HouseholdsPage
from grid_backend.web.console.map import MapPage
from grid_backend.web.console.open311 import Open311Page
from grid_backend.web.console.patrols import PatrolsPage
from grid_backend.web.console.people import PeoplePage
from grid_backend.web.console.qr import QrPage
from grid_backend.web.console.rewards import RewardsPage
from grid_backend.web.console.session import SessionController
from grid_backend.web.console.urgent import UrgentPage
from grid_backend.web.console.warnings import WarningsPage
from grid_backend.web.console.webhooks import WebhooksPage

CSRF_FIELD = "csrf_token"
PUBLIC_PATHS = frozenset({"/console/login"})

# page controllers; each console area appends its own
CONSOLE_HANDLERS: list[Any] = [
    SessionController,
    MapPage,
    PatrolsPage,
    PeoplePage,
    WarningsPage,
    UrgentPage,
    DashboardPage,
    CasesPage,
    RewardsPage,
    WebhooksPage,
    ExportsPage,
    QrPage,
    EvacuationsPage,
    HouseholdsPage,
    Open311Page,
    HotlinePage,
]

_me: ContextVar[MeRead | None] = ContextVar("console_me", default=None)
_csrf: ContextVar[str] = ContextVar("console_csrf", default="")


def console_user() -> MeRead | None:
    """The signed-in account and its assignments (for the page header)."""
    return _me.get()


def console_may(action: str) -> bool:
    """Whether the signed-in account holds a duty that may do this somewhere (which sections
    the navigation offers; each page still checks the area)."""
    me = _me.get()
    return me is not None and any(a.duty in policy.RULES[action] for a in me.assignments)


def csrf_token() -> str:
    """The CSRF token to put in forms and in the page's meta tag ("" without a session)."""
    return _csrf.get()


async def _presented_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def session_identity(request: Request[Any, Any, Any]) -> str | None:
    """What this browser's CSRF token is bound to (see core.auth.csrf_token_for)."""
    identity = cookie_session(request)
    if identity:
        return identity
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        family = await people_services.session_of(refresh_token=refresh)
        if family:
            return f"s:{family}"
    nonce = request.cookies.get(CSRF_COOKIE)
    return f"a:{nonce}" if nonce else None


def _back_to(request: Request[Any, Any, Any]) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def guard(request: Request[Any, Any, Any]) -> Response[Any] | None:
    i18n.choose_for(request)  # hooks are layered, not chained: the page router's is not run
    identity = await session_identity(request)
    token = csrf_token_for(identity) if identity else ""
    _csrf.set(token)
    request.state[CSRF_TOKEN] = token
    if request.method not in SAFE_METHODS:
        if not csrf_matches(identity, await _presented_token(request)):
            return Template(
                template_name="console/error.html",
                context={"code": "csrf_failed", "status": 403},
                status_code=403,
            )
        request.state[CSRF_CHECKED] = True
    if request.url.path in PUBLIC_PATHS:
        return None
    access = request.cookies.get(ACCESS_COOKIE)
    account_id = read_access_token(access) if access else None
    if account_id is None:
        refreshed = await session.refreshed(request)
        if refreshed is not None:
            return refreshed
        return Redirect(
            path=f"/console/login?next={quote(_back_to(request), safe='')}",
            status_code=303,
        )
    try:
        me = await people_services.me(account_id=account_id)
    except DomainError:
        return session.signed_out(Redirect(path="/console/login", status_code=303))
    if not me.is_staff or not me.account.is_active:
        return Template(
            template_name="console/error.html",
            context={"code": "forbidden", "status": 403},
            status_code=403,
        )
    _me.set(me)
    return None


def router() -> Router:
    return Router(
        path="/console",
        route_handlers=CONSOLE_HANDLERS,
        before_request=guard,
        include_in_schema=False,
    )


__all__ = [
    "CONSOLE_HANDLERS",
    "REFRESH_COOKIE",
    "console_may",
    "console_user",
    "csrf_token",
    "router",
]
