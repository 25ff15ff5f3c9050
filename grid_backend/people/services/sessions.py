"""Sessions: sign-in, rotating refresh tokens, sign-out."""

from __future__ import annotations

import uuid
from datetime import timedelta

from grid_backend.core import audit, clock
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import DomainError
from grid_backend.core.security import (
    burn_password_check,
    issue_access_token,
    new_refresh_token,
    refresh_digest,
    verify_password,
)
from grid_backend.people import signin
from grid_backend.people.phones import normalise_phone
from grid_backend.people.schemas import (
    AccountRead,
    TokenPair,
)
from grid_backend.people.services.accounts import _ACCOUNT_COLUMNS, _account_read
from grid_backend.people.tables import Account, RefreshToken
from grid_backend.settings import get_settings


async def issue_tokens(account: AccountRead, family: uuid.UUID | None = None) -> TokenPair:
    family = family or uuid.uuid4()
    access, expires_in = issue_access_token(account.id, session=str(family))
    token, digest = new_refresh_token()
    await RefreshToken.insert(
        RefreshToken(
            account=account.id,
            family=family,
            token_hash=digest,
            expires_at=clock.now() + timedelta(days=get_settings().refresh_token_days),
        )
    ).run()
    return TokenPair(
        access_token=access, refresh_token=token, expires_in=expires_in, account=account
    )


async def login(*, phone: str, password: str, address: str) -> TokenPair:
    """Check the password and issue an access token and a new refresh token family."""
    phone = normalise_phone(phone)
    await signin.admit(phone=phone, address=address)
    row = (
        await Account.select(*_ACCOUNT_COLUMNS, Account.password_hash)
        .where(Account.phone == phone)
        .first()
        .run()
    )
    if row is None:
        await burn_password_check()
        await signin.failed(phone=phone, address=address, account_id=None)
        raise DomainError("invalid_credentials", status=401)
    if not await verify_password(row["password_hash"], password):
        await signin.failed(phone=phone, address=address, account_id=row["id"])
        raise DomainError("invalid_credentials", status=401)
    if not row["is_active"]:
        raise DomainError("account_disabled", status=403)
    await signin.succeeded(phone=phone, address=address)
    return await issue_tokens(_account_read(row))


async def refresh(*, refresh_token: str) -> TokenPair:
    """Rotate a refresh token; presenting a rotated one again revokes its whole family."""
    digest = refresh_digest(refresh_token)
    now = clock.now()
    async with write_transaction():
        row = await RefreshToken.select().where(RefreshToken.token_hash == digest).first().run()
        if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
            raise DomainError("token_invalid", status=401)
        # conditional update: of two racing refreshes with one token, exactly one wins
        won = (
            await RefreshToken.update({RefreshToken.used_at: now})
            .where((RefreshToken.id == row["id"]) & RefreshToken.used_at.is_null())
            .returning(RefreshToken.id)
            .run()
        )
        if not won:
            await (
                RefreshToken.update({RefreshToken.revoked_at: now})
                .where((RefreshToken.family == row["family"]) & RefreshToken.revoked_at.is_null())
                .run()
            )
            await audit.record(
                actor_id=row["account"],
                action="auth.refresh_reuse",
                object_type="account",
                object_id=row["account"],
            )
            reuse = True
        else:
            reuse = False
            account = (
                await Account.select(*_ACCOUNT_COLUMNS)
                .where(Account.id == row["account"])
                .first()
                .run()
            )
            if account is None or not account["is_active"]:
                raise DomainError("account_disabled", status=403)
            pair = await issue_tokens(_account_read(account), family=row["family"])
    if reuse:  # raised outside the transaction so the revocation is committed
        raise DomainError("refresh_token_reused", status=401)
    return pair


async def session_of(*, refresh_token: str) -> str | None:
    """The session (family) of a live refresh token: the console binds its CSRF token to it
    when the access cookie has already expired."""
    row = (
        await RefreshToken.select(RefreshToken.family)
        .where(
            (RefreshToken.token_hash == refresh_digest(refresh_token))
            & RefreshToken.revoked_at.is_null()
            & (RefreshToken.expires_at > clock.now())
        )
        .first()
        .run()
    )
    return str(row["family"]) if row else None


async def logout(*, refresh_token: str) -> None:
    """Revoke the refresh token's family (this device's session)."""
    digest = refresh_digest(refresh_token)
    async with write_transaction():
        row = (
            await RefreshToken.select(RefreshToken.family)
            .where(RefreshToken.token_hash == digest)
            .first()
            .run()
        )
        if row is not None:
            await (
                RefreshToken.update({RefreshToken.revoked_at: clock.now()})
                .where((RefreshToken.family == row["family"]) & RefreshToken.revoked_at.is_null())
                .run()
            )
