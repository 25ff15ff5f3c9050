"""A photo's metadata: orientation, GPS position and capture time from its EXIF; malformed metadata
reads as absent."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

from PIL import ExifTags, Image

_EXIF_DATETIME = re.compile(r"(\d{4})[:-](\d\d)[:-](\d\d)[ T](\d\d):(\d\d):(\d\d)")
_EXIF_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")


def _metadata(
    im: Image.Image, *, heif: bool
) -> tuple[int | None, tuple[float | None, float | None], datetime | None]:
    """Orientation, GPS position and capture time; malformed metadata reads as absent."""
    exif = _exif(im)
    # pillow-heif resets the EXIF tag of the decoded (already turned) image and keeps the value.
    raw = im.info.get("original_orientation") if heif else exif.get(ExifTags.Base.Orientation)
    return _orientation_value(raw), _gps(exif), _captured_at(exif)


def _exif(im: Image.Image) -> Image.Exif:
    """The image's EXIF, or an empty one when it is missing or unreadable."""
    try:
        return im.getexif()
    except Exception:  # metadata is optional: whatever a malformed block raises, ignore it
        return Image.Exif()


def _orientation_value(value: object) -> int | None:
    """A valid EXIF orientation (1-8) or None."""
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _text(value: object) -> str | None:
    """An EXIF ASCII value as a stripped str (writers pad with NULs and spaces)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else None


def _gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    """WGS-84 latitude and longitude from the GPS IFD, or (None, None) if absent or malformed."""
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # a malformed GPS IFD is treated as no GPS
        return None, None
    lat = _coordinate(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), 90)
    lng = _coordinate(
        gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), 180
    )
    if lat is None or lng is None:
        return None, None
    if lat == 0 and lng == 0:
        # Phones write 0/0 when they had no fix; nobody reports a hazard from the Gulf of Guinea.
        return None, None
    return lat, lng


def _coordinate(value: object, ref: object, limit: float) -> float | None:
    """Degrees from EXIF (deg, min, sec) rationals and an N/S/E/W reference; None if malformed."""
    hemisphere = _text(ref)
    if not hemisphere or hemisphere.upper() not in {"N", "S", "E", "W"}:
        return None
    parts = value if isinstance(value, tuple) else (value,)  # some writers store decimal degrees
    if not 1 <= len(parts) <= 3:
        return None
    try:
        numbers = [float(part) for part in parts]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(n) and n >= 0 for n in numbers):  # x/0 rationals read as nan
        return None
    degrees = sum(n / 60**i for i, n in enumerate(numbers))
    if degrees > limit:
        return None
    return round(-degrees if hemisphere.upper() in {"S", "W"} else degrees, 7)


def _captured_at(exif: Image.Exif) -> datetime | None:
    """DateTimeOriginal: aware UTC if OffsetTimeOriginal is given, else naive device-local time."""
    try:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # a malformed Exif IFD is treated as no capture time
        return None
    text = _text(ifd.get(ExifTags.Base.DateTimeOriginal))
    match = _EXIF_DATETIME.fullmatch(text or "")
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        moment = datetime(year, month, day, hour, minute, second)  # "0000:00:00 ..." fails here
    except ValueError:
        return None
    subsec = _text(ifd.get(ExifTags.Base.SubsecTimeOriginal))
    if subsec and subsec.isdigit():
        moment = moment.replace(microsecond=int(subsec[:6].ljust(6, "0")))
    offset = _EXIF_OFFSET.fullmatch(_text(ifd.get(ExifTags.Base.OffsetTimeOriginal)) or "")
    if offset:
        sign = -1 if offset[1] == "-" else 1
        delta = sign * timedelta(hours=int(offset[2]), minutes=int(offset[3]))
        try:
            return moment.replace(tzinfo=timezone(delta)).astimezone(UTC)
        except (ValueError, OverflowError):  # offsets past 24 h, dates at the edge of datetime
            return moment
    return moment
