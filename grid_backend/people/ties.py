"""Facts from the layers above people that tie an account to an area (hazards: it reported a
case there), registered at app start (app.create_app -> hazards.hooks.register). The account
lookup (services.accounts) asks through here, so people never imports the layers above it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# (account id, area paths, or None for anywhere in the city) -> whether a tie exists
Tie = Callable[[int, list[str] | None], Awaitable[bool]]

_ties: dict[str, Tie] = {}


def register(name: str, tie: Tie) -> None:
    """Add (or replace, on a second app start) the tie a domain gives under its name."""
    _ties[name] = tie


async def tied(account_id: int, paths: list[str] | None) -> bool:
    """Whether any registered fact ties this account to these paths (None: to any area)."""
    for tie in _ties.values():
        if await tie(account_id, paths):
            return True
    return False
