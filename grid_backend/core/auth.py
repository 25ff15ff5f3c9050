"""Who is calling: the account id from the bearer token, injected into handlers as `caller`.

The console carries the same access token in an HttpOnly cookie; a request authenticated by
that cookie must also prove it comes from our own pages when it changes anything (CSRF): the
`X-CSRF-Token` header (or, for the console's HTML forms, the checked form field) must equal the
`grid_csrf` cookie, which only our pages can read."""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from litestar import Request
from litestar.di import NamedDependency, Provide

from grid_backend.core.errors import DomainError
from grid_backend.core.security import read_access_token


class Caller(msgspec.Struct, frozen=True):
    account_id: int


ACCESS_COOKIE = "grid_access"
REFRESH_COOKIE = "grid_refresh"
CSRF_COOKIE = "grid_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_CHECKED = "csrf_checked"  # request.state flag set by the console's form guard
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_matches(request: Request[Any, Any, Any], presented: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    return bool(expected and presented and hmac.compare_digest(expected, presented))


def _token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    cookie = request.cookies.get(ACCESS_COOKIE)
    if not cookie:
        return None
    if request.method not in SAFE_METHODS and not (
        request.state.get(CSRF_CHECKED) or csrf_matches(request, request.headers.get(CSRF_HEADER))
    ):
        raise DomainError("csrf_failed", status=403)
    return cookie


def caller_from(request: Request[Any, Any, Any]) -> Caller | None:
    token = _token(request)
    if token is None:
        return None
    account_id = read_access_token(token)
    if account_id is None:
        raise DomainError("token_invalid", status=401, headers={"WWW-Authenticate": "Bearer"})
    return Caller(account_id=account_id)


async def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller = caller_from(request)
    if caller is None:
        raise DomainError("unauthenticated", status=401, headers={"WWW-Authenticate": "Bearer"})
    return caller


async def provide_optional_caller(request: Request[Any, Any, Any]) -> Caller | None:
    return caller_from(request)


DEPENDENCIES = {
    "caller": Provide(provide_caller),
    "maybe_caller": Provide(provide_optional_caller),
}

# Handlers declare `caller: CurrentCaller` (an explicit dependency marker, as Litestar 3 wants).
CurrentCaller = NamedDependency[Caller]
