"""Conversions between China's coordinate datums (WGS-84, GCJ-02, BD-09); always (lng, lat)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DATUMS",
    "EARTH_MEAN_RADIUS_M",
    "Datum",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_lng_lat",
    "convert",
    "convert_array",
    "distance_m",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

Datum = Literal["wgs84", "gcj02", "bd09"]
DATUMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

EARTH_MEAN_RADIUS_M = 6_371_008.8  # IUGG mean radius R1

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

# Inverses: fixed-point iteration until the round-trip residual is below _INVERSE_TOL degrees.
# The forward maps are contractions (Jacobian of the perturbation <= ~0.02), so the final
# correction leaves an error below 0.02 * _INVERSE_TOL = 2e-10 degrees (0.02 mm); that takes
# 2-3 steps after the classic one-step approximation.
_INVERSE_TOL = 1e-8
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


def _bd_to_gcj_approx(lng: float, lat: float) -> _Pair:
    # Baidu's published one-step inverse. It evaluates the perturbation at the BD-09 point
    # instead of the unknown GCJ-02 one and is off by up to ~1 m: only a starting value.
    x = lng - _BD_DLNG
    y = lat - _BD_DLAT
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _BD_X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _BD_X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def _solve(forward: Callable[[float, float], _Pair], lng: float, lat: float, start: _Pair) -> _Pair:
    """Find w with forward(w) == (lng, lat) by fixed-point iteration from `start`."""
    w_lng, w_lat = start
    for _ in range(_INVERSE_MAX_ITER):
        f_lng, f_lat = forward(w_lng, w_lat)
        r_lng = f_lng - lng
        r_lat = f_lat - lat
        w_lng -= r_lng
        w_lat -= r_lat
        if abs(r_lng) <= _INVERSE_TOL and abs(r_lat) <= _INVERSE_TOL:
            break
    return w_lng, w_lat


def _gcj_to_wgs(lng: float, lat: float) -> _Pair:
    # Starting at the GCJ point makes the first step the classic one-step approximation.
    return _solve(_wgs_to_gcj, lng, lat, (lng, lat))


def _bd_to_gcj(lng: float, lat: float) -> _Pair:
    return _solve(_gcj_to_bd, lng, lat, _bd_to_gcj_approx(lng, lat))


def _wgs_to_bd(lng: float, lat: float) -> _Pair:
    return _gcj_to_bd(*_wgs_to_gcj(lng, lat))


def _bd_to_wgs(lng: float, lat: float) -> _Pair:
    return _gcj_to_wgs(*_bd_to_gcj(lng, lat))


# --- vectorised implementation: same maths, arranged for numpy speed -----------------------------
# libm sin/cos cost ~25 ns per float64 element, ten times the rest of the formula, so the array
# versions avoid them wherever an exact identity allows. tests/core/test_geo.py checks them
# against the scalar transcription above.


def _phasor(angle: NDArray[np.float64]) -> NDArray[np.complex128]:
    """exp(i * angle), written straight into a complex array (faster than np.exp)."""
    z = np.empty(angle.shape, dtype=np.complex128)
    np.cos(angle, out=z.real)
    np.sin(angle, out=z.imag)
    return z


_PHASOR_35_DEG = complex(math.cos(math.radians(35.0)), math.sin(math.radians(35.0)))


def _gcj_offset_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    x = lng - 105.0
    y = lat - 35.0
    # Every angle in the formula is an integer multiple of pi*x/60 or of pi*y/180 (the latitude
    # itself is pi*y/180 + 35 degrees), so one complex phasor per axis raised to integer powers
    # replaces twelve sin/cos calls. The products add < 1e-13 relative error, i.e. < 1e-16 deg.
    a1 = _phasor(x * (math.pi / 60.0))
    a2 = a1 * a1  # pi x / 30
    a5 = a2 * a2 * a1  # pi x / 12
    a20 = a5 * a5
    a20 *= a20  # pi x / 3
    a60 = a20 * a20 * a20  # pi x
    a120 = a60 * a60  # 2 pi x
    a360 = a120 * a120 * a120  # 6 pi x
    b1 = _phasor(y * (math.pi / 180.0))
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
    d_lng, d_lat = _gcj_offset_array(lng, lat)
    return lng + d_lng, lat + d_lat


def _rotate_scale(
    x: NDArray[np.float64], y: NDArray[np.float64], z: NDArray[np.float64], eps: NDArray[np.float64]
) -> _ArrayPair:
    """(z cos(t + eps), z sin(t + eps)) with t = atan2(y, x), without atan2/cos/sin.

    cos t and sin t are x/r and y/r; |eps| <= 3e-6 rad, so the truncated series for cos eps and
    sin eps are exact to 1e-22, far below float64 resolution of the result.
    """
    cos_eps = 1.0 - 0.5 * eps * eps
    sin_eps = eps - eps * eps * eps / 6.0
    k = z / np.hypot(x, y)
    return k * (x * cos_eps - y * sin_eps), k * (y * cos_eps + x * sin_eps)


def _gcj_to_bd_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    z = np.hypot(lng, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    eps = 0.000003 * np.cos(lng * _BD_X_PI)
    bd_lng, bd_lat = _rotate_scale(lng, lat, z, eps)
    return bd_lng + _BD_DLNG, bd_lat + _BD_DLAT


def _bd_to_gcj_approx_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    x = lng - _BD_DLNG
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    eps = -0.000003 * np.cos(x * _BD_X_PI)
    return _rotate_scale(x, y, z, eps)


def _solve_array(
    forward: Callable[[NDArray[np.float64], NDArray[np.float64]], _ArrayPair],
    lng: NDArray[np.float64],
    lat: NDArray[np.float64],
    start: _ArrayPair,
) -> _ArrayPair:
    """Row-wise version of _solve: same stopping rule per row, converged rows drop out."""
    w_lng, w_lat = (np.array(a, dtype=np.float64) for a in start)  # owned, written in place
    active = np.arange(lng.shape[0])
    for _ in range(_INVERSE_MAX_ITER):
        a_lng = w_lng[active]
        a_lat = w_lat[active]
        f_lng, f_lat = forward(a_lng, a_lat)
        r_lng = f_lng - lng[active]
        r_lat = f_lat - lat[active]
        w_lng[active] = a_lng - r_lng
        w_lat[active] = a_lat - r_lat
        busy = (np.abs(r_lng) > _INVERSE_TOL) | (np.abs(r_lat) > _INVERSE_TOL)
        active = active[busy]
        if active.size == 0:
            break
    return w_lng, w_lat


def _gcj_to_wgs_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    return _solve_array(_wgs_to_gcj_array, lng, lat, (lng, lat))


def _bd_to_gcj_array(lng: NDArray[np.float64], lat: NDArray[np.float64]) -> _ArrayPair:
    return _solve_array(_gcj_to_bd_array, lng, lat, _bd_to_gcj_approx_array(lng, lat))


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
    """AMap/Tencent (GCJ-02) to WGS-84, solved iteratively (round trip < 1e-8 degrees)."""
    return _apply(_gcj_to_wgs, lng, lat)


def gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """AMap/Tencent (GCJ-02) to Baidu (BD-09)."""
    return _apply(_gcj_to_bd, lng, lat)


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Baidu (BD-09) to GCJ-02, solved iteratively (round trip < 1e-8 degrees)."""
    return _apply(_bd_to_gcj, lng, lat)


def wgs84_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """WGS-84 to Baidu (BD-09), via GCJ-02."""
    return _apply(_wgs_to_bd, lng, lat)


def bd09_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """Baidu (BD-09) to WGS-84 via GCJ-02, solved iteratively (round trip < 1e-8 degrees)."""
    return _apply(_bd_to_wgs, lng, lat)


def convert(lng: float, lat: float, src: Datum, dst: Datum) -> tuple[float, float]:
    """Convert one point between any two datums; ValueError for an unknown datum."""
    steps = _steps_for(src, dst)
    if steps is None:
        return float(lng), float(lat)
    return _apply(steps[0], lng, lat)


# Rows per batch: keeps the ~20 complex temporaries of a GCJ evaluation inside the L2 cache.
_CHUNK_ROWS = 8192


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


def transform_geometry(geom: Any, src: Datum, dst: Datum) -> Any:
    """Convert every vertex of a shapely geometry (or array of geometries); z is kept."""
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


def check_lng_lat(lng: float, lat: float) -> None:
    """Raise ValueError unless lng is in [-180, 180] and lat in [-90, 90] (NaN/inf rejected)."""
    if not (math.isfinite(lng) and math.isfinite(lat)):
        raise ValueError(f"coordinates must be finite numbers, got lng={lng!r}, lat={lat!r}")
    if not -180.0 <= lng <= 180.0:
        raise ValueError(f"longitude {lng!r} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat!r} is outside [-90, 90]")
