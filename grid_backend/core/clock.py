"""The one source of "now", so tests can move time without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from grid_backend.settings import get_settings


def _system() -> datetime:
    return datetime.now(UTC)


_now: Callable[[], datetime] = _system


def now() -> datetime:
    """The current time, aware, in UTC."""
    return _now()


def today() -> date:
    """Today's date in the configured time zone (duties run by local calendar days)."""
    return now().astimezone(get_settings().zone).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a local calendar day starts and the next one starts."""
    start = datetime.combine(day, time(0), tzinfo=get_settings().zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=get_settings().zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None restores the system clock."""
    global _now
    _now = fn if fn is not None else _system


def is_system() -> bool:
    """Whether now() is the system clock, not a test's (which may stand still)."""
    return _now is _system
