"""Who is calling: the account id from the bearer token, injected into handlers as `caller`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.di import NamedDependency, Provide

from grid_backend.core.errors import DomainError
from grid_backend.core.security import read_access_token


class Caller(msgspec.Struct, frozen=True):
    account_id: int


def _token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


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
