"""Conversions between China's coordinate datums (WGS-84, GCJ-02, BD-09); always (lng, lat)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, TypeGuard

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from grid_backend.core.types import Datum

__all__ = [
    "DATUMS",
    "EARTH_MEAN_RADIUS_M",
    "METRES_PER_DEGREE",
    "Box",
    "Datum",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_lng_lat",
    "convert",
    "convert_array",
    "degree_box",
    "distance_m",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "is_datum",
    "out_of_china",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

DATUMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

EARTH_MEAN_RADIUS_M = 6_371_008.8  # IUGG mean radius R1
METRES_PER_DEGREE = 111_320.0  # of latitude, near enough for search boxes

# The published GCJ-02 algorithm is defined on the Krasovsky 1940 ellipsoid; "fixing" these to
# WGS-84 values (as some ports do) shifts every result by about 1 cm.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_DLNG = 0.0065
_BD_DLAT = 0.006

# The rough bounding box every public GCJ-02 implementation uses; outside it the offset is not
# applied, so conversions must return such points unchanged to agree with AMap/Baidu.
_CHINA_LNG_MIN, _CHINA_LNG_MAX = 72.004, 137.8347
_CHINA_LAT_MIN, _CHINA_LAT_MAX = 0.8293, 55.8271

# Inverses iterate until the last correction is below _INVERSE_TOL degrees (1 cm). The nudges
# being undone change by at most 0.0075 (GCJ-02) and 0.022 (BD-09) degrees per degree over the
# whole box, so the result is then within 0.022 * _INVERSE_TOL ~ 2e-9 degrees (0.2 mm) of the
# exact inverse. That takes three passes.
_INVERSE_TOL = 1e-7
_INVERSE_MAX_ITER = 20

_Pair = tuple[float, float]
_ArrayPair = tuple[NDArray[np.float64], NDArray[np.float64]]


def out_of_china(lng: float, lat: float) -> bool:
    """True outside the rough China bounding box (also for NaN): there GCJ-02 equals WGS-84."""
    inside = _CHINA_LNG_MIN <= lng <= _CHINA_LNG_MAX and _CHINA_LAT_MIN <= lat <= _CHINA_LAT_MAX
    return not inside


# --- scalar implementation: a direct transcription of the published formulas --------------------


def _gcj_offset(lng: float, lat: float) -> _Pair:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees."""
    x = lng - 105.0
    y = lat - 35.0
    x_pi = x * math.pi
    y_pi = y * math.pi
    shared = 20.0 * math.sin(6.0 * x_pi) + 20.0 * math.sin(2.0 * x_pi)
    d_lat = (
        shared
        + 20.0 * math.sin(y_pi)
        + 40.0 * math.sin(y_pi / 3.0)
        + 160.0 * math.sin(y_pi / 12.0)
        + 320.0 * math.sin(y_pi / 30.0)
    ) * (2.0 / 3.0)
    d_lng = (
        shared
        + 20.0 * math.sin(x_pi)
        + 40.0 * math.sin(x_pi / 3.0)
        + 150.0 * math.sin(x_pi / 12.0)
        + 300.0 * math.sin(x_pi / 30.0)
    ) * (2.0 / 3.0)
    sqrt_abs_x = math.sqrt(abs(x))
    d_lat += -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    d_lng += 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x

    # The polynomial is in metres: divide by the Krasovsky radii of curvature for degrees.
    rad_lat = math.radians(lat)
    sin_lat = math.sin(rad_lat)
    magic = 1.0 - _KRASOVSKY_EE * sin_lat * sin_lat
    sqrt_magic = math.sqrt(magic)
    meridian = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (magic * sqrt_magic)
    parallel = _KRASOVSKY_A / sqrt_magic * math.cos(rad_lat)
    return d_lng * 180.0 / (parallel * math.pi), d_lat * 180.0 / (meridian * math.pi)


def _wgs_to_gcj(lng: float, lat: float) -> _Pair:
    d_lng, d_lat = _gcj_offset(lng, lat)
    return lng + d_lng, lat + d_lat


def _gcj_to_bd(lng: float, lat: float) -> _Pair:
    z = math.hypot(lng, lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _BD_X_PI)
    return z * math.cos(theta) + _BD_DLNG, z * math.sin(theta) + _BD_DLAT


def _gcj_to_wgs(lng: float, lat: float) -> _Pair:
    # Solve wgs + offset(wgs) == gcj by fixed-point iteration; the offset's slope is < 0.0075,
    # so each pass gains > 2 digits. Starting at the GCJ point makes the first pass the classic
    # one-step approximation (off by up to ~5 m).
    w_lng, w_lat = lng, lat
    for _ in range(_INVERSE_MAX_ITER):
        f_lng, f_lat = _wgs_to_gcj(w_lng, w_lat)
        r_lng = f_lng - lng  # round-trip error of the current estimate
        r_lat = f_lat - lat
        w_lng -= r_lng
        w_lat -= r_lat
        if abs(r_lng) <= _INVERSE_TOL and abs(r_lat) <= _INVERSE_TOL:
            break
    return w_lng, w_lat


def _bd_to_gcj(lng: float, lat: float) -> _Pair:
    # BD-09 is GCJ-02 in polar form with the radius and angle nudged by terms that depend on the
    # unknown GCJ point, then shifted. Undo the shift and iterate on the nudge (slope < 0.022);
    # the first pass is Baidu's published one-step inverse (off by up to ~0.2 m).
    x = lng - _BD_DLNG
    y = lat - _BD_DLAT
    r = math.hypot(x, y)
    theta = math.atan2(y, x)
    g_lng, g_lat = x, y
    for _ in range(_INVERSE_MAX_ITER):
        z = r - 0.00002 * math.sin(g_lat * _BD_X_PI)
        t = theta - 0.000003 * math.cos(g_lng * _BD_X_PI)
        new_lng, new_lat = z * math.cos(t), z * math.sin(t)
        step = max(abs(new_lng - g_lng), abs(new_lat - g_lat))
        g_lng, g_lat = new_lng, new_lat
        if step <= _INVERSE_TOL:
            break
    return g_lng, g_lat


def _wgs_to_bd(lng: float, lat: float) -> _Pair:
    return _gcj_to_bd(*_wgs_to_gcj(lng, lat))


def _bd_to_wgs(lng: float, lat: float) -> _Pair:
    return _gcj_to_wgs(*_bd_to_gcj(lng, lat))


# --- vectorised implementation: same maths, arranged for numpy speed -----------------------------
# numpy's float64 sin/cos cost 10-25 ns per element, far more than the arithmetic around them,
# so the array versions avoid them wherever an exact identity allows. tests/core/test_geo.py
# checks them against the scalar transcription above (they agree to ~1e-13 degrees).


def _phasor(angle: NDArray[np.float64]) -> NDArray[np.complex128]:
    """exp(i * angle), written straight into a complex array (faster than np.exp)."""
    z = np.empty(angle.shape, dtype=np.complex128)
    np.cos(angle, out=z.real)
    np.sin(angle, out=z.imag)
    return z


def _turn(phasor: NDArray[np.complex128], delta: NDArray[np.float64]) -> NDArray[np.complex128]:
    """phasor * exp(i * delta) for small |delta| (< 0.02 rad), by series instead of libm.

    The dropped terms are below delta**6 / 720: 1e-13 at 0.02 rad, 1e-21 at the usual 1e-3.
    """
    d2 = delta * delta
    rotation = np.empty(delta.shape, dtype=np.complex128)
    rotation.real = 1.0 - d2 * (0.5 - d2 / 24.0)
    rotation.imag = delta * (1.0 - d2 * (1.0 / 6.0 - d2 / 120.0))
    return phasor * rotation


# Every angle in the GCJ-02 formula is an integer multiple of pi*x/60 or of pi*y/180, with
# x = lng - 105 and y = lat - 35 (the latitude itself is pi*y/180 + 35 degrees). One complex
# phasor per axis, raised to integer powers, replaces twelve sin/cos calls; the products add
# < 1e-13 relative error, i.e. < 1e-16 degrees in the offset.
_X_ANGLE = math.pi / 60.0
_Y_ANGLE = math.pi / 180.0
_PHASOR_35_DEG = complex(math.cos(math.radians(35.0)), math.sin(math.radians(35.0)))


def _gcj_offset_array(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    a1: NDArray[np.complex128],
    b1: NDArray[np.complex128],
) -> _ArrayPair:
    """_gcj_offset from x = lng - 105, y = lat - 35 and their phasors a1 and b1."""
    a2 = a1 * a1  # pi x / 30
    a5 = a2 * a2 * a1  # pi x / 12
    a20 = a5 * a5
    a20 *= a20  # pi x / 3
    a60 = a20 * a20 * a20  # pi x
    a120 = a60 * a60  # 2 pi x
    a360 = a120 * a120 * a120  # 6 pi x
    b3 = b1 * b1 * b1
    b6 = b3 * b3  # pi y / 30
    b15 = b6 * b6 * b3  # pi y / 12
    b60 = b15 * b15
    b60 *= b60  # pi y / 3
    b180 = b60 * b60 * b60  # pi y
    lat_phasor = b1 * _PHASOR_35_DEG  # exp(i * latitude in radians)

    shared = 20.0 * a360.imag + 20.0 * a120.imag
    d_lat = (shared + 20.0 * b180.imag + 40.0 * b60.imag + 160.0 * b15.imag + 320.0 * b6.imag) * (
        2.0 / 3.0
    )
    d_lng = (shared + 20.0 * a60.imag + 40.0 * a20.imag + 150.0 * a5.imag + 300.0 * a2.imag) * (
        2.0 / 3.0
    )
    sqrt_abs_x = np.sqrt(np.abs(x))
    xy = x * y
    d_lat += -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * xy + 0.2 * sqrt_abs_x
    d_lng += 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * xy + 0.1 * sqrt_abs_x

    sin_lat = lat_phasor.imag
    magic = 1.0 - _KRASOVSKY_EE * sin_lat * sin_lat
    sqrt_magic = np.sqrt(magic)
    d_lat *= magic * sqrt_magic * (180.0 / (math.pi * _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)))
    d_lng *= sqrt_magic / lat_phasor.real * (180.0 / (math.pi * _KRASOVSKY_A))
    return d_lng, d_lat


def _wgs_to_gcj_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    x = lng - 105.0
    y = lat - 35.0
    d_lng, d_lat = _gcj_offset_array(x, y, _phasor(x * _X_ANGLE), _phasor(y * _Y_ANGLE))
    return lng + d_lng, lat + d_lat


_Rows = slice | NDArray[np.intp]


def _narrow(rows: _Rows, busy: NDArray[np.bool_]) -> _Rows | None:
    """The rows still iterating, None once all converged; a slice (views, no copies) while all are."""
    if busy.all():
        return rows
    if not busy.any():
        return None
    if isinstance(rows, slice):
        return np.flatnonzero(busy)
    return rows[busy]


def _gcj_to_wgs_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    """Row-wise version of _gcj_to_wgs: same passes and stopping rule per row."""
    # Every estimate stays within the offset (< 0.02 deg) of the GCJ point, so the phasors are
    # computed there once and turned to each new estimate by _turn: no libm in later passes.
    a0 = _phasor((lng - 105.0) * _X_ANGLE)
    b0 = _phasor((lat - 35.0) * _Y_ANGLE)
    a1, b1 = a0, b0  # the first estimate is the GCJ point itself
    w_lng = lng.copy()
    w_lat = lat.copy()
    rows: _Rows = slice(None)
    for _ in range(_INVERSE_MAX_ITER):
        e_lng = w_lng[rows]
        e_lat = w_lat[rows]
        d_lng, d_lat = _gcj_offset_array(e_lng - 105.0, e_lat - 35.0, a1, b1)
        r_lng = e_lng + d_lng - lng[rows]  # round-trip error of the current estimate
        r_lat = e_lat + d_lat - lat[rows]
        w_lng[rows] = e_lng - r_lng
        w_lat[rows] = e_lat - r_lat
        still = _narrow(rows, (np.abs(r_lng) > _INVERSE_TOL) | (np.abs(r_lat) > _INVERSE_TOL))
        if still is None:
            break
        rows = still
        a1 = _turn(a0[rows], (w_lng[rows] - lng[rows]) * _X_ANGLE)
        b1 = _turn(b0[rows], (w_lat[rows] - lat[rows]) * _Y_ANGLE)
    return w_lng, w_lat


def _rotate_scale(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    k: NDArray[np.float64],
    eps: NDArray[np.float64],
) -> _ArrayPair:
    """(x, y) rotated by eps radians and scaled by k, without atan2/cos/sin.

    |eps| <= 3e-6 rad, so the truncated series for cos eps and sin eps are exact to 1e-22.
    """
    cos_eps = 1.0 - 0.5 * eps * eps
    sin_eps = eps - eps * eps * eps / 6.0
    return k * (x * cos_eps - y * sin_eps), k * (y * cos_eps + x * sin_eps)


def _gcj_to_bd_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    r = np.hypot(lng, lat)
    k = (r + 0.00002 * np.sin(lat * _BD_X_PI)) / r
    eps = 0.000003 * np.cos(lng * _BD_X_PI)
    bd_lng, bd_lat = _rotate_scale(lng, lat, k, eps)
    return bd_lng + _BD_DLNG, bd_lat + _BD_DLAT


def _bd_to_gcj_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    """Row-wise version of _bd_to_gcj: same passes and stopping rule per row."""
    x = lng - _BD_DLNG
    y = lat - _BD_DLAT
    r = np.hypot(x, y)
    g_lng = x.copy()
    g_lat = y.copy()
    rows: _Rows = slice(None)
    for _ in range(_INVERSE_MAX_ITER):
        e_lng = g_lng[rows]
        e_lat = g_lat[rows]
        row_r = r[rows]
        k = (row_r - 0.00002 * np.sin(e_lat * _BD_X_PI)) / row_r
        eps = -0.000003 * np.cos(e_lng * _BD_X_PI)
        new_lng, new_lat = _rotate_scale(x[rows], y[rows], k, eps)
        busy = (np.abs(new_lng - e_lng) > _INVERSE_TOL) | (np.abs(new_lat - e_lat) > _INVERSE_TOL)
        g_lng[rows] = new_lng
        g_lat[rows] = new_lat
        still = _narrow(rows, busy)
        if still is None:
            break
        rows = still
    return g_lng, g_lat


def _wgs_to_bd_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    return _gcj_to_bd_array(*_wgs_to_gcj_array(lng, lat))


def _bd_to_wgs_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    return _gcj_to_wgs_array(*_bd_to_gcj_array(lng, lat))


_ScalarStep = Callable[[float, float], _Pair]
_ArrayStep = Callable[[NDArray[np.float64], NDArray[np.float64]], _ArrayPair]

_STEPS: dict[tuple[str, str], tuple[_ScalarStep, _ArrayStep]] = {
    ("wgs84", "gcj02"): (_wgs_to_gcj, _wgs_to_gcj_array),
    ("gcj02", "wgs84"): (_gcj_to_wgs, _gcj_to_wgs_array),
    ("gcj02", "bd09"): (_gcj_to_bd, _gcj_to_bd_array),
    ("bd09", "gcj02"): (_bd_to_gcj, _bd_to_gcj_array),
    ("wgs84", "bd09"): (_wgs_to_bd, _wgs_to_bd_array),
    ("bd09", "wgs84"): (_bd_to_wgs, _bd_to_wgs_array),
}


def is_datum(name: object) -> TypeGuard[Datum]:
    """Whether this is one of the datums (narrows a checked string for the type checker)."""
    return name in DATUMS


def _steps_for(src: str, dst: str) -> tuple[_ScalarStep, _ArrayStep] | None:
    """The formulas for src -> dst, None for the identity; ValueError for an unknown datum."""
    for name in (src, dst):
        if name not in DATUMS:
            raise ValueError(f"unknown datum {name!r}; expected one of {', '.join(DATUMS)}")
    if src == dst:
        return None
    return _STEPS[(src, dst)]


# --- public API ----------------------------------------------------------------------------------


def _apply(step: _ScalarStep, lng: float, lat: float) -> tuple[float, float]:
    # Only the input is tested against the box, like the published algorithm (and AMap/Baidu).
    if out_of_china(lng, lat):
        return float(lng), float(lat)
    return step(float(lng), float(lat))


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """GPS/EXIF (WGS-84) to AMap/Tencent (GCJ-02)."""
    return _apply(_wgs_to_gcj, lng, lat)


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """AMap/Tencent (GCJ-02) to WGS-84, solved iteratively to ~2e-9 degrees (0.2 mm)."""
    return _apply(_gcj_to_wgs, lng, lat)


def gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """AMap/Tencent (GCJ-02) to Baidu (BD-09)."""
    return _apply(_gcj_to_bd, lng, lat)


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Baidu (BD-09) to GCJ-02, solved iteratively to ~2e-9 degrees (0.2 mm)."""
    return _apply(_bd_to_gcj, lng, lat)


def wgs84_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """WGS-84 to Baidu (BD-09), via GCJ-02."""
    return _apply(_wgs_to_bd, lng, lat)


def bd09_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """Baidu (BD-09) to WGS-84 via GCJ-02, solved iteratively to ~2e-9 degrees (0.2 mm)."""
    return _apply(_bd_to_wgs, lng, lat)


def convert(lng: float, lat: float, src: Datum, dst: Datum) -> tuple[float, float]:
    """Convert one point between any two datums; ValueError for an unknown datum."""
    steps = _steps_for(src, dst)
    if steps is None:
        return float(lng), float(lat)
    return _apply(steps[0], lng, lat)


# Rows per batch: keeps the ~20 complex temporaries of a GCJ evaluation inside the L2 cache and
# spares the allocator from page-faulting in fresh megabytes for each of them.
_CHUNK_ROWS = 4096


def convert_array(coords: ArrayLike, src: Datum, dst: Datum) -> NDArray[np.float64]:
    """Convert an (N, 2) array of lng, lat rows into a new array; extra columns (z) pass through.

    Rows outside China (and rows with NaN) are returned unchanged, like the scalar functions.
    """
    steps = _steps_for(src, dst)
    out = np.array(coords, dtype=np.float64)  # always a copy: the caller's array is not touched
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(f"expected an (N, 2) array of lng, lat rows; got shape {out.shape}")
    if steps is None:
        return out
    step = steps[1]

    lng_all = out[:, 0]
    lat_all = out[:, 1]
    # Comparisons with NaN are False, so NaN rows count as outside; inf is outside the box too.
    inside = (
        (lng_all >= _CHINA_LNG_MIN)
        & (lng_all <= _CHINA_LNG_MAX)
        & (lat_all >= _CHINA_LAT_MIN)
        & (lat_all <= _CHINA_LAT_MAX)
    )
    lng = lng_all[inside]  # contiguous copies: strided columns would halve numpy's speed
    lat = lat_all[inside]
    new_lng = np.empty_like(lng)
    new_lat = np.empty_like(lat)
    for start in range(0, lng.shape[0], _CHUNK_ROWS):
        part = slice(start, start + _CHUNK_ROWS)
        new_lng[part], new_lat[part] = step(lng[part], lat[part])
    out[inside, 0] = new_lng
    out[inside, 1] = new_lat
    return out


def transform_geometry(geom: shapely.Geometry, src: Datum, dst: Datum) -> shapely.Geometry:
    """Convert every vertex of a shapely geometry; z coordinates are kept."""
    _steps_for(src, dst)  # fail on a bad datum even when the geometry is empty
    # include_z=None keeps 3D geometries 3D; convert_array passes the z column through.
    return shapely.transform(geom, lambda a: convert_array(a, src, dst), include_z=None)


def distance_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine on the IUGG mean-radius sphere)."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    h = (
        math.sin((phi2 - phi1) / 2.0) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lng2 - lng1) / 2.0) ** 2
    )
    # min() keeps asin defined when rounding pushes h a hair above 1 for antipodal points.
    return 2.0 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class Box(NamedTuple):
    """A latitude/longitude box in degrees."""

    lat_min: float
    lat_max: float
    lng_min: float
    lng_max: float


def degree_box(lat: float, lng: float, metres: float) -> Box:
    """The box that holds every point within `metres` of (lat, lng): a cheap first filter before
    an exact distance. Degrees of longitude shrink with latitude, so the box is never too small
    (capped near the poles)."""
    dlat = metres / METRES_PER_DEGREE
    dlng = metres / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    return Box(lat - dlat, lat + dlat, lng - dlng, lng + dlng)


def check_lng_lat(lng: float, lat: float) -> None:
    """Raise ValueError unless lng is in [-180, 180] and lat in [-90, 90] (NaN/inf rejected)."""
    if not (math.isfinite(lng) and math.isfinite(lat)):
        raise ValueError(f"coordinates must be finite numbers, got lng={lng!r}, lat={lat!r}")
    if not -180.0 <= lng <= 180.0:
        raise ValueError(f"longitude {lng!r} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat!r} is outside [-90, 90]")
