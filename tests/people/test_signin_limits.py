"""Nobody can lock an official out: failures only count, the hard limit is per (phone,
address), a phone from anywhere is slowed down (at most 30 s), never blocked. On both counter
storages (this process's memory, Redis), on a clock the test moves."""

from __future__ import annotations

import logging

import pytest
from factories import PASSWORD

from grid_backend.core.errors import DomainError
from grid_backend.core.tables import AuditEntry
from grid_backend.people import services
from grid_backend.people.services import create_account

OWNER = "13912340000"
WRONG = "Wrong12345x"


async def attempt(phone: str, password: str, address: str) -> int | str:
    """200, 401, or "429:<Retry-After>" for one sign-in."""
    try:
        await services.login(phone=phone, password=password, address=address)
    except DomainError as exc:
        if exc.status == 429:
            return f"429:{exc.headers['Retry-After']}"
        return exc.status
    return 200


@pytest.fixture
async def owner(db):
    return await create_account(phone=OWNER, password=PASSWORD, name="王书记")


async def test_a_street_office_behind_one_address_signs_in_all_day(counters, test_clock):
    phones = [f"1391000{n:04d}" for n in range(50)]
    for phone in phones:
        await create_account(phone=phone, password=PASSWORD, name="街道干部")
    for _ in range(2):  # a morning and an afternoon
        for phone in phones:
            assert await attempt(phone, PASSWORD, "203.0.113.7") == 200
        test_clock.advance(60)


async def test_five_failures_block_that_phone_from_that_address_only(
    owner, counters, test_clock, caplog
):
    caplog.set_level(logging.WARNING, logger="grid_backend.auth")
    for _ in range(5):
        assert await attempt(OWNER, WRONG, "198.51.100.9") == 401
        test_clock.advance(31)  # past the phone's own slow-down
    blocked = await attempt(OWNER, PASSWORD, "198.51.100.9")
    assert blocked.startswith("429:")
    assert int(blocked.split(":")[1]) == 900 - 5 * 31  # until the first failure leaves
    assert await attempt(OWNER, PASSWORD, "192.0.2.44") == 200  # the owner, elsewhere
    assert await attempt("13912349999", WRONG, "198.51.100.9") == 401  # other phones from there
    test_clock.advance(15 * 60)
    assert await attempt(OWNER, PASSWORD, "198.51.100.9") == 200  # and the window moves on
    locks = (
        await AuditEntry.select()
        .output(load_json=True)
        .where(AuditEntry.action == "auth.lock")
        .run()
    )
    assert len(locks) == 1
    assert locks[0]["object_id"] == str(owner.id)
    assert "198.51.100.9" in caplog.text and "139****0000" in caplog.text
    assert OWNER not in caplog.text


async def test_the_owner_gets_in_within_30_s_after_100_failures_from_100_addresses(
    owner, counters, test_clock
):
    for n in range(100):
        assert await attempt(OWNER, WRONG, f"10.0.{n // 250}.{n % 250 + 1}") == 401
        test_clock.advance(31)  # each attacker waits for the phone's turn
    started = test_clock.now
    outcome = await attempt(OWNER, PASSWORD, "192.0.2.44")
    while outcome != 200:
        assert outcome.startswith("429:")
        wait = int(outcome.split(":")[1])
        assert 1 <= wait <= 30
        test_clock.advance(wait)
        outcome = await attempt(OWNER, PASSWORD, "192.0.2.44")
    assert (test_clock.now - started).total_seconds() <= 30
    slowed = (
        await AuditEntry.select()
        .output(load_json=True)
        .where(AuditEntry.action == "auth.slowdown")
        .run()
    )
    assert [e["detail"]["scope"] for e in slowed] == ["phone"]


async def test_the_owner_gets_in_within_30_s_while_the_attack_goes_on(owner, counters, test_clock):
    """Attackers from fresh addresses try every second, so they take each turn the moment it
    opens; the owner, retrying as told, still gets in within the cap."""
    for n in range(10):
        await attempt(OWNER, WRONG, f"10.1.0.{n + 1}")
        test_clock.advance(31)
    started = test_clock.now
    attacker = 0

    async def attack() -> bool:
        nonlocal attacker
        attacker += 1
        return await attempt(OWNER, WRONG, f"10.2.{attacker // 250}.{attacker % 250 + 1}") == 401

    guesses = int(await attack())  # the turn is open: the attacker takes it
    outcome = await attempt(OWNER, PASSWORD, "192.0.2.44")
    assert isinstance(outcome, str)
    owner_due = started.timestamp() + int(outcome.split(":")[1])
    while outcome != 200:
        test_clock.advance(1)
        guesses += await attack()  # first, every second, so it wins each turn it can
        if test_clock.now.timestamp() >= owner_due:
            outcome = await attempt(OWNER, PASSWORD, "192.0.2.44")
            if isinstance(outcome, str):
                owner_due = test_clock.now.timestamp() + int(outcome.split(":")[1])
        assert (test_clock.now - started).total_seconds() <= 30, "the owner is locked out"
    assert guesses >= 1 and test_clock.now > started  # the attacker held the turn first


async def test_failures_across_many_phones_from_one_address_hit_its_limit(
    counters, test_clock, caplog
):
    caplog.set_level(logging.WARNING, logger="grid_backend.auth")
    await create_account(phone="13700000001", password=PASSWORD, name="某人")
    for n in range(100):
        assert await attempt(f"1380000{n:04d}", WRONG, "203.0.113.66") == 401
    assert (await attempt("13700000001", PASSWORD, "203.0.113.66")).startswith("429:")
    assert await attempt("13700000001", PASSWORD, "203.0.113.67") == 200
    locks = (
        await AuditEntry.select()
        .output(load_json=True)
        .where(AuditEntry.action == "auth.lock")
        .run()
    )
    assert [e["detail"] for e in locks] == [{"scope": "address", "address": "203.0.113.66"}]
    assert "sign-in from 203.0.113.66 locked after 100 failures" in caplog.text


async def test_refused_attempts_do_not_count_and_a_success_forgives_the_address(
    owner, counters, test_clock
):
    for _ in range(4):
        test_clock.advance(31)
        assert await attempt(OWNER, WRONG, "192.0.2.44") == 401
    for _ in range(20):  # too fast: refused without looking at the password
        await attempt(OWNER, WRONG, "192.0.2.44")
    test_clock.advance(31)
    assert await attempt(OWNER, PASSWORD, "192.0.2.44") == 200
    for _ in range(4):  # the owner's own typos before do not carry over
        test_clock.advance(31)
        assert await attempt(OWNER, WRONG, "192.0.2.44") == 401


async def test_the_delay_grows_and_stops_at_30_s(owner, counters, test_clock):
    waits = []
    for n in range(10):
        assert await attempt(OWNER, WRONG, f"10.3.0.{n + 1}") == 401
        probe = await attempt(OWNER, PASSWORD, f"10.4.0.{n + 1}")  # a success counts nothing
        waits.append(0 if probe == 200 else int(probe.split(":")[1]))
        test_clock.advance(31)
    assert waits == [0, 0, 1, 2, 4, 8, 16, 30, 30, 30]


async def test_login_limits_over_http_answer_429_with_retry_after(client, owner, test_clock):
    for _ in range(3):
        r = await client.post("/api/v1/auth/login", json={"phone": OWNER, "password": WRONG})
        assert r.status_code == 401
    r = await client.post("/api/v1/auth/login", json={"phone": OWNER, "password": PASSWORD})
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) == 1
    test_clock.advance(1.001)  # a real client comes back a little after the second
    r = await client.post("/api/v1/auth/login", json={"phone": OWNER, "password": PASSWORD})
    assert r.status_code == 200


async def test_an_unreachable_redis_falls_back_to_memory_and_still_limits(
    db, owner, test_clock, caplog
):
    import dataclasses

    from grid_backend.core import throttle
    from grid_backend.settings import get_settings

    dead = dataclasses.replace(get_settings(), redis_url="redis://127.0.0.1:1/0")
    used = throttle.Throttle(dead)
    throttle.reset_throttle(used)
    for _ in range(5):
        assert await attempt(OWNER, WRONG, "198.51.100.9") == 401
        test_clock.advance(31)
    assert (await attempt(OWNER, PASSWORD, "198.51.100.9")).startswith("429:")
    assert await attempt(OWNER, PASSWORD, "192.0.2.44") == 200
    assert "rate-limit storage unreachable" in caplog.text
    await used.aclose()


async def test_rotating_addresses_win_a_ticket_once_then_only_the_turns(
    owner, counters, test_clock
):
    """20 addresses taking turns for 10 minutes: each gets one guess by ticket, the rest of
    the guesses are the phone's turns (one per 30 s at most)."""
    guesses = 0
    for second in range(600):
        address = f"10.5.0.{second % 20 + 1}"
        guesses += await attempt(OWNER, WRONG, address) == 401
        test_clock.advance(1)
    assert guesses <= 3 + 600 / 30 + 20 + 4  # free tries, turns, one ticket each, the ramp
