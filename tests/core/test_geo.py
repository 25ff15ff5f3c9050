"""grid_backend.core.geo against published reference pairs, round trips and the vectorised path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon

from grid_backend.core import geo

# Published values with full float64 digits come from the same reference algorithm, so they must
# be reproduced to rounding noise; 1e-9 deg also catches a wrong ellipsoid (6378137 instead of
# Krasovsky's 6378245 moves results by ~1e-7 deg). Values rounded to 7-8 decimals get 1e-6.
EXACT = 1e-9
ROUNDED = 1e-6

# --- published reference pairs, stored (lng, lat) ------------------------------------------------

# googollee/eviltransform, python/test.py (same table in go/transform_test.go, javascript/test.js,
# rust/src/lib.rs), commit 3416646a:
# https://github.com/googollee/eviltransform/blob/3416646abc64972e899118271bd98030224d9d6c/python/test.py
# The source lists (wgsLat, wgsLng, gcjLat, gcjLng); swapped to (lng, lat) here.
EVILTRANSFORM_WGS_GCJ = [
    pytest.param((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), id="shanghai"),
    pytest.param((113.912316, 22.543847), (113.9171764808363, 22.540796131694766), id="shenzhen"),
    pytest.param((116.377817, 39.911954), (116.38404722455657, 39.91334545536069), id="beijing"),
]

# wandergis/coordtransform results as asserted in dromara/hutool,
# hutool-core/src/test/java/cn/hutool/core/util/CoordinateUtilTest.java (commit 88edbafe):
# https://github.com/dromara/hutool/blob/88edbafe4b3a87782573fd3cd63646b3c62c26a6/hutool-core/src/test/java/cn/hutool/core/util/CoordinateUtilTest.java
HUTOOL_WGS_GCJ = ((116.404, 39.915), (116.41024449916938, 39.91640428150164))
HUTOOL_GCJ_BD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))
# Same file: the one-step (non-iterative) inverses, used to show why geo iterates.
HUTOOL_ONE_STEP_GCJ_TO_WGS = ((116.404, 39.915), (116.39775550083061, 39.91359571849836))
HUTOOL_ONE_STEP_BD_TO_GCJ = ((116.404, 39.915), (116.39762729119315, 39.90865673957631))

# hujiulong/gcoord unit tests, test/unit/crs/WGS84.spec.ts and GCJ02.spec.ts (commit 42ea29df):
# https://github.com/hujiulong/gcoord/blob/42ea29df479c739f9b39f9c8e939fb7ae39e5a3e/test/unit/crs/WGS84.spec.ts
GCOORD_SPEC = [
    pytest.param("wgs84", "gcj02", (123.0, 45.0), (123.00607541, 45.00197815), id="wgs84-gcj02"),
    pytest.param("gcj02", "bd09", (123.0, 45.0), (123.00636499, 45.00636899), id="gcj02-bd09"),
    pytest.param("wgs84", "bd09", (123.0, 45.0), (123.0124491, 45.0083293), id="wgs84-bd09"),
]

# hujiulong/gcoord test/fixtures/china-cities.json (commit fedbaa10), 7 decimals, cities in and
# around the Chongqing box: (WGS84, GCJ02, BD09). gcoord asserts GCJ02->BD09 to 6 decimals and
# anything involving its WGS84 column only to 4 (that column is not from the GCJ-02 formula).
# https://github.com/hujiulong/gcoord/blob/fedbaa105f198d5afc23fec2d60c0a0df32ef663/test/fixtures/china-cities.json
GCOORD_CITIES = [
    pytest.param(
        (105.4386655, 28.8748404), (105.4422659, 28.871815), (105.4487888, 28.8776874), id="luzhou"
    ),
    pytest.param(
        (105.2884121, 27.2873271), (105.2916458, 27.2839591), (105.2982343, 27.2896767), id="bijie"
    ),
    pytest.param(
        (109.1850122, 27.7347803),
        (109.1896029, 27.7315202),
        (109.1960427, 27.7378032),
        id="tongren",
    ),
    pytest.param(
        (107.0188197, 33.0693761),
        (107.0233282, 33.0674824),
        (107.0297571, 33.0736864),
        id="hanzhong",
    ),
    pytest.param(
        (111.2808211, 30.6944096),
        (111.2864741, 30.6919691),
        (111.2930248, 30.6977103),
        id="yichang",
    ),
]
GCOORD_WGS84_TOL = 5e-5  # gcoord's toBeCloseTo(..., 4)

PAIRS = [(src, dst) for src in geo.DATUMS for dst in geo.DATUMS if src != dst]

# Chongqing municipality's extent on a 0.25 degree grid, plus a few points elsewhere in China.
CHONGQING_GRID = [
    (float(lng), float(lat))
    for lng in np.linspace(105.2, 110.2, 21)
    for lat in np.linspace(28.1, 32.2, 18)
]
ELSEWHERE_IN_CHINA = [
    (116.3975, 39.9087),  # Beijing
    (121.4737, 31.2304),  # Shanghai
    (113.2644, 23.1291),  # Guangzhou
    (87.6168, 43.8256),  # Urumqi
    (126.6424, 45.7567),  # Harbin
    (91.1322, 29.6604),  # Lhasa
    (109.5119, 18.2528),  # Sanya
    (105.0, 35.0),  # the formula's origin, where sqrt(|x|) has its kink
]
IN_CHINA = CHONGQING_GRID + ELSEWHERE_IN_CHINA
OUTSIDE_CHINA = [(-0.1276, 51.5072), (-74.006, 40.7128), (151.2093, -33.8688)]  # LON, NYC, SYD


def assert_close(got: tuple[float, float], want: tuple[float, float], tol: float) -> None:
    assert abs(got[0] - want[0]) <= tol, (got, want)
    assert abs(got[1] - want[1]) <= tol, (got, want)


# --- forward conversions against published values ------------------------------------------------


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(wgs, gcj):
    assert_close(geo.wgs84_to_gcj02(*wgs), gcj, EXACT)


def test_forward_matches_hutool_wandergis():
    assert_close(geo.wgs84_to_gcj02(*HUTOOL_WGS_GCJ[0]), HUTOOL_WGS_GCJ[1], EXACT)
    assert_close(geo.gcj02_to_bd09(*HUTOOL_GCJ_BD[0]), HUTOOL_GCJ_BD[1], EXACT)


@pytest.mark.parametrize(("src", "dst", "given", "want"), GCOORD_SPEC)
def test_forward_matches_gcoord_spec(src, dst, given, want):
    assert_close(geo.convert(*given, src, dst), want, ROUNDED)


@pytest.mark.parametrize(("wgs", "gcj", "bd"), GCOORD_CITIES)
def test_matches_gcoord_city_fixture(wgs, gcj, bd):
    assert_close(geo.gcj02_to_bd09(*gcj), bd, ROUNDED)
    assert_close(geo.bd09_to_gcj02(*bd), gcj, ROUNDED)
    assert_close(geo.wgs84_to_gcj02(*wgs), gcj, GCOORD_WGS84_TOL)
    assert_close(geo.bd09_to_wgs84(*bd), wgs, GCOORD_WGS84_TOL)


# --- inverses: exact on published forward pairs ---------------------------------------------------


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_gcj02_to_wgs84_inverts_published_pairs(wgs, gcj):
    assert_close(geo.gcj02_to_wgs84(*gcj), wgs, EXACT)


def test_bd09_inverses_invert_published_pairs():
    gcj, bd = HUTOOL_GCJ_BD
    assert_close(geo.bd09_to_gcj02(*bd), gcj, EXACT)
    wgs = HUTOOL_WGS_GCJ[0]
    assert_close(geo.bd09_to_wgs84(*geo.wgs84_to_bd09(*wgs)), wgs, EXACT)


@pytest.mark.parametrize(
    ("inverse", "forward", "published"),
    [
        pytest.param(geo.gcj02_to_wgs84, geo.wgs84_to_gcj02, HUTOOL_ONE_STEP_GCJ_TO_WGS, id="gcj"),
        pytest.param(geo.bd09_to_gcj02, geo.gcj02_to_bd09, HUTOOL_ONE_STEP_BD_TO_GCJ, id="bd"),
    ],
)
def test_inverse_is_tighter_than_published_one_step(inverse, forward, published):
    given, one_step = published
    ours = inverse(*given)
    # The one-step result is where the usual libraries land: close, but not a true inverse.
    assert geo.distance_m(*ours, *one_step) < 3.0
    assert geo.distance_m(*forward(*one_step), *given) > 0.01
    assert_close(forward(*ours), given, EXACT)


# --- round trips ----------------------------------------------------------------------------------

ROUND_TRIPS = [
    pytest.param(geo.wgs84_to_gcj02, geo.gcj02_to_wgs84, id="wgs84-gcj02-wgs84"),
    pytest.param(geo.wgs84_to_bd09, geo.bd09_to_wgs84, id="wgs84-bd09-wgs84"),
    pytest.param(geo.gcj02_to_bd09, geo.bd09_to_gcj02, id="gcj02-bd09-gcj02"),
    pytest.param(geo.gcj02_to_wgs84, geo.wgs84_to_gcj02, id="gcj02-wgs84-gcj02"),
    pytest.param(geo.bd09_to_gcj02, geo.gcj02_to_bd09, id="bd09-gcj02-bd09"),
]


@pytest.mark.parametrize(("there", "back"), ROUND_TRIPS)
def test_round_trip_within_a_centimetre(there, back):
    worst_m = 0.0
    worst_deg = 0.0
    for lng, lat in IN_CHINA:
        lng2, lat2 = back(*there(lng, lat))
        worst_m = max(worst_m, geo.distance_m(lng, lat, lng2, lat2))
        worst_deg = max(worst_deg, abs(lng2 - lng), abs(lat2 - lat))
    assert worst_m < 1.0
    assert worst_deg < 1e-7  # ~1 cm; the iteration actually lands within ~2e-9


@pytest.mark.parametrize(("src", "dst"), [("wgs84", "gcj02"), ("wgs84", "bd09"), ("gcj02", "bd09")])
def test_round_trip_array(src, dst):
    coords = np.array(IN_CHINA)
    back = geo.convert_array(geo.convert_array(coords, src, dst), dst, src)
    assert np.max(np.abs(back - coords)) < 1e-7


# --- behaviour ------------------------------------------------------------------------------------


def test_gcj_offset_in_chongqing_is_hundreds_of_metres():
    lng, lat = 106.55, 29.56  # Jiefangbei, Yuzhong district
    offset_m = geo.distance_m(lng, lat, *geo.wgs84_to_gcj02(lng, lat))
    assert 100.0 < offset_m < 1000.0
    bd_offset_m = geo.distance_m(lng, lat, *geo.wgs84_to_bd09(lng, lat))
    assert 100.0 < bd_offset_m < 2000.0


@pytest.mark.parametrize("point", OUTSIDE_CHINA)
@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_points_outside_china_are_unchanged(point, src, dst):
    assert geo.out_of_china(*point)
    assert geo.convert(*point, src, dst) == point
    assert np.array_equal(geo.convert_array(np.array([point]), src, dst), np.array([point]))


def test_out_of_china_box():
    assert not geo.out_of_china(106.55, 29.56)
    assert not geo.out_of_china(72.004, 0.8293)  # the box is closed
    assert geo.out_of_china(72.0, 30.0)
    assert geo.out_of_china(138.0, 30.0)
    assert geo.out_of_china(106.0, 0.5)
    assert geo.out_of_china(106.0, 56.0)
    assert geo.out_of_china(math.nan, 30.0)


def test_named_functions_match_convert():
    lng, lat = 106.55, 29.56
    assert geo.wgs84_to_gcj02(lng, lat) == geo.convert(lng, lat, "wgs84", "gcj02")
    assert geo.gcj02_to_wgs84(lng, lat) == geo.convert(lng, lat, "gcj02", "wgs84")
    assert geo.gcj02_to_bd09(lng, lat) == geo.convert(lng, lat, "gcj02", "bd09")
    assert geo.bd09_to_gcj02(lng, lat) == geo.convert(lng, lat, "bd09", "gcj02")
    assert geo.wgs84_to_bd09(lng, lat) == geo.convert(lng, lat, "wgs84", "bd09")
    assert geo.bd09_to_wgs84(lng, lat) == geo.convert(lng, lat, "bd09", "wgs84")


@pytest.mark.parametrize("datum", geo.DATUMS)
def test_same_datum_is_identity(datum):
    assert geo.convert(106.55, 29.56, datum, datum) == (106.55, 29.56)
    coords = np.array([[106.55, 29.56]])
    assert np.array_equal(geo.convert_array(coords, datum, datum), coords)


@pytest.mark.parametrize(
    ("src", "dst"), [("utm", "wgs84"), ("wgs84", "WGS84"), ("gcj-02", "bd09"), ("x", "x")]
)
def test_unknown_datum_raises(src, dst):
    with pytest.raises(ValueError, match="unknown datum"):
        geo.convert(106.55, 29.56, src, dst)
    with pytest.raises(ValueError, match="unknown datum"):
        geo.convert_array(np.array([[106.55, 29.56]]), src, dst)
    with pytest.raises(ValueError, match="unknown datum"):
        geo.transform_geometry(Point(106.55, 29.56), src, dst)


# --- convert_array --------------------------------------------------------------------------------


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_convert_array_equals_scalar_convert(src, dst):
    rows = [*IN_CHINA, *OUTSIDE_CHINA, (math.nan, 30.0), (math.inf, 30.0), (106.0, math.nan)]
    coords = np.array(rows)
    got = geo.convert_array(coords, src, dst)
    want = np.array([geo.convert(lng, lat, src, dst) for lng, lat in rows])
    # Same formulas and per-row stopping rule, so they agree to ~1e-13; 5e-9 leaves room for a
    # row whose residual sits on the tolerance and takes one more pass on one side.
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-9, equal_nan=True)


def test_convert_array_leaves_input_alone_and_keeps_extra_columns():
    coords = np.array([[106.55, 29.56, 250.0], [-0.1276, 51.5072, 11.0]])
    before = coords.copy()
    got = geo.convert_array(coords, "wgs84", "gcj02")
    assert np.array_equal(coords, before)
    assert got[:, 2].tolist() == [250.0, 11.0]
    assert_close(tuple(got[0, :2]), geo.wgs84_to_gcj02(106.55, 29.56), 1e-12)
    assert got[1].tolist() == before[1].tolist()


def test_convert_array_accepts_lists_and_empty_input():
    got = geo.convert_array([[106.55, 29.56]], "gcj02", "wgs84")
    assert_close(tuple(got[0]), geo.gcj02_to_wgs84(106.55, 29.56), 1e-12)
    assert geo.convert_array(np.empty((0, 2)), "bd09", "wgs84").shape == (0, 2)


@pytest.mark.parametrize("bad", [np.array([106.55, 29.56]), np.zeros((3, 1)), np.zeros((2, 2, 2))])
def test_convert_array_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match="expected an"):
        geo.convert_array(bad, "wgs84", "gcj02")


# --- shapely --------------------------------------------------------------------------------------


def test_transform_geometry_polygon():
    shell = [(106.50, 29.50), (106.60, 29.50), (106.60, 29.60), (106.50, 29.60), (106.50, 29.50)]
    hole = [(106.54, 29.54), (106.56, 29.54), (106.56, 29.56), (106.54, 29.54)]
    polygon = Polygon(shell, [hole])
    got = geo.transform_geometry(polygon, "wgs84", "gcj02")
    assert got.geom_type == "Polygon"
    assert got.is_valid
    assert len(got.interiors) == 1
    for (lng, lat), moved in zip(shell, got.exterior.coords, strict=True):
        assert_close(moved, geo.wgs84_to_gcj02(lng, lat), 1e-12)
    for (lng, lat), moved in zip(hole, got.interiors[0].coords, strict=True):
        assert_close(moved, geo.wgs84_to_gcj02(lng, lat), 1e-12)
    back = geo.transform_geometry(got, "gcj02", "wgs84")
    assert shapely.equals_exact(back, polygon, tolerance=1e-9)
    assert polygon.exterior.coords[0] == shell[0]  # input untouched


def test_transform_geometry_keeps_z_and_handles_empty():
    got = geo.transform_geometry(Point(106.55, 29.56, 250.0), "wgs84", "bd09")
    assert got.has_z
    assert got.z == 250.0
    assert_close((got.x, got.y), geo.wgs84_to_bd09(106.55, 29.56), 1e-12)
    assert geo.transform_geometry(Polygon(), "wgs84", "bd09").is_empty


# --- helpers --------------------------------------------------------------------------------------


def test_distance_m():
    one_degree = 6_371_008.8 * math.pi / 180.0
    assert geo.distance_m(106.55, 29.0, 106.55, 30.0) == pytest.approx(one_degree, rel=1e-12)
    assert geo.distance_m(0.0, 0.0, 90.0, 0.0) == pytest.approx(one_degree * 90.0, rel=1e-12)
    assert geo.distance_m(0.0, 0.0, 180.0, 0.0) == pytest.approx(one_degree * 180.0, rel=1e-12)
    assert geo.distance_m(106.55, 29.56, 106.55, 29.56) == 0.0
    a, b = (106.55, 29.56), (121.47, 31.23)
    assert geo.distance_m(*a, *b) == pytest.approx(geo.distance_m(*b, *a), rel=1e-15)


@pytest.mark.parametrize(
    ("lng", "lat"), [(106.55, 29.56), (-180.0, -90.0), (180.0, 90.0), (0.0, 0.0), (-0.1, 51.5)]
)
def test_check_lng_lat_accepts(lng, lat):
    geo.check_lng_lat(lng, lat)


@pytest.mark.parametrize(
    ("lng", "lat"),
    [
        (180.0001, 0.0),
        (-181.0, 0.0),
        (0.0, 90.5),
        (0.0, -91.0),
        (math.nan, 29.56),
        (106.55, math.nan),
        (math.inf, 0.0),
        (0.0, -math.inf),
        (29.56, 106.55),  # swapped (lat, lng): latitude out of range
    ],
)
def test_check_lng_lat_rejects(lng, lat):
    with pytest.raises(ValueError, match=r"finite|outside"):
        geo.check_lng_lat(lng, lat)


def test_public_constants():
    assert geo.DATUMS == ("wgs84", "gcj02", "bd09")
    assert set(geo.__all__) >= {"convert", "convert_array", "transform_geometry", "Datum"}
