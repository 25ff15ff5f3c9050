"""Notification preferences: channels and quiet hours per account."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from grid_backend.core import clock
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import invalid
from grid_backend.notify import channels
from grid_backend.notify.schemas import (
    PreferencesRead,
    PreferencesWrite,
    QuietHours,
)
from grid_backend.notify.tables import NotificationPreference
from grid_backend.settings import get_settings


@dataclass(frozen=True, slots=True)
class Prefs:
    push: bool = True
    sms: bool = False
    quiet_start: time | None = None
    quiet_end: time | None = None


async def _prefs_of(account_ids: Iterable[int]) -> dict[int, Prefs]:
    ids = sorted(set(account_ids))
    found: dict[int, Prefs] = {}
    for start in range(0, len(ids), 10_000):  # PostgreSQL takes 32767 parameters
        rows = (
            await NotificationPreference.select()
            .where(NotificationPreference.account.is_in(ids[start : start + 10_000]))
            .run()
        )
        for r in rows:
            found[r["account"]] = Prefs(r["push"], r["sms"], r["quiet_start"], r["quiet_end"])
    return {a: found.get(a, Prefs()) for a in ids}


def quiet_until(at: datetime, prefs: Prefs) -> datetime | None:
    """The end of the recipient's quiet period if `at` falls inside one, else None."""
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return None
    zone = get_settings().zone
    local = at.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=zone)
    if ends <= local:  # a period across midnight, entered before midnight
        ends = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return ends.astimezone(UTC)


def _hhmm(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


async def read_preferences(*, account_id: int) -> PreferencesRead:
    """The caller's channels and quiet hours (the defaults when never set)."""
    p = (await _prefs_of([account_id]))[account_id]
    quiet = (
        QuietHours(start=_hhmm(p.quiet_start), end=_hhmm(p.quiet_end))  # type: ignore[arg-type]  # both set (the condition below): _hhmm gives str
        if p.quiet_start is not None and p.quiet_end is not None
        else None
    )
    return PreferencesRead(
        inbox=True,
        push=p.push,
        sms=p.sms,
        quiet_hours=quiet,
        timezone=get_settings().timezone,
        push_available=channels.enabled("push"),
        sms_available=channels.enabled("sms"),
    )


async def write_preferences(*, account_id: int, data: PreferencesWrite) -> PreferencesRead:
    """Replace the caller's channels and quiet hours."""
    start = end = None
    if data.quiet_hours is not None:
        start = time.fromisoformat(data.quiet_hours.start)
        end = time.fromisoformat(data.quiet_hours.end)
        if start == end:
            raise invalid(
                "quiet_hours",
                "start and end must differ",
                code="quiet_hours_invalid",
            )
    row = NotificationPreference(
        account=account_id,
        push=data.push,
        sms=data.sms,
        quiet_start=start,
        quiet_end=end,
        updated_at=clock.now().astimezone(UTC),
    )
    t = NotificationPreference
    async with write_transaction():
        await (
            t.insert(row)
            .on_conflict(
                target=t.account,
                action="DO UPDATE",
                values=[t.push, t.sms, t.quiet_start, t.quiet_end, t.updated_at],
            )
            .run()
        )
    return await read_preferences(account_id=account_id)
