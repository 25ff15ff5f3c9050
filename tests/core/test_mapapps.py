"""The map-app links a case offers: each app gets the position in its own datum, from core.geo."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from grid_backend.core import geo, mapapps

# 解放碑, in WGS-84
LAT, LNG = 29.5577, 106.5770


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_amap_gets_gcj02_and_baidu_gets_bd09():
    amap, baidu = mapapps.links(lat=LAT, lng=LNG, name="燃气泄漏 · 第一网格")
    lng_g, lat_g = geo.wgs84_to_gcj02(LNG, LAT)
    lng_b, lat_b = geo.wgs84_to_bd09(LNG, LAT)
    assert (amap.app, amap.datum, amap.lng, amap.lat) == (
        "amap",
        "gcj02",
        round(lng_g, 6),
        round(lat_g, 6),
    )
    assert (baidu.app, baidu.datum, baidu.lng, baidu.lat) == (
        "baidu",
        "bd09",
        round(lng_b, 6),
        round(lat_b, 6),
    )
    # the offsets are real: a few hundred metres, as the apps would otherwise misplace the case
    assert 100 < geo.distance_m(LNG, LAT, amap.lng, amap.lat) < 1000
    assert 100 < geo.distance_m(amap.lng, amap.lat, baidu.lng, baidu.lat) < 2000

    q = _query(amap.url)
    assert amap.url.startswith("https://uri.amap.com/navigation?")
    assert q["to"] == [f"{lng_g:.6f},{lat_g:.6f},燃气泄漏 · 第一网格"]  # lng,lat,name
    assert q["coordinate"] == ["gaode"] and q["callnative"] == ["1"]
    q = _query(baidu.url)
    assert baidu.url.startswith("https://api.map.baidu.com/marker?")
    assert q["location"] == [f"{lat_b:.6f},{lng_b:.6f}"]  # lat,lng
    assert q["coord_type"] == ["bd09ll"] and q["output"] == ["html"]
    assert q["title"] == ["燃气泄漏 · 第一网格"]
    # a space is %20, not "+", which some map pages show as it is
    assert "+" not in amap.url and "+" not in baidu.url


def test_a_name_cannot_break_out_of_its_parameter():
    amap, baidu = mapapps.links(lat=LAT, lng=LNG, name="a&src=evil#x")
    assert _query(amap.url)["src"] == ["grid_backend"]
    assert _query(baidu.url)["title"] == ["a&src=evil#x"]
    assert "#" not in amap.url and "#" not in baidu.url
