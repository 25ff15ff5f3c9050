from __future__ import annotations

from datetime import datetime

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


def photo_urls(photo_id: int) -> tuple[str, str]:
    base = f"/api/v1/media/{photo_id}"
    return f"{base}/display", f"{base}/thumbnail"
