"""Deactivating a staff account: an administrator closes it, its history stays (docs/privacy.md,
"Staff"). Residents delete their own accounts instead (flows/own_data.py)."""

from __future__ import annotations

from datetime import timedelta

from grid_backend.core import audit, clock, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Forbidden, NotFound
from grid_backend.people import closed
from grid_backend.people.phones import mask_phone
from grid_backend.people.schemas import AccountRead
from grid_backend.people.services.accounts import _ACCOUNT_COLUMNS, _account_read
from grid_backend.people.tables import Account, Assignment, RefreshToken


async def deactivate_account(
    *, account_id: int, grants: list[policy.Grant], actor_id: int
) -> AccountRead:
    """Close an account for good: no sign-in, no refresh, its tokens refused, its assignments
    ended (yesterday; one not yet started is cancelled). Its cases, patrols and audit stay.
    Only an administrator whose area holds every duty the person ever held; again: the same."""
    row = await Account.select(*_ACCOUNT_COLUMNS).where(Account.id == account_id).first().run()
    if row is None:
        raise NotFound()
    scopes = policy.scopes(grants, "account.deactivate")
    held = (
        await Assignment.select(
            Assignment.id, Assignment.area_path, Assignment.valid_from, Assignment.valid_to
        )
        .where(Assignment.account == account_id)
        .run()
    )
    city = any(s.count("/") == 1 for s in scopes)  # "500000/": the whole city
    covered = all(any(h["area_path"].startswith(s) for s in scopes) for h in held)
    # a resident (no duty ever) belongs to no area: only the city's admins
    if account_id == actor_id or not scopes or not (covered if held else city):
        raise Forbidden()
    if not row["is_active"]:
        return _account_read(row)
    today, now = clock.today(), clock.now()
    async with write_transaction():
        await (
            Account.update({Account.is_active: False, Account.updated_at: now})
            .where(Account.id == account_id)
            .run()
        )
        await (
            RefreshToken.update({RefreshToken.revoked_at: now})
            .where((RefreshToken.account == account_id) & RefreshToken.revoked_at.is_null())
            .run()
        )
        for h in held:
            if h["valid_to"] is None or h["valid_to"] >= today:
                last = max(today - timedelta(days=1), h["valid_from"] - timedelta(days=1))
                await (
                    Assignment.update({Assignment.valid_to: last})
                    .where(Assignment.id == h["id"])
                    .run()
                )
        await audit.record(
            actor_id=actor_id,
            action="account.deactivate",
            object_type="account",
            object_id=account_id,
            detail={"phone": mask_phone(row["phone"]), "assignments": len(held)},
        )
        await audit.bump_revision("assignments")
        await audit.bump_revision(closed.REVISION)
    return _account_read({**row, "is_active": False})
