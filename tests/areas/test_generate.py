"""The synthetic area generator: determinism, counts, codes and a proper tiling at every level."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from grid_backend.areas.generate import (
    DISTRICTS_PATH,
    RISK_LEVELS,
    RISK_TYPES,
    YUZHONG_TOWNSHIPS,
    GeneratedArea,
    generate_city,
    generate_demo,
    load_districts,
)
from grid_backend.core.geo import distance_m

CODE_WIDTH = {"township": 3, "community": 3, "grid": 3, "micro_grid": 2}
CITY_GRIDS = 3000


@pytest.fixture(scope="module")
def demo():
    return generate_demo()


@pytest.fixture(scope="module")
def city_run():
    calls: list[tuple[int, int]] = []
    areas = generate_city(CITY_GRIDS, progress=lambda done, total: calls.append((done, total)))
    return areas, calls


def children_of(areas: list[GeneratedArea]) -> dict[str, list[GeneratedArea]]:
    children: dict[str, list[GeneratedArea]] = defaultdict(list)
    for area in areas:
        if area.parent_code is not None:
            children[area.parent_code].append(area)
    return children


def assert_tiling(areas: list[GeneratedArea], partial: set[str] = frozenset()) -> None:
    """Children lie in their parent, siblings don't overlap and (unless partial) cover it."""
    by_code = {a.code: a for a in areas}
    for parent_code, kids in children_of(areas).items():
        parent = by_code[parent_code].geometry
        geoms = np.array([k.geometry for k in kids])
        tolerance = 1e-9 * parent.area
        assert shapely.is_valid(geoms).all(), parent_code
        assert not shapely.is_empty(geoms).any(), parent_code
        assert (shapely.area(geoms) > 0).all(), parent_code
        assert shapely.area(shapely.difference(geoms, parent)).max() <= tolerance, parent_code
        # Overlap of any two siblings, all pairs at once.
        left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        pairs = left < right
        overlap = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
        assert overlap.sum() <= tolerance, parent_code
        if parent_code not in partial:
            assert shapely.union_all(geoms).area >= 0.999 * parent.area, parent_code


def assert_codes_and_sums(areas: list[GeneratedArea]) -> None:
    """Codes extend the parent's (districts: GB/T 2260); households/population sum upwards."""
    by_code = {a.code: a for a in areas}
    assert len(by_code) == len(areas), "codes are unique"
    for area in areas:
        if area.parent_code is None:
            assert area.level == "city"
            continue
        parent = by_code[area.parent_code]
        assert area.code.isdigit()
        if area.level == "district":
            # GB/T 2260: a district shares only the province's first two digits with the city.
            assert (parent.level, len(area.code), area.code[:2]) == ("city", 6, parent.code[:2])
            continue
        assert area.code.startswith(parent.code)
        assert len(area.code) == len(parent.code) + CODE_WIDTH[area.level]
    for parent_code, kids in children_of(areas).items():
        parent = by_code[parent_code]
        assert parent.households == sum(k.households for k in kids), parent_code
        assert parent.population == sum(k.population for k in kids), parent_code
    for grid in (a for a in areas if a.level == "grid"):
        assert 300 <= grid.households <= 600
        assert 2.4 <= grid.population / grid.households <= 2.8


# --- load_districts ------------------------------------------------------------------------------


def test_load_districts_converts_gcj02_to_wgs84():
    districts = load_districts()
    assert len(districts) == 39
    assert districts[0][:3] == ("500000", "重庆市", "city")
    assert {level for _, _, level, _ in districts[1:]} == {"district"}
    raw = {
        f["properties"]["adcode"]: shape(f["geometry"])
        for f in json.loads(DISTRICTS_PATH.read_text(encoding="utf-8"))["features"]
    }
    for code, _, _, geom in districts:
        assert geom.is_valid
        assert geom.geom_type in ("Polygon", "MultiPolygon")
        # GCJ-02 is offset from WGS-84 by a few hundred metres in Chongqing.
        a, b = geom.centroid, raw[code].centroid
        assert 100 < distance_m(a.x, a.y, b.x, b.y) < 1000, code


# --- generate_demo -------------------------------------------------------------------------------


def test_demo_is_deterministic(demo):
    assert generate_demo() == demo
    other_areas, _ = generate_demo(seed=7)
    assert [a.name for a in other_areas] != [a.name for a in demo[0]]


def test_demo_has_the_city_yuzhong_and_its_eleven_townships(demo):
    areas, _ = demo
    levels = Counter(a.level for a in areas)
    assert levels["city"] == 1
    assert [(a.code, a.name) for a in areas if a.level == "district"] == [("500103", "渝中区")]
    townships = [a for a in areas if a.level == "township"]
    assert [t.name for t in townships] == list(YUZHONG_TOWNSHIPS)
    assert {t.parent_code for t in townships} == {"500103"}


def test_demo_counts_and_names(demo):
    areas, _ = demo
    children = children_of(areas)
    for township in (a for a in areas if a.level == "township"):
        communities = children[township.code]
        assert 3 <= len(communities) <= 5
        assert all(re.fullmatch(r"\w{2}社区", c.name) for c in communities)
        assert len({c.name for c in communities}) == len(communities)
    for community in (a for a in areas if a.level == "community"):
        grids = children[community.code]
        assert 4 <= len(grids) <= 6
        for grid in grids:
            if grid.kind == "dedicated":
                assert grid.name.endswith("专属网格")
            else:
                assert grid.kind == "comprehensive"
                assert re.fullmatch(r"第[一二三四五六七八九十]+网格", grid.name)
    micro_parents = {a.parent_code for a in areas if a.level == "micro_grid"}
    assert 2 <= len(micro_parents) <= 3
    assert all(2 <= len(children[code]) <= 3 for code in micro_parents)


def test_demo_codes_and_household_sums(demo):
    assert_codes_and_sums(demo[0])


def test_demo_geometry_tiles_every_parent(demo):
    areas, _ = demo
    # The demo city holds only 渝中区, so only it is not covered by its children.
    assert_tiling(areas, partial={"500000"})
    district = next(a for a in areas if a.level == "district")
    real = {code: geom for code, _, _, geom in load_districts()}
    assert district.geometry.equals(real["500103"])


def test_demo_risk_points(demo):
    areas, points = demo
    grids = {a.code: a for a in areas if a.level == "grid"}
    assert 25 <= len(points) <= 35
    assert len({p.code for p in points}) == len(points)
    for point in points:
        assert grids[point.grid_code].geometry.contains(Point(point.lng, point.lat))
        assert point.code.startswith(point.grid_code)
        assert point.type in RISK_TYPES
        assert point.risk_level in RISK_LEVELS
        assert point.name
        assert point.threatened_households >= 0
        assert point.contacts
        for contact in point.contacts:
            assert contact["name"]
            assert contact["role"]
            assert re.fullmatch(r"139\d{8}", contact["phone"])
    assert len({p.type for p in points}) >= 4


# --- generate_city -------------------------------------------------------------------------------


def test_city_counts(city_run):
    areas, calls = city_run
    levels = Counter(a.level for a in areas)
    assert levels["city"] == 1
    assert levels["district"] == 38
    assert levels["grid"] == CITY_GRIDS
    assert levels["township"] == round(CITY_GRIDS / 60)
    assert levels["community"] == round(CITY_GRIDS / 5.6)
    assert "micro_grid" not in levels
    assert calls == [(i, 38) for i in range(1, 39)]


def test_city_districts_are_real_and_townships_follow_land_area(city_run):
    areas, _ = city_run
    real = {code: geom for code, _, level, geom in load_districts() if level == "district"}
    districts = [a for a in areas if a.level == "district"]
    assert {d.code for d in districts} == set(real)
    assert all(d.geometry.equals(real[d.code]) for d in districts)
    townships = Counter(a.parent_code for a in areas if a.level == "township")
    total_area = sum(d.geometry.area for d in districts)
    spare = sum(townships.values()) - len(districts)
    for d in districts:
        # One each, the rest shared by land area (largest remainder: within one of exact).
        assert abs(townships[d.code] - 1 - spare * d.geometry.area / total_area) < 1, d.code


def test_city_codes_and_geometry(city_run):
    areas, _ = city_run
    assert_codes_and_sums(areas)
    assert_tiling(areas)


def test_city_is_deterministic_and_exact_for_other_counts():
    small = generate_city(500, seed=3)
    assert small == generate_city(500, seed=3)
    assert Counter(a.level for a in small)["grid"] == 500
    with pytest.raises(ValueError, match="at least one grid per district"):
        generate_city(37)
