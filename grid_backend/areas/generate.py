"""Synthetic area trees and risk points inside Chongqing's real district boundaries (no DB)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from grid_backend.core.geo import transform_geometry

DISTRICTS_PATH = Path(__file__).parents[2] / "seeds" / "chongqing_districts.geojson"

Geometry = Any  # shapely Polygon | MultiPolygon, WGS-84

YUZHONG = "500103"
# The real sub-districts of 渝中区 with a rough GCJ-02 position of each, west to east, so the
# generated townships sit roughly where the real ones are (their boundaries are still invented).
YUZHONG_TOWNSHIPS = {
    "七星岗街道": (106.560, 29.556),
    "解放碑街道": (106.575, 29.553),
    "两路口街道": (106.533, 29.549),
    "上清寺街道": (106.545, 29.559),
    "菜园坝街道": (106.548, 29.545),
    "南纪门街道": (106.563, 29.546),
    "朝天门街道": (106.584, 29.562),
    "大溪沟街道": (106.553, 29.565),
    "大坪街道": (106.512, 29.543),
    "化龙桥街道": (106.500, 29.551),
    "石油路街道": (106.522, 29.533),
}

RISK_TYPES = (
    "landslide",
    "flood_underpass",
    "gas_station",
    "hazardous_chemicals",
    "construction_site",
    "old_building",
)
RISK_LEVELS = ("low", "medium", "high", "major")

_PLACE_HEAD = "石黄龙青白金新大小上东西南马花柳杨桂枣桃沙鹅凤望双三九高长平安兴和福康宝华红玉李"
_PLACE_TAIL = "坪湾坝岗桥口溪沟园街门岭塘堡垭林院坡嘴台湖山池场"
_SURNAMES = "王李张刘陈杨黄赵周吴徐孙马胡朱郭何罗高林谭唐冉向秦蒋邓"
_GIVEN = "建国华明丽芳军平勇静敏强伟玲红英云霞波涛洪兵琼燕志德春秀"
_DIGITS = "零一二三四五六七八九"
_DEDICATED = ("小学", "中学", "医院", "商圈", "轨道站", "农贸市场")
# Per type: name pattern ({p} = place name) and the range of threatened households.
_RISK_KINDS = {
    "landslide": ("{p}边坡滑坡隐患点", (5, 120)),
    "flood_underpass": ("{p}下穿道易涝点", (0, 30)),
    "gas_station": ("中石化{p}加油站", (10, 200)),
    "hazardous_chemicals": ("{p}液化气供应站", (20, 300)),
    "construction_site": ("{p}片区城市更新项目工地", (5, 80)),
    "old_building": ("{p}老旧楼栋", (8, 60)),
}
_CODE_WIDTH = {"township": 3, "community": 3, "grid": 3, "micro_grid": 2}


@dataclass(frozen=True, slots=True)
class GeneratedArea:
    """One node of the area tree with its WGS-84 boundary."""

    code: str
    name: str
    level: str  # city|district|township|community|grid|micro_grid
    parent_code: str | None
    geometry: Geometry
    households: int
    population: int
    kind: str = "comprehensive"  # or "dedicated"


@dataclass(frozen=True, slots=True)
class GeneratedRiskPoint:
    """A watched place inside a grid; position in WGS-84."""

    code: str
    name: str
    type: str  # one of RISK_TYPES
    risk_level: str  # one of RISK_LEVELS
    lng: float
    lat: float
    grid_code: str
    threatened_households: int
    contacts: list[dict]  # [{"name": ..., "role": ..., "phone": ...}]


@dataclass(slots=True)
class _Level:
    """One generated level: geometries grouped by parent (owner = index in the level above)."""

    level: str
    geoms: np.ndarray
    owner: np.ndarray
    names: list[str]
    kinds: list[str] | None = None  # None: all comprehensive


def load_districts(path: Path | str | None = None) -> list[tuple[str, str, str, Geometry]]:
    """(adcode, name, level, WGS-84 geometry) of the city and its districts, city first."""
    return list(_load_districts(str(path or DISTRICTS_PATH)))


@cache
def _load_districts(path: str) -> tuple[tuple[str, str, str, Geometry], ...]:
    features = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
    rows = []
    for feature in features:
        props = feature["properties"]
        geom = transform_geometry(shape(feature["geometry"]), "gcj02", "wgs84")
        if not geom.is_valid:
            geom = _polygonal(np.array([shapely.make_valid(geom)]))[0]
        rows.append((props["adcode"], props["name"], props["level"], geom))
    rows.sort(key=lambda row: (row[2] != "city", row[0]))
    return tuple(rows)


def generate_demo(seed: int = 141) -> tuple[list[GeneratedArea], list[GeneratedRiskPoint]]:
    """The city and 渝中区 with its 11 real sub-districts, generated below, plus risk points."""
    rng = np.random.default_rng(seed)
    districts = load_districts()
    city, district = districts[0], next(d for d in districts if d[0] == YUZHONG)

    anchors = shapely.points(list(YUZHONG_TOWNSHIPS.values()))
    anchors = shapely.get_coordinates(transform_geometry(anchors, "gcj02", "wgs84"))
    t_geoms, t_owner = _partition(np.array([district[3]]), [len(anchors)], rng, seeds=anchors)
    townships = _Level("township", t_geoms, t_owner, list(YUZHONG_TOWNSHIPS))
    communities = _communities(townships, rng.integers(3, 6, len(t_geoms)), rng, suffix="社区")
    grids = _grids(communities, rng.integers(4, 7, len(communities.geoms)), rng)
    areas = _tree(district, [townships, communities, grids], *_residents(len(grids.geoms), rng))
    grid_areas = [a for a in areas if a.level == "grid"]
    areas += _micro_grids(grid_areas, rng)
    root = areas[0]  # the demo city holds only 渝中区, so it has 渝中区's residents
    city_area = GeneratedArea(
        city[0], city[1], "city", None, city[3], root.households, root.population
    )
    areas = [city_area, replace(root, parent_code=city[0]), *areas[1:]]
    return areas, _risk_points(grid_areas, communities.names, grids.owner, rng)


def generate_city(
    grids: int = 62_000,
    seed: int = 141,
    progress: Callable[[int, int], None] | None = None,
) -> list[GeneratedArea]:
    """The city, its 38 real districts and exactly `grids` grids with townships and communities."""
    rng = np.random.default_rng(seed)
    (city_code, city_name, _, city_geom), *districts = load_districts()
    if grids < len(districts):
        raise ValueError(f"need at least one grid per district ({len(districts)})")
    # Allocation by land area, each level at least one per parent (so township <= community
    # <= grid counts hold per district); lat/lng degree² is a fine proxy at Chongqing's latitude.
    weight = shapely.area(np.array([d[3] for d in districts]))
    n_townships = _apportion(max(len(districts), round(grids / 60)), weight)
    n_communities = min(grids, max(n_townships.sum(), round(grids / 5.6)))
    n_communities = _apportion(n_communities, weight, n_townships)
    n_grids = _apportion(grids, weight, n_communities)

    tops: list[GeneratedArea] = []
    below: list[GeneratedArea] = []
    for i, district in enumerate(districts):
        parent = np.array([district[3]])
        t_geoms, t_owner = _partition(parent, [n_townships[i]], rng)
        t_names = _township_names(len(t_geoms), district[0], rng)
        townships = _Level("township", t_geoms, t_owner, t_names)
        c_counts = _apportion(n_communities[i], _jittered_area(t_geoms, rng))
        communities = _communities(townships, c_counts, rng)
        grids_level = _grids(
            communities, _apportion(n_grids[i], _jittered_area(communities.geoms, rng)), rng
        )
        residents = _residents(len(grids_level.geoms), rng)
        root, *rest = _tree(district, [townships, communities, grids_level], *residents)
        tops.append(replace(root, parent_code=city_code))
        below += rest
        if progress is not None:
            progress(i + 1, len(districts))
    households = sum(a.households for a in tops)
    population = sum(a.population for a in tops)
    city = GeneratedArea(city_code, city_name, "city", None, city_geom, households, population)
    return [city, *tops, *below]


# --- geometry ------------------------------------------------------------------------------------


def _partition(
    parents: np.ndarray,
    counts: Any,
    rng: np.random.Generator,
    seeds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split parents[i] into counts[i] pieces that tile it: Voronoi cells clipped to the parent.

    Returns the pieces grouped by parent and, for each piece, the index of its parent."""
    counts = np.asarray(counts, dtype=int)
    owner = np.repeat(np.arange(len(parents)), counts)
    if seeds is None:
        seeds = _sample_inside(_main_parts(parents, counts), counts, rng)
    points = np.asarray(seeds)
    # One Lloyd step (re-seed at each cell's centre) evens out cell sizes and removes slivers
    # that two nearby random seeds would otherwise produce.
    cells = _voronoi_clip(parents, owner, points)
    return _voronoi_clip(parents, owner, _interior_centres(cells)), owner


def _main_parts(parents: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each parent without the detached bits too small for half a child (islands, clip debris).

    A seed landing in such a bit would make a tiny child; left seedless, the bit simply joins
    the nearest child's cell instead."""
    parts, index = shapely.get_parts(parents, return_index=True)
    area = shapely.area(parts)
    largest = np.zeros(len(parents))
    np.maximum.at(largest, index, area)
    big = (area >= 0.5 * shapely.area(parents)[index] / counts[index]) | (area == largest[index])
    regions = shapely.multipolygons(parts[big], indices=index[big])
    shapely.prepare(regions)
    return regions


def _sample_inside(parents: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform random (x, y) points, counts[i] of them inside parents[i], grouped by parent."""
    bounds = shapely.bounds(parents)
    lo, size = bounds[:, :2], bounds[:, 2:] - bounds[:, :2]
    fill = shapely.area(parents) / np.prod(size, axis=1)
    need, found = counts.copy(), []
    while need.any():
        # Rejection sampling in each bounding box, drawing enough that one round nearly always
        # suffices; all parents are tested in one vectorised call.
        draw = np.where(need > 0, np.ceil(need / fill * 1.5).astype(int) + 4, 0)
        owner = np.repeat(np.arange(len(parents)), draw)
        xy = lo[owner] + rng.random((len(owner), 2)) * size[owner]
        inside = shapely.contains_xy(parents[owner], xy[:, 0], xy[:, 1])
        owner, xy = owner[inside], xy[inside]
        rank = np.arange(len(owner)) - np.searchsorted(owner, owner)
        keep = rank < need[owner]
        found.append((owner[keep], xy[keep]))
        need -= np.bincount(owner[keep], minlength=len(parents))
    owner = np.concatenate([o for o, _ in found])
    return np.concatenate([xy for _, xy in found])[np.argsort(owner, kind="stable")]


def _voronoi_clip(parents: np.ndarray, owner: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Voronoi cell of each point among its parent's points, clipped to that parent."""
    cells = shapely.envelope(parents)[owner]  # a lone point gets its whole parent
    multi = np.bincount(owner, minlength=len(parents))[owner] > 1
    groups, index = np.unique(owner[multi], return_inverse=True)
    if len(groups):
        seeds = shapely.multipoints(points[multi], indices=index)
        extent = shapely.envelope(parents[groups])  # so the cells cover all of the parent
        diagram = shapely.voronoi_polygons(seeds, extend_to=extent, ordered=True)
        parts = shapely.get_parts(diagram)
        assert len(parts) == multi.sum(), "one Voronoi cell per (distinct) seed"
        cells[multi] = parts
    return _polygonal(shapely.intersection(cells, parents[owner]))


def _interior_centres(cells: np.ndarray) -> np.ndarray:
    """Centroid of each cell, or a point on its surface where the centroid falls outside it."""
    centres = shapely.centroid(cells)
    outside = ~shapely.contains(cells, centres)
    centres[outside] = shapely.point_on_surface(cells[outside])
    return shapely.get_coordinates(centres)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop the points and lines that clipping leaves where a cell only touches the parent."""
    for i in np.flatnonzero(shapely.get_type_id(geoms) == shapely.GeometryType.GEOMETRYCOLLECTION):
        parts = shapely.get_parts(geoms[i])
        geoms[i] = shapely.union_all(parts[shapely.area(parts) > 0])
    return geoms


def _jittered_area(geoms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Area with ±30% noise, so equal-sized parents don't all get the same number of children."""
    return shapely.area(geoms) * rng.uniform(0.7, 1.3, len(geoms))


def _apportion(total: int, weights: np.ndarray, minimum: Any = 1) -> np.ndarray:
    """Split total into integers >= minimum, the rest by weight (largest remainder method)."""
    base = np.broadcast_to(np.asarray(minimum, dtype=int), np.shape(weights)).copy()
    spare = int(total) - int(base.sum())
    assert spare >= 0, "total must cover the minimum"
    share = spare * np.asarray(weights, dtype=float) / np.sum(weights)
    extra = np.floor(share).astype(int)
    extra[np.argsort(extra - share, kind="stable")[: spare - extra.sum()]] += 1
    return base + extra


# --- names and tree assembly ---------------------------------------------------------------------


def _place(rng: np.random.Generator, taken: set[str]) -> str:
    """A two-character place name (石坪, 鹅岭...) not yet in taken, which it is added to."""
    while True:
        name = (
            _PLACE_HEAD[rng.integers(len(_PLACE_HEAD))]
            + _PLACE_TAIL[rng.integers(len(_PLACE_TAIL))]
        )
        if name not in taken:
            taken.add(name)
            return name


def _township_names(count: int, district_code: str, rng: np.random.Generator) -> list[str]:
    """Mostly 街道 in the main urban districts (5001xx up to 500120), mostly 镇 elsewhere."""
    urban = district_code.startswith("5001") and int(district_code[4:]) <= 20
    street_share = 0.8 if urban else 0.15
    taken: set[str] = set()
    return [
        _place(rng, taken) + ("街道" if rng.random() < street_share else "镇") for _ in range(count)
    ]


def _communities(
    townships: _Level, counts: np.ndarray, rng: np.random.Generator, suffix: str | None = None
) -> _Level:
    """Communities tiling each township: 社区 under 街道, mostly 村 under 镇 (or all suffix)."""
    geoms, owner = _partition(townships.geoms, counts, rng)
    names: list[str] = []
    for township, count in zip(townships.names, counts, strict=True):
        taken: set[str] = set()
        for _ in range(count):
            rural = suffix is None and township.endswith("镇") and rng.random() < 0.8
            names.append(_place(rng, taken) + (suffix or ("村" if rural else "社区")))
    return _Level("community", geoms, owner, names)


def _grids(communities: _Level, counts: np.ndarray, rng: np.random.Generator) -> _Level:
    """Grids tiling each community: 第一网格, 第二网格… and ~5% dedicated (专属) grids."""
    geoms, owner = _partition(communities.geoms, counts, rng)
    dedicated = rng.random(len(geoms)) < 0.05
    names, kinds, number, previous = [], [], 0, -1
    for parent, special in zip(owner, dedicated, strict=True):
        number = 0 if parent != previous else number
        previous = parent
        if special:
            place = communities.names[parent][:2]
            names.append(f"{place}{_DEDICATED[rng.integers(len(_DEDICATED))]}专属网格")
            kinds.append("dedicated")
        else:
            number += 1
            names.append(f"第{_cn_number(number)}网格")
            kinds.append("comprehensive")
    return _Level("grid", geoms, owner, names, kinds)


def _micro_grids(grids: list[GeneratedArea], rng: np.random.Generator) -> list[GeneratedArea]:
    """2–3 micro-grids in each of three random grids, splitting the grid's households."""
    chosen = sorted(rng.choice(len(grids), size=3, replace=False))
    counts = rng.integers(2, 4, len(chosen))
    geoms, owner = _partition(np.array([grids[i].geometry for i in chosen]), counts, rng)
    areas = []
    for j, (i, count) in enumerate(zip(chosen, counts, strict=True)):
        grid, weights = grids[i], rng.uniform(0.7, 1.3, count)
        households = _apportion(grid.households, weights)
        population = _apportion(grid.population, weights)
        pieces = geoms[owner == j]
        for k in range(count):
            code = f"{grid.code}{k + 1:02d}"
            name = f"第{_cn_number(k + 1)}微网格"
            hh, pp = int(households[k]), int(population[k])
            areas.append(GeneratedArea(code, name, "micro_grid", grid.code, pieces[k], hh, pp))
    return areas


def _residents(grids: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Households (300–600) and population (≈ 2.6 per household) of each grid."""
    households = rng.integers(300, 601, grids)
    return households, np.round(households * rng.uniform(2.45, 2.75, grids)).astype(int)


def _tree(
    root: tuple[str, str, str, Geometry],
    levels: list[_Level],
    households: np.ndarray,
    population: np.ndarray,
) -> list[GeneratedArea]:
    """Areas for root and its nested levels, top-down; counts of the last level sum upwards."""
    sums: list[tuple[np.ndarray, ...]] = [(households, population)]
    for child, parent in zip(levels[:0:-1], levels[-2::-1], strict=True):
        n = len(parent.geoms)
        sums.insert(0, tuple(np.bincount(child.owner, v, n) for v in sums[0]))
    code, name, level, geom = root
    total_h, total_p = (int(v.sum()) for v in sums[0])
    areas = [GeneratedArea(code, name, level, None, geom, total_h, total_p)]
    parent_codes = [code]
    for lvl, (h, p) in zip(levels, sums, strict=True):
        width = _CODE_WIDTH[lvl.level]
        rank = np.arange(len(lvl.owner)) - np.searchsorted(lvl.owner, lvl.owner)
        assert rank.max() < 10**width, "children fit the level's code digits"
        codes = [
            f"{parent_codes[o]}{r + 1:0{width}d}" for o, r in zip(lvl.owner, rank, strict=True)
        ]
        kinds = lvl.kinds or ["comprehensive"] * len(codes)
        areas += [
            GeneratedArea(c, n, lvl.level, parent_codes[o], g, int(hh), int(pp), k)
            for c, n, o, g, hh, pp, k in zip(
                codes, lvl.names, lvl.owner, lvl.geoms, h, p, kinds, strict=True
            )
        ]
        parent_codes = codes
    return areas


def _risk_points(
    grids: list[GeneratedArea],
    community_names: list[str],
    grid_owner: np.ndarray,
    rng: np.random.Generator,
    count: int = 30,
) -> list[GeneratedRiskPoint]:
    """`count` risk points, each at a random spot inside a different random grid."""
    chosen = np.sort(rng.choice(len(grids), size=count, replace=False))
    geoms = np.array([grids[i].geometry for i in chosen])
    xy = _sample_inside(geoms, np.ones(count, dtype=int), rng)
    types = rng.choice(RISK_TYPES, size=count, p=[0.25, 0.15, 0.15, 0.1, 0.15, 0.2])
    levels = rng.choice(RISK_LEVELS, size=count, p=[0.35, 0.35, 0.22, 0.08])
    points = []
    for i, grid_index, kind, level, (lng, lat) in zip(
        range(count), chosen, types, levels, xy, strict=True
    ):
        grid = grids[grid_index]
        pattern, (low, high) = _RISK_KINDS[kind]
        place = community_names[grid_owner[grid_index]][:2]
        contacts = [{"name": _person(rng), "role": "网格员", "phone": _phone(rng)}]
        roles = ["隐患点监测员", "单位安全负责人"][: rng.integers(1, 3)]
        contacts += [{"name": _person(rng), "role": r, "phone": _phone(rng)} for r in roles]
        points.append(
            GeneratedRiskPoint(
                code=f"{grid.code}R{i + 1:02d}",
                name=pattern.format(p=place),
                type=str(kind),
                risk_level=str(level),
                lng=float(lng),
                lat=float(lat),
                grid_code=grid.code,
                threatened_households=int(rng.integers(low, high + 1)),
                contacts=contacts,
            )
        )
    return points


def _person(rng: np.random.Generator) -> str:
    """A plausible Chinese full name: surname plus one or two given-name characters."""
    given = "".join(_GIVEN[j] for j in rng.integers(len(_GIVEN), size=rng.integers(1, 3)))
    return _SURNAMES[rng.integers(len(_SURNAMES))] + given


def _phone(rng: np.random.Generator) -> str:
    """A fake mobile number of the form 139XXXXXXXX."""
    return "139" + "".join(str(d) for d in rng.integers(10, size=8))


def _cn_number(n: int) -> str:
    """1 → 一, 10 → 十, 21 → 二十一; Arabic digits from 100 up."""
    if n >= 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = ("" if tens == 1 else _DIGITS[tens]) + "十" if tens else ""
    return head + (_DIGITS[ones] if ones else "")
