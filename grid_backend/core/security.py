"""Passwords (argon2 off the event loop), access tokens (JWT) and refresh token digests."""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from datetime import timedelta
from functools import lru_cache

import anyio.to_thread
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from grid_backend.core import clock
from grid_backend.settings import get_settings

ALGORITHM = "HS256"


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    if get_settings().password_hash_cost == "fast":  # tests only; refused in production
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher().hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher().verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(check)


# Verified against when the phone is unknown, so a wrong phone costs as much as a wrong password.
async def burn_password_check() -> None:
    await verify_password(await _dummy_hash(), "not-the-password")


@lru_cache(maxsize=1)
def _dummy_hash_sync() -> str:
    return _hasher().hash(secrets.token_hex(8))


async def _dummy_hash() -> str:
    return await anyio.to_thread.run_sync(_dummy_hash_sync)


def issue_access_token(account_id: int, *, session: str | None = None) -> tuple[str, int]:
    """A signed access token; `session` (the refresh-token family) is what the console's CSRF
    token is bound to, and stays the same across refreshes."""
    settings = get_settings()
    issued = clock.now()
    claims: dict[str, object] = {
        "sub": str(account_id),
        "typ": "access",
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=settings.access_token_seconds)).timestamp()),
    }
    if session:
        claims["sid"] = session
    return jwt.encode(
        claims, settings.secret_key, algorithm=ALGORITHM
    ), settings.access_token_seconds


# A phone sends the same token with every request for 15 minutes: remember verified tokens
# (their account, expiry and session) instead of checking the signature each time.
_verified: OrderedDict[str, tuple[int, int, str | None]] = OrderedDict()
_VERIFIED_MAX = 20_000


def _verify(token: str) -> tuple[int, int, str | None] | None:
    """(account id, expiry, session) of a correctly signed access token, whatever the time."""
    try:
        claims = jwt.decode(
            token,
            get_settings().secret_key,
            algorithms=[ALGORITHM],
            # expiry is checked below against the injectable clock, not the wall clock
            options={"require": ["exp", "sub", "typ"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return None
    sub, exp = claims["sub"], claims["exp"]
    if claims.get("typ") != "access" or not (isinstance(sub, str) and sub.isdigit()):
        return None
    if not isinstance(exp, int | float):
        return None
    sid = claims.get("sid")
    return int(sub), int(exp), sid if isinstance(sid, str) and sid else None


def _verified_claims(token: str) -> tuple[int, int, str | None] | None:
    known = _verified.get(token)
    if known is None:
        known = _verify(token)
        if known is None:
            return None
        _verified[token] = known
        if len(_verified) > _VERIFIED_MAX:
            _verified.popitem(last=False)
    return known


def read_access_token(token: str) -> int | None:
    """The account id in a valid, unexpired access token, else None."""
    known = _verified_claims(token)
    if known is None:
        return None
    account_id, exp, _ = known
    return account_id if exp > clock.now().timestamp() else None


def access_session(token: str) -> str | None:
    """The session (refresh-token family) a correctly signed access token belongs to, expired or
    not: the CSRF check needs it before the transparent refresh renews an expired token."""
    known = _verified_claims(token)
    return known[2] if known else None


def new_refresh_token() -> tuple[str, str]:
    """A random refresh token and the digest under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, refresh_digest(token)


def refresh_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
