"""Sign-in limits on a clock the test moves, on both counter storages."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import limits.aio.storage.memory
import limits.aio.storage.redis.redispy
import pytest
from factories import REDIS_URL, require_redis

from grid_backend.core import clock, throttle
from grid_backend.settings import get_settings

START = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)


class _Time:
    """`time` as the limits storages and the throttle see it: the test clock's seconds."""

    def __getattr__(self, name: str):
        return getattr(time, name)

    def time(self) -> float:
        return clock.now().timestamp()


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start
        clock.set_clock(lambda: self.now)

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def test_clock(db, monkeypatch) -> Clock:
    """The business clock, which the rate-limit windows follow too (they read time.time())."""
    for module in (limits.aio.storage.memory, limits.aio.storage.redis.redispy, throttle):
        assert module.time is time, f"{module.__name__} no longer reads the time module"
        monkeypatch.setattr(module, "time", _Time())
    return Clock(START)


@pytest.fixture(params=["memory", "redis"])
async def counters(request, db):
    """The counters in this process's memory, or in Redis under a prefix of this test's own."""
    if request.param == "redis":
        await require_redis(REDIS_URL)
        settings = dataclasses.replace(
            get_settings(), redis_url=REDIS_URL, redis_prefix=f"test-{uuid.uuid4().hex[:12]}"
        )
    else:
        settings = get_settings()
    used = throttle.Throttle(settings)
    assert used.backend == request.param
    throttle.reset_throttle(used)
    yield used
    throttle.reset_throttle()
    await used.aclose()


_SMS = re.compile(r"sms \(no gateway, development\) \S+ to (\S+): (.*)")


@pytest.fixture
def texts(caplog):
    """`texts(phone)`: the SMS texts sent to a phone, read from the development log (no
    gateway set), the way a developer reads them."""
    caplog.set_level("INFO", logger="grid_backend.notify")

    def sent_to(phone: str) -> list[str]:
        masked = f"{phone[:3]}****{phone[-4:]}"
        found = [m for m in map(_SMS.search, caplog.messages) if m]
        return [m.group(2) for m in found if m.group(1) == masked]

    return sent_to


@pytest.fixture
def code_for(texts):
    """`code_for(phone)`: the last registration code texted to the phone."""

    def code(phone: str) -> str:
        codes = [m.group(1) for t in texts(phone) if (m := re.search(r"\b(\d{6})\b", t))]
        assert codes, f"no code was texted to {phone}"
        return codes[-1]

    return code
