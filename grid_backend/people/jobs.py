"""Timed jobs of the people domain: forget what has stopped mattering."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from grid_backend.people.tables import RefreshToken, RegistrationCode


async def prune_refresh_tokens(now: datetime) -> dict[str, Any]:
    """Delete refresh tokens that expired more than a week ago."""
    gone = (
        await RefreshToken.delete()
        .where(RefreshToken.expires_at < now - timedelta(days=7))
        .returning(RefreshToken.id)
        .run()
    )
    return {"deleted": len(gone)}


async def prune_registration_codes(now: datetime) -> dict[str, Any]:
    """Delete sign-up codes that expired more than a day ago (a new request replaces a live
    one, so only codes nobody came back for pile up)."""
    gone = (
        await RegistrationCode.delete()
        .where(RegistrationCode.expires_at < now - timedelta(days=1))
        .returning(RegistrationCode.id)
        .run()
    )
    return {"deleted": len(gone)}
