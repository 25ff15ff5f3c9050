"""Who may try a password now (docs/security.md, "Sign-in limits").

Only failures count, never successful sign-ins (a street office behind one NAT signs in all
day). Three windows of GRID_LOGIN_WINDOW_SECONDS (15 min):

- (phone, address): after 5 failures that phone is refused from that address until the
  window lets one out. The owner, elsewhere, is not affected.
- address: after 100 failures across any phones the address is refused (password spraying).
- phone, from anywhere: never blocked, slowed down. After 3 failures each further attempt
  takes the phone's turn, and the next turn comes 1, 2, 4, 8, 16 then 30 s
  (GRID_LOGIN_DELAY_CAP_SECONDS) later; an attempt before it is answered 429 with
  Retry-After, without looking at the password.

An attacker who keeps taking the turn the moment it opens could keep the owner waiting for
ever, so a refused address gets a ticket: when it comes back at least the cap after its
first refusal it is let in even if someone else took the turn meanwhile. Only an address
with no failure for that phone in the window gets a ticket, so each attacking address gets
one guess by ticket per window, the rest only by winning a turn. The owner, from an address
they have not failed from lately, gets in within 30 s however many failures others cause."""

from __future__ import annotations

import logging

from grid_backend.core import audit
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import DomainError
from grid_backend.core.throttle import get_throttle, window
from grid_backend.people.phones import mask_phone
from grid_backend.settings import get_settings

logger = logging.getLogger("grid_backend.auth")

TICKET_GRACE_SECONDS = 300  # how long a refused address may take to come back
PHONE_COUNT_CAP = 64  # failures counted per phone: enough to reach the longest delay


def too_many(seconds: int) -> DomainError:
    return DomainError(
        "rate_limited",
        status=429,
        headers={"Retry-After": str(seconds)},
        detail="try again in %(seconds)s s",
        params={"seconds": seconds},
    )


def delay_for(failures: int) -> int:
    """Seconds between attempts at a phone that has failed this often: 0, then doubling."""
    s = get_settings()
    over = failures - s.login_free_failures_per_phone
    if over < 0:
        return 0
    return min(s.login_delay_cap_seconds, 2 ** min(over, 10))


def _pair():
    s = get_settings()
    return window(s.login_failures_per_phone_address, s.login_window_seconds)


def _address():
    s = get_settings()
    return window(s.login_failures_per_address, s.login_window_seconds)


def _phone():
    return window(PHONE_COUNT_CAP, get_settings().login_window_seconds)


def _turn(seconds: int):
    return window(1, seconds)


def _ticket():
    return window(1, get_settings().login_delay_cap_seconds + TICKET_GRACE_SECONDS)


async def admit(*, phone: str, address: str) -> None:
    """Let one sign-in attempt check its password, or raise 429 with Retry-After."""
    throttle = get_throttle()
    if wait := (await throttle.stats(_address(), "login-address", address)).retry_after:
        raise too_many(wait)
    pair = await throttle.stats(_pair(), "login", phone, address)
    if pair.retry_after:
        raise too_many(pair.retry_after)
    phone_stats = await throttle.stats(_phone(), "login-phone", phone)
    delay = delay_for(phone_stats.count)
    if not delay or await throttle.hit(_turn(delay), "login-turn", phone):
        return
    # someone had the phone's turn: wait for the next one, or for this address's ticket
    cap = get_settings().login_delay_cap_seconds
    turn = await throttle.stats(_turn(delay), "login-turn", phone)
    if pair.count:  # tickets are for addresses that have not guessed wrong here lately
        raise too_many(min(turn.retry_after or 1, cap))
    ticket = await throttle.stats(_ticket(), "login-ticket", phone, address)
    if ticket.count == 0:
        await throttle.hit(_ticket(), "login-ticket", phone, address)
        raise too_many(min(turn.retry_after or 1, cap))
    waited = _ticket().get_expiry() - ticket.retry_after  # seconds since the first refusal
    if waited >= cap:
        await throttle.clear(_ticket(), "login-ticket", phone, address)
        return
    raise too_many(max(1, min(turn.retry_after or 1, cap - waited)))


async def failed(*, phone: str, address: str, account_id: int | None) -> None:
    """Count a wrong password; log and audit the moment a limit closes."""
    throttle = get_throttle()
    s = get_settings()
    await throttle.hit(_pair(), "login", phone, address)
    await throttle.hit(_address(), "login-address", address)
    await throttle.hit(_phone(), "login-phone", phone)
    if (await throttle.stats(_pair(), "login", phone, address)).retry_after:
        await _lock_event(
            "auth.lock",
            account_id,
            {"scope": "phone_address", "phone": mask_phone(phone), "address": address},
            f"sign-in for {mask_phone(phone)} from {address} locked after "
            f"{s.login_failures_per_phone_address} failures",
        )
    if (await throttle.stats(_address(), "login-address", address)).retry_after:
        await _lock_event(
            "auth.lock",
            None,
            {"scope": "address", "address": address},
            f"sign-in from {address} locked after {s.login_failures_per_address} failures",
        )
    count = (await throttle.stats(_phone(), "login-phone", phone)).count
    delay = delay_for(count)
    if delay:  # the phone's next turn comes `delay` after this failure
        await throttle.hit(_turn(delay), "login-turn", phone)
    if delay_for(count) == s.login_delay_cap_seconds and delay_for(count - 1) < delay_for(count):
        await _lock_event(
            "auth.slowdown",
            account_id,
            {"scope": "phone", "phone": mask_phone(phone), "failures": count},
            f"sign-in for {mask_phone(phone)} slowed to one attempt per "
            f"{s.login_delay_cap_seconds} s after {count} failures from any address",
        )


async def succeeded(*, phone: str, address: str) -> None:
    """The owner got in: their own address's failures for the phone are forgiven."""
    throttle = get_throttle()
    await throttle.clear(_pair(), "login", phone, address)
    await throttle.clear(_ticket(), "login-ticket", phone, address)


async def _lock_event(action: str, account_id: int | None, detail: dict, message: str) -> None:
    logger.warning(message)
    async with write_transaction():
        await audit.record(
            actor_id=None,
            action=action,
            object_type="account" if account_id else "sign_in",
            object_id=account_id,
            detail=detail,
        )
