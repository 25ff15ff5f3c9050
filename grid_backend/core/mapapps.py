"""Links that open a position in the map apps people carry (AMap, Baidu Maps), ready to go
there. Each app reads its own datum (AMap GCJ-02, Baidu BD-09): positions are stored in
WGS-84 and converted here through core.geo, so no page does the datum arithmetic itself."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import msgspec

from grid_backend.core import geo

# who is asking, as the apps' statistics want it (Baidu: webapp.company.app)
_SOURCE = "grid_backend"
_BAIDU_SOURCE = "webapp.grid_backend.field"


class MapLink(msgspec.Struct):
    """One map app's link to a position, with the position in that app's datum."""

    app: str  # "amap" or "baidu"
    url: str
    datum: str
    lat: float
    lng: float


def _amap(lat: float, lng: float, name: str) -> MapLink:
    lng_g, lat_g = geo.wgs84_to_gcj02(lng, lat)
    # route from where the phone is (AMap fills in the start); the app opens when installed
    query = urlencode(
        {
            "to": f"{lng_g:.6f},{lat_g:.6f},{name}",
            "mode": "car",
            "coordinate": "gaode",
            "callnative": 1,
            "src": _SOURCE,
        },
        quote_via=quote,
        safe=",",
    )
    return MapLink(
        app="amap",
        url=f"https://uri.amap.com/navigation?{query}",
        datum="gcj02",
        lat=round(lat_g, 6),
        lng=round(lng_g, 6),
    )


def _baidu(lat: float, lng: float, name: str) -> MapLink:
    lng_b, lat_b = geo.wgs84_to_bd09(lng, lat)
    # Baidu's web route page needs a start the server cannot know; its marker page opens the
    # app (or the web map) on the point with its "go here" button
    query = urlencode(
        {
            "location": f"{lat_b:.6f},{lng_b:.6f}",
            "title": name,
            "content": name,
            "coord_type": "bd09ll",
            "output": "html",
            "src": _BAIDU_SOURCE,
        },
        quote_via=quote,
        safe=",",
    )
    return MapLink(
        app="baidu",
        url=f"https://api.map.baidu.com/marker?{query}",
        datum="bd09",
        lat=round(lat_b, 6),
        lng=round(lng_b, 6),
    )


def links(*, lat: float, lng: float, name: str) -> list[MapLink]:
    """AMap and Baidu Maps links to a WGS-84 position, labelled `name` in the app."""
    return [_amap(lat, lng, name), _baidu(lat, lng, name)]
