"""The one mechanism for idempotent creation (an `Idempotency-Key` header or a client id in
the body): the first request with a key creates, a retry with the same key and the same body
gets the first answer again, and the same key with a different body is a 409.

The endpoint stores the key and the body's digest on the row it creates (a unique index on
the key within its scope), and gives an `Idempotent` how to find the row of a key and how to
answer with it:

    once = Idempotent(key, digest(data), find=..., answer=..., conflict=...)
    if (earlier := await once.earlier()) is not None:
        return earlier, True                   # a retry: the first answer again
    ...                                        # validate
    async def create():
        async with write_transaction():
            await once.guard()                 # a retry that committed meanwhile
            ...                                # insert with client_key=key, request_digest
    created, replayed = await once.run(create)

Two retries racing past `earlier()` both reach the insert: the loser either sees the winner's
row in `guard()` (raises `Raced`) or trips the unique index; `run` answers both with a replay."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from grid_backend.core.errors import Conflict

T = TypeVar("T")
R = TypeVar("R")

Row = dict[str, Any]


def digest(body: msgspec.Struct, *, ignore: str = "client_id") -> str:
    """What makes two requests the same: the body's JSON, without the client's own id (the
    key itself), hashed."""
    if ignore:
        body = msgspec.structs.replace(body, **{ignore: None})
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


def is_unique_violation(exc: BaseException) -> bool:
    """The error a unique index raises, on either engine (asyncpg's UniqueViolationError,
    sqlite3's IntegrityError)."""
    name = type(exc).__name__
    return name in ("UniqueViolationError", "IntegrityError") or "UNIQUE" in str(exc)


class Raced(Exception):
    """Another request with the same idempotency key committed first."""


@dataclass(frozen=True, slots=True)
class Idempotent(Generic[T]):
    """One request's key and digest, and how its endpoint finds and answers an earlier row."""

    key: str | None
    digest: str
    find: Callable[[str], Awaitable[Row | None]]  # the row stored under a key, if any
    answer: Callable[[Row], Awaitable[T]]  # the answer to give again for that row
    conflict: str  # the 409's detail when the key was used for a different body (a msgid)
    # unused: the catalogue translates `conflict`; kept while callers still pass it
    conflict_zh: str | None = None

    async def replay(self, earlier: Row) -> T:
        """The earlier answer, if the body is the same; else the 409."""
        if earlier["request_digest"] != self.digest:
            raise Conflict("idempotency_conflict", detail=self.conflict)
        return await self.answer(earlier)

    async def earlier(self) -> T | None:
        """The replayed answer when the key was used before, else None (create)."""
        if not self.key:
            return None
        row = await self.find(self.key)
        return None if row is None else await self.replay(row)

    async def guard(self) -> None:
        """Inside the creating transaction: raise Raced if the key's row exists by now."""
        if self.key and await self.find(self.key):
            raise Raced()

    async def run(self, create: Callable[[], Awaitable[R]]) -> tuple[R | T, bool]:
        """Create (`create` calls guard() in its transaction), or replay if a request with
        the same key won the race; True if replayed."""
        try:
            return await create(), False
        except Raced:
            row = await self.find(self.key)  # type: ignore[arg-type]  # Raced needs a key
            return await self.replay(row), True  # type: ignore[arg-type]  # it committed
        except Exception as exc:
            if self.key and is_unique_violation(exc):  # a parallel retry won the race
                row = await self.find(self.key)
                if row is not None:
                    return await self.replay(row), True
            raise
