"""Who holds a photo besides its uploaders: the domains above media that attach photos (hazards:
a case's photos) register here how to find the records a photo is attached to, at app start
(app.create_app -> hazards.hooks.register). media.services.check_access asks through here, so
media never imports the layers above it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypedDict


class Holder(TypedDict):
    """A record a photo is attached to: its area path and the account that reported it."""

    area_path: str
    reporter: int | None


HolderFinder = Callable[[int], Awaitable[list[Holder]]]

_finders: dict[str, HolderFinder] = {}


def register(name: str, finder: HolderFinder) -> None:
    """Add (or replace, on a second app start) the finder a domain gives under its name."""
    _finders[name] = finder


async def holders(photo_id: int) -> list[Holder]:
    """Every record this photo is attached to, from every registered domain."""
    found: list[Holder] = []
    for finder in _finders.values():
        found.extend(await finder(photo_id))
    return found
