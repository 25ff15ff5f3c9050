"""core.idempotency: digest, the unique-violation test on the engine in use, and create-or-replay
(first answer again for the same body, 409 for a different one, the race answered by a replay)."""

from __future__ import annotations

import msgspec
import pytest

from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict
from grid_backend.core.idempotency import Idempotent, Raced, digest, is_unique_violation
from grid_backend.core.tables import GeoRevision


class Body(msgspec.Struct):
    text: str
    client_id: str | None = None


def test_the_digest_ignores_the_client_id_and_sees_the_rest():
    assert digest(Body("a", client_id="k1")) == digest(Body("a", client_id="k2"))
    assert digest(Body("a")) != digest(Body("b"))


async def test_a_unique_index_violation_is_recognised_on_this_engine(db):
    async with write_transaction():
        await GeoRevision.insert(GeoRevision(name="once", revision=1)).run()
    caught: Exception | None = None
    try:
        async with write_transaction():
            await GeoRevision.insert(GeoRevision(name="once", revision=2)).run()
    except Exception as exc:  # the driver's own class, whichever engine runs
        caught = exc
    assert caught is not None
    assert is_unique_violation(caught)
    assert not is_unique_violation(RuntimeError("boom"))


def _once(rows: dict[str, dict], key: str | None, body: Body) -> Idempotent[str]:
    async def find(k: str) -> dict | None:
        return rows.get(k)

    async def answer(row: dict) -> str:
        return f"answer {row['id']}"

    return Idempotent(key, digest(body), find, answer, "used for another", "另一")


async def test_without_a_key_nothing_is_replayed():
    once = _once({}, None, Body("a"))
    assert await once.earlier() is None
    await once.guard()  # never raises without a key


async def test_a_retry_with_the_same_body_gets_the_first_answer():
    rows = {"k": {"id": 7, "request_digest": digest(Body("a"))}}
    assert await _once(rows, "k", Body("a", client_id="k")).earlier() == "answer 7"


async def test_the_same_key_with_another_body_is_a_conflict():
    rows = {"k": {"id": 7, "request_digest": digest(Body("a"))}}
    with pytest.raises(Conflict) as caught:
        await _once(rows, "k", Body("b")).earlier()
    assert caught.value.code == "idempotency_conflict"
    assert caught.value.detail == "used for another"


async def test_run_creates_when_no_one_raced():
    rows: dict[str, dict] = {}
    once = _once(rows, "k", Body("a"))

    async def create() -> str:
        await once.guard()
        return "created"

    assert await once.run(create) == ("created", False)


async def test_run_replays_when_the_row_appeared_meanwhile():
    rows: dict[str, dict] = {}
    once = _once(rows, "k", Body("a"))

    async def create() -> str:
        rows["k"] = {"id": 9, "request_digest": once.digest}  # the winner commits first
        await once.guard()
        return "created"

    assert await once.run(create) == ("answer 9", True)


async def test_run_replays_when_the_unique_index_caught_the_race():
    rows: dict[str, dict] = {}
    once = _once(rows, "k", Body("a"))

    class UniqueViolationError(Exception):
        pass

    async def create() -> str:
        rows["k"] = {"id": 3, "request_digest": once.digest}
        raise UniqueViolationError("duplicate key")

    assert await once.run(create) == ("answer 3", True)


async def test_run_lets_other_errors_through():
    once = _once({}, "k", Body("a"))

    async def create() -> str:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await once.run(create)


def test_raced_is_an_exception():
    assert issubclass(Raced, Exception)
