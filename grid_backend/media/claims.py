"""What the phone says it read from a photo's EXIF before shrinking it (the shrunk JPEG has no
metadata left): a position and a capture time, checked for range and kept as the phone's claim,
never mixed up with what the server reads from a file itself."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from grid_backend.core.errors import DomainError, invalid

# The multipart fields beside `file`; all optional, all strings.
LAT, LNG, TAKEN_AT = "phone_gps_lat", "phone_gps_lng", "phone_captured_at"
FIELDS = (LAT, LNG, TAKEN_AT)

_TAKEN = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d):(\d\d)|Z)?"
)
_EARLIEST = datetime(2000, 1, 1)
_AHEAD = timedelta(days=1)  # a phone clock a little ahead is no reason to refuse a photo


@dataclass(frozen=True, slots=True)
class PhoneClaims:
    """Position (WGS-84) and capture time as the phone read them; each part may be missing.
    `captured_at` is aware (UTC) when the photo gave its offset, else the device's local time."""

    gps_lat: float | None = None
    gps_lng: float | None = None
    captured_at: datetime | None = None

    @property
    def empty(self) -> bool:
        return self.gps_lat is None and self.captured_at is None


def phone_claims(values: dict[str, str | None], *, now: datetime) -> PhoneClaims:
    """The claims among these form values; a 422 naming the field for any out of range."""
    lat, lng = _number(values, LAT, 90), _number(values, LNG, 180)
    if (lat is None) != (lng is None):
        missing = LNG if lng is None else LAT
        raise invalid(missing, "send the latitude and the longitude together")
    if lat == 0 and lng == 0:
        lat = lng = None  # phones write 0/0 when they had no fix, as in a file's own EXIF
    return PhoneClaims(gps_lat=lat, gps_lng=lng, captured_at=_moment(values.get(TAKEN_AT), now))


def _number(values: dict[str, str | None], field: str, limit: float) -> float | None:
    text = (values.get(field) or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise invalid(field, "not a number") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise invalid(field, "must be between -%(limit)s and %(limit)s", params={"limit": limit})
    return round(number, 7)


def _moment(text: str | None, now: datetime) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    match = _TAKEN.fullmatch(text)
    if not match:
        raise _bad_time()
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, sign, off_h, off_m = match.groups()[6:]
    try:
        moment = datetime(
            year, month, day, hour, minute, second, int((fraction or "0").ljust(6, "0"))
        )
        if text.endswith("Z"):
            moment = moment.replace(tzinfo=UTC)
        elif sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            moment = (moment - (offset if sign == "+" else -offset)).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise _bad_time() from None
    naive = moment.replace(tzinfo=None)
    # a local time is compared loosely: it may be up to 14 hours off UTC either way
    latest = now.astimezone(UTC).replace(tzinfo=None) + _AHEAD
    if naive < _EARLIEST or naive > latest:
        raise invalid(TAKEN_AT, "the capture time is outside the years a photo can have been taken")
    return moment


def _bad_time() -> DomainError:
    return invalid(TAKEN_AT, "use YYYY-MM-DDTHH:MM:SS, with an optional offset like +08:00")
