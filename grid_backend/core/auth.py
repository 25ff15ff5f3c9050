"""Who is calling: the account id from the bearer token, injected into handlers as `caller`.

The console carries the same access token in an HttpOnly cookie; a request authenticated by
that cookie must also prove it comes from our own pages when it changes anything (CSRF): the
`X-CSRF-Token` header (or, for the console's HTML forms, the checked form field) must equal
the HMAC of the session the cookie belongs to (`csrf_token_for`), which only our pages are
given. A token of another session, or any value an attacker chose, fails."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.di import NamedDependency, Provide

from grid_backend.core.errors import DomainError
from grid_backend.core.security import access_session, read_access_token
from grid_backend.settings import get_settings


class Caller(msgspec.Struct, frozen=True):
    account_id: int


ACCESS_COOKIE = "grid_access"
REFRESH_COOKIE = "grid_refresh"
CSRF_COOKIE = "grid_csrf"  # a visitor's pre-session nonce (the sign-in form's CSRF identity)
CSRF_HEADER = "x-csrf-token"
CSRF_CHECKED = "csrf_checked"  # request.state flag set by the console's form guard
CSRF_TOKEN = "csrf_token"  # request.state: the token the console's guard computed for the page
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token_for(identity: str) -> str:
    """The CSRF token of a session identity ("s:<family>" signed in, "a:<nonce>" before)."""
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, b"grid-csrf\x00" + identity.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def cookie_session(request: Request[Any, Any, Any]) -> str | None:
    """The session identity of the access cookie (signed; expired or not), if it has one."""
    cookie = request.cookies.get(ACCESS_COOKIE)
    session = access_session(cookie) if cookie else None
    return f"s:{session}" if session else None


def csrf_matches(identity: str | None, presented: str | None) -> bool:
    if not identity or not presented:
        return False
    return hmac.compare_digest(csrf_token_for(identity).encode(), presented.encode())


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
        request.state.get(CSRF_CHECKED)
        or csrf_matches(cookie_session(request), request.headers.get(CSRF_HEADER))
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


# Access tokens are not stored, so one issued before its account was deleted by its resident
# or deactivated by an admin would work until it expires. `people` registers at start
# (create_app) the check that refuses them: whether an account is closed, from a cache that
# every process renews when the "accounts" revision changes (core.revisions).
AccountGate = Callable[[int], Awaitable[bool]]
_closed: AccountGate | None = None


def register_account_gate(is_closed: AccountGate | None) -> None:
    """Refuse the tokens of accounts for which `is_closed(account_id)` says True."""
    global _closed
    _closed = is_closed


async def _open(caller: Caller | None) -> Caller | None:
    if caller is not None and _closed is not None and await _closed(caller.account_id):
        raise DomainError("account_closed", status=401, headers={"WWW-Authenticate": "Bearer"})
    return caller


async def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller = await _open(caller_from(request))
    if caller is None:
        raise DomainError("unauthenticated", status=401, headers={"WWW-Authenticate": "Bearer"})
    return caller


async def provide_optional_caller(request: Request[Any, Any, Any]) -> Caller | None:
    return await _open(caller_from(request))


async def provide_signed_caller(request: Request[Any, Any, Any]) -> Caller:
    """The token's account even if it is closed: only the deletion of an account uses it, so a
    retried deletion answers with its result instead of 401."""
    caller = caller_from(request)
    if caller is None:
        raise DomainError("unauthenticated", status=401, headers={"WWW-Authenticate": "Bearer"})
    return caller


DEPENDENCIES = {
    "caller": Provide(provide_caller),
    "maybe_caller": Provide(provide_optional_caller),
    "signed_caller": Provide(provide_signed_caller),
}

# Handlers declare `caller: CurrentCaller` (an explicit dependency marker, as Litestar 3 wants).
CurrentCaller = NamedDependency[Caller]
SignedCaller = NamedDependency[Caller]
