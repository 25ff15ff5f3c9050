"""Closed accounts: deleted by their resident or deactivated by an admin. Their access tokens
are refused (core.auth asks `is_closed` on every authenticated request), from a cache that
every process renews when the "accounts" revision changes, so a closing made in one process
reaches the others within GRID_INDEX_REFRESH_SECONDS."""

from __future__ import annotations

from grid_backend.core.revisions import RevisionCache
from grid_backend.people.tables import Account

REVISION = "accounts"  # bump it (core.audit.bump_revision) in the transaction that closes one

_cache = RevisionCache(REVISION, max_entries=100_000)


async def is_closed(account_id: int) -> bool:
    """True if the account exists and is no longer active."""
    hit, closed = await _cache.lookup(account_id, None)
    if hit:
        return bool(closed)
    row = await Account.select(Account.is_active).where(Account.id == account_id).first().run()
    closed = row is not None and not row["is_active"]
    _cache.store(account_id, closed)
    return closed
