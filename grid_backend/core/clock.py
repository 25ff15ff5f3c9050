"""The one source of "now", so tests can move time without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from grid_backend.settings import get_settings

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The current time, aware, in UTC."""
    return _now()


def today() -> date:
    """Today's date in the configured time zone (duties run by local calendar days)."""
    return now().astimezone(get_settings().zone).date()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None restores the system clock."""
    global _now
    _now = fn if fn is not None else (lambda: datetime.now(UTC))
