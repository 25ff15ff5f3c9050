"""The one dependency that gives a handler its caller as decisions need them: the account,
the grants held today, and the language picked once from the request."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request
from litestar.di import NamedDependency, Provide

from grid_backend.core import i18n, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.i18n import wants_english
from grid_backend.people.duty import grants_of

Language = Literal["zh", "en"]


class Member(msgspec.Struct, frozen=True):
    """A signed-in caller with the duties they hold today (none for a resident)."""

    account_id: int
    grants: list[policy.Grant]
    language: Language = "zh"

    @property
    def english(self) -> bool:
        return self.language == "en"


def language_of(request: Request[Any, Any, Any]) -> Language:
    """The language of the answer, chosen at the edge from Accept-Language (Chinese unless
    English is preferred)."""
    return "en" if wants_english(request.headers.get("accept-language")) else "zh"


def language_middleware(app: Any) -> Any:
    """The API's language, chosen once per request from Accept-Language (English only when
    preferred) and held in core/i18n's context variable while the request runs; the pages
    choose theirs (web/i18n.choose_for)."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/api/", "/open311/")):
            await app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"accept-language"), None
        )
        with i18n.language(i18n.pick_accept_language(header)):
            await app(scope, receive, send)

    return middleware


async def provide_member(caller: CurrentCaller, request: Request[Any, Any, Any]) -> Member:
    return Member(
        account_id=caller.account_id,
        grants=await grants_of(caller.account_id),
        language=language_of(request),
    )


DEPENDENCIES = {"member": Provide(provide_member)}

# Handlers declare `member: CurrentMember` instead of a caller plus a lookup of its grants.
CurrentMember = NamedDependency[Member]
