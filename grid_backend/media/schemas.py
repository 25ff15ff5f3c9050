from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class PhotoRead(msgspec.Struct):
    id: int
    sha256: str
    mime: str
    width: int
    height: int
    size_bytes: int
    display_url: str
    thumbnail_url: str
    gps_lat: float | None
    gps_lng: float | None
    captured_at: datetime | None
    already_stored: bool = False  # the same bytes were uploaded before (stored once)
    # "exif": read by the server from the file; "phone": read by the phone before it shrank it
    gps_source: str | None = None
    captured_source: str | None = None


def gps_source(row: dict[str, Any]) -> str | None:
    """Where a photo row's position came from (rows from before the column: the file)."""
    if row.get("gps_lat") is None:
        return None
    return row.get("gps_source") or "exif"


def photo_urls(photo_id: int) -> tuple[str, str]:
    base = f"/api/v1/media/{photo_id}"
    return f"{base}/display", f"{base}/thumbnail"
