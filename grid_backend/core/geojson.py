"""GeoJSON (RFC 7946) files written as a stream: a FeatureCollection of Points, one msgspec
encoding per feature, a batch per chunk, so a large export never sits in memory at once.

Positions are stored in WGS-84. RFC 7946 says a GeoJSON file is in WGS-84 and has no way to
name another datum, so a file in GCJ-02 (for overlaying on AMap or Tencent tiles) says so in two
foreign members, `crs_name` and `crs_note` (docs/gis.md); a GIS still reads it as WGS-84."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import quote

import msgspec
from litestar.params import QueryParameter

from grid_backend.core import geo
from grid_backend.settings import get_settings

MEDIA_TYPE = "application/geo+json"

GeoCrs = Literal["wgs84", "gcj02"]
CrsParam = Annotated[
    GeoCrs,
    QueryParameter(description="datum of the coordinates: wgs84 (RFC 7946) or gcj02 (AMap)"),
]

CRS_NAMES: dict[str, str] = {"wgs84": "WGS84", "gcj02": "GCJ02"}
GCJ02_NOTE = (
    "Coordinates are GCJ-02 (China's offset datum used by AMap and Tencent maps), not the"
    " WGS-84 RFC 7946 requires: a GIS reads them as WGS-84, about 300-600 m off. Overlay them"
    " only on GCJ-02 base maps; ask for crs=wgs84 for anything else."
)

DECIMALS = 6  # about 0.1 m
BATCH = 1000


class Feature(NamedTuple):
    """One point: its id, WGS-84 position and properties (text, numbers, booleans, times)."""

    id: int
    lng: float
    lat: float
    properties: Mapping[str, Any]


async def pages(
    fetch: Callable[[int, int], Awaitable[list[dict[str, Any]]]], *, size: int = BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """Rows in id order, `size` at a time: `fetch(after, size)` gives the next rows with an id
    above `after`."""
    after = 0
    while True:
        rows = await fetch(after, size)
        if not rows:
            return
        after = rows[-1]["id"]
        yield rows
        if len(rows) < size:
            return


def local_time(value: Any) -> str | None:
    """A stored time (UTC; an aware or naive datetime, or the ISO text SQLite gives) as ISO-8601
    in the configured zone, with its offset; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(get_settings().zone).isoformat(timespec="seconds"))


def _value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, datetime):
        return local_time(value)
    return value


def header(*, name: str, crs: GeoCrs) -> bytes:
    """The collection's opening, up to the features' array."""
    members: dict[str, Any] = {
        "type": "FeatureCollection",
        "name": name,
        "crs_name": CRS_NAMES[crs],
    }
    if crs != "wgs84":
        members["crs_note"] = GCJ02_NOTE
    return msgspec.json.encode(members)[:-1] + b',"features":['


def encode(feature: Feature, crs: GeoCrs) -> bytes:
    """One feature as JSON: the position in the chosen datum, numbers rounded to 6 places."""
    lng, lat = feature.lng, feature.lat
    if crs != "wgs84":
        lng, lat = geo.convert(lng, lat, "wgs84", crs)
    return msgspec.json.encode(
        {
            "type": "Feature",
            "id": feature.id,
            "geometry": {
                "type": "Point",
                "coordinates": [round(lng, DECIMALS), round(lat, DECIMALS)],
            },
            "properties": {key: _value(v) for key, v in feature.properties.items()},
        }
    )


async def stream(
    batches: AsyncIterator[list[Feature]], *, name: str, crs: GeoCrs
) -> AsyncIterator[bytes]:
    """The FeatureCollection as chunks: the opening, one chunk per batch, the closing; valid
    JSON with no feature at all."""
    yield header(name=name, crs=crs)
    first = True
    async for batch in batches:
        if not batch:
            continue
        chunk = b",".join(encode(f, crs) for f in batch)
        yield chunk if first else b"," + chunk
        first = False
    yield b"]}\n"


def download_headers(
    filename: str, *, rows: int | None = None, label: str | None = None
) -> dict[str, str]:
    """Content-Disposition (an ASCII name, and a UTF-8 one when `label` names it in Chinese),
    no caching, and the row count when known."""
    disposition = f'attachment; filename="{filename}"'
    if label:
        disposition += f"; filename*=UTF-8''{quote(label)}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    if rows is not None:
        headers["X-Row-Count"] = str(rows)
    return headers
