"""Console sign-in: the API's tokens in HttpOnly cookies, plus a CSRF cookie for the pages."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from grid_backend.core.auth import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    CSRF_TOKEN,
    REFRESH_COOKIE,
    csrf_token_for,
)
from grid_backend.core.errors import TITLES, DomainError
from grid_backend.people import services as people_services
from grid_backend.people.controllers import client_address
from grid_backend.people.schemas import TokenPair
from grid_backend.settings import get_settings
from grid_backend.web import i18n

HOME = "/console/"


class LoginForm(msgspec.Struct):
    phone: str = ""
    password: str = ""
    next: FromQuery[str] = HOME
    csrf_token: str = ""


def _secure(request: Request[Any, Any, Any]) -> bool:
    # behind a TLS-terminating proxy the scheme may read http: production always says Secure
    return get_settings().production or request.url.scheme == "https"


def signed_in(response: Response[Any], pair: TokenPair, *, secure: bool) -> Response[Any]:
    """Put a token pair into the console's cookies (the CSRF token follows from its session)."""
    settings = get_settings()
    response.set_cookie(
        ACCESS_COOKIE,
        pair.access_token,
        max_age=settings.access_token_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=settings.refresh_token_days * 86400,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return response


def signed_out(response: Response[Any]) -> Response[Any]:
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path="/console")
    return response


async def refreshed(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """An expired access cookie with a good refresh cookie: rotate both and repeat the request
    (307 keeps the method and the body)."""
    token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        return None
    try:
        pair = await people_services.refresh(refresh_token=token)
    except DomainError:
        return None
    query = request.url.query
    again = Redirect(path=request.url.path + (f"?{query}" if query else ""), status_code=307)
    return signed_in(again, pair, secure=_secure(request))


def _safe_next(target: str) -> str:
    # only our own console pages: never an absolute or protocol-relative URL
    if target.startswith("/console") and not target.startswith("//"):
        return target
    return HOME


def _login_page(
    request: Request[Any, Any, Any], *, next_page: str, error: str | None = None, phone: str = ""
) -> Template:
    token = request.state.get(CSRF_TOKEN) or ""
    nonce = None
    if not token:  # a first visit: a pre-session nonce, the sign-in form's CSRF identity
        nonce = secrets.token_urlsafe(32)
        token = csrf_token_for(f"a:{nonce}")
    page = Template(
        template_name="console/login.html",
        context={"next": _safe_next(next_page), "error": error, "phone": phone, "csrf": token},
        status_code=400 if error else 200,
    )
    if nonce:
        page.set_cookie(
            CSRF_COOKIE, nonce, path="/", httponly=True, samesite="strict", secure=_secure(request)
        )
    return page


class SessionController(Controller):
    include_in_schema = False

    @get("/login", name="console:login")
    async def login_page(
        self, request: Request[Any, Any, Any], next: FromQuery[str] = HOME
    ) -> Template:
        return _login_page(request, next_page=next)

    @post("/login", name="console:login-submit", status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[LoginForm],
    ) -> Response[Any]:
        try:
            pair = await people_services.login(
                phone=data.phone, password=data.password, address=client_address(request)
            )
        except DomainError as exc:
            title = i18n.gettext(TITLES[exc.code])
            return _login_page(request, next_page=data.next, error=title, phone=data.phone)
        response = signed_in(
            Redirect(path=_safe_next(data.next), status_code=303), pair, secure=_secure(request)
        )
        response.delete_cookie(CSRF_COOKIE, path="/")  # the session's own token takes over
        return response

    @post("/logout", name="console:logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Response[Any]:
        token = request.cookies.get(REFRESH_COOKIE)
        if token:
            await people_services.logout(refresh_token=token)
        return signed_out(Redirect(path="/console/login", status_code=303))

    @post("/refresh", name="console:refresh", status_code=204)
    async def refresh(self) -> None:
        """Reached with a valid access cookie, after the guard refreshed an expired one: the
        console's scripts call it when the API answers 401, then retry."""
