"""The risk map's layers: the grids under an area with their open cases (counted by the
caller: hazards.map) and risk, risk points, and one grid's team on duty. Geometry comes from the in-memory grid index (no boundary reads
per request), simplified for drawing and converted to the datum the map's tiles need."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import numpy as np
import shapely
from shapely.geometry import mapping

from grid_backend.areas.locate import AreaNode, GridIndex, grid_index, roster_scope
from grid_backend.areas.schemas import AreaBrief, TeamMember
from grid_backend.areas.services import team_members
from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import geo, policy
from grid_backend.core.db import under
from grid_backend.core.errors import Forbidden, NotFound
from grid_backend.core.types import Datum
from grid_backend.people.duty import team_on_duty

RISK_LEVELS = ("low", "medium", "high", "major")
MAX_GRIDS = 3_000  # a township has tens of grids, a district hundreds to a few thousand
MAX_POINTS = 5_000
MAX_AROUND = 200  # grids drawn around one case
SIMPLIFY_M = 3.0  # drawing tolerance: below what a console map at street zoom can show

# Open, overdue and urgent cases per grid under these area paths: cases are a layer above
# areas, so the caller (hazards.map) passes the counting in.
CaseCounts = Callable[[list[str]], Awaitable[dict[int, dict[str, int]]]]


class GridProperties(msgspec.Struct):
    id: int
    code: str
    name: str
    open_cases: int
    overdue_cases: int
    urgent_cases: int
    risk_points: int
    risk_level: str | None  # the highest level of the grid's active risk points


class GridFeature(msgspec.Struct):
    id: int
    geometry: dict[str, Any]
    properties: GridProperties
    type: str = "Feature"


class GridCollection(msgspec.Struct):
    area: AreaBrief
    datum: str
    truncated: bool  # more grids than MAX_GRIDS: choose a smaller area
    features: list[GridFeature]
    type: str = "FeatureCollection"


class RiskPointProperties(msgspec.Struct):
    id: int
    code: str
    name: str
    type: str
    risk_level: str
    grid_id: int
    threatened_households: int


class RiskPointFeature(msgspec.Struct):
    id: int
    geometry: dict[str, Any]
    properties: RiskPointProperties
    type: str = "Feature"


class RiskPointCollection(msgspec.Struct):
    datum: str
    truncated: bool
    features: list[RiskPointFeature]
    type: str = "FeatureCollection"


class OutlineProperties(msgspec.Struct):
    id: int
    code: str
    name: str
    level: str  # "community" or "township"
    label_at: list[float]  # [lng, lat] inside the outline, where its name is drawn


class OutlineFeature(msgspec.Struct):
    id: int
    geometry: dict[str, Any]
    properties: OutlineProperties
    type: str = "Feature"


class OutlineCollection(msgspec.Struct):
    datum: str
    features: list[OutlineFeature]
    truncated: bool = False  # more grids than MAX_GRIDS: the outlines of the first ones only
    type: str = "FeatureCollection"


class GridRiskPoint(msgspec.Struct):
    id: int
    name: str
    type: str
    risk_level: str


class GridDetail(msgspec.Struct):
    grid: AreaBrief
    ancestors: list[AreaBrief]
    households: int | None
    population: int | None
    team: list[TeamMember]
    phones_masked: bool
    open_cases: int
    overdue_cases: int
    risk_points: list[GridRiskPoint]


# --- scope ---------------------------------------------------------------------------------


async def _area(area_id: int) -> dict[str, Any]:
    row = (
        await Area.select(
            Area.id, Area.code, Area.name, Area.level, Area.path, Area.households, Area.population
        )
        .where(Area.id == area_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound("area_not_found")
    return row


async def map_scope(
    grants: list[policy.Grant], area_id: int | None
) -> tuple[dict[str, Any], list[str]]:
    """The area shown (the caller's own by default) and the paths inside it the caller may
    see: the whole area when a duty covers it, else the caller's areas below it."""
    scopes = policy.scopes(grants, "risk_point.read")  # every duty: staff see their map
    if not scopes:
        raise Forbidden()
    if area_id is None:
        top = min(scopes, key=lambda p: (p.count("/"), p))
        row = await Area.select(Area.id).where(Area.path == top).first().run()
        area_id = row["id"] if row else 0
    area = await _area(area_id)
    path = area["path"]
    if any(path.startswith(s) for s in scopes):
        return area, [path]
    inside = [s for s in scopes if s.startswith(path)]
    if not inside:
        raise Forbidden()
    return area, inside


# --- geometry ------------------------------------------------------------------------------


class _Simplified:
    """Simplified grid outlines per (index revision, datum): drawn often, changed rarely."""

    def __init__(self) -> None:
        self.revision: int | None = None
        self.shapes: dict[tuple[str, int], dict[str, Any]] = {}

    def get(self, index: GridIndex, datum: Datum, positions: list[int]) -> list[dict[str, Any]]:
        if self.revision != index.revision:
            self.shapes.clear()
            self.revision = index.revision
        missing = [i for i in positions if (datum, i) not in self.shapes]
        if missing:
            geoms = shapely.simplify(
                index.geoms[missing], SIMPLIFY_M / geo.METRES_PER_DEGREE, preserve_topology=True
            )
            if datum != "wgs84":
                geoms = [geo.transform_geometry(g, "wgs84", datum) for g in geoms]
            # 6 decimals (about 0.1 m) are plenty for drawing and halve the JSON
            geoms = shapely.set_precision(list(geoms), 1e-6, mode="keep_collapsed")
            for i, g in zip(missing, geoms, strict=True):
                self.shapes[(datum, i)] = mapping(g)
        return [self.shapes[(datum, i)] for i in positions]


_simplified = _Simplified()

OUTLINE_LEVELS = ("community", "township")


class _Outlines:
    """Community and township outlines, each the union of its grids the caller sees, per
    (index revision, datum, grids shown): drawn on every map load, changed rarely."""

    MAX_ENTRIES = 5_000  # outlines kept per process; the least recently drawn go first

    def __init__(self) -> None:
        self.revision: int | None = None
        self.features: OrderedDict[tuple[str, int, tuple[int, ...]], OutlineFeature] = OrderedDict()

    def get(self, index: GridIndex, datum: Datum, positions: list[int]) -> list[OutlineFeature]:
        if self.revision != index.revision:
            self.features.clear()
            self.revision = index.revision
        groups: dict[int, list[int]] = {}
        for i in positions:
            for above in index.ancestors(index.grid_nodes[i]):
                if above.level in OUTLINE_LEVELS:
                    groups.setdefault(above.id, []).append(i)
        found = []
        for area_id, members in groups.items():
            key = (datum, area_id, tuple(members))
            feature = self.features.get(key)
            if feature is None:
                feature = _outline(index, index.nodes[area_id], members, datum)
                self.features[key] = feature
                while len(self.features) > self.MAX_ENTRIES:
                    self.features.popitem(last=False)
            else:
                self.features.move_to_end(key)
            found.append(feature)
        # townships first: communities are drawn over them
        return sorted(found, key=lambda f: (f.properties.level != "township", f.id))


def _outline(index: GridIndex, area: AreaNode, members: list[int], datum: Datum) -> OutlineFeature:
    shape = shapely.union_all(index.geoms[members], grid_size=1e-7)
    shape = shapely.simplify(shape, SIMPLIFY_M / geo.METRES_PER_DEGREE, preserve_topology=True)
    inside = shapely.point_on_surface(shape)
    if datum != "wgs84":
        shape = geo.transform_geometry(shape, "wgs84", datum)
        inside = geo.transform_geometry(inside, "wgs84", datum)
    shape = shapely.set_precision(shape, 1e-6, mode="keep_collapsed")
    return OutlineFeature(
        id=area.id,
        geometry=mapping(shape),
        properties=OutlineProperties(
            id=area.id,
            code=area.code,
            name=area.name,
            level=area.level,
            label_at=[round(inside.x, 6), round(inside.y, 6)],
        ),
    )


_outlines = _Outlines()


def _position(lng: float, lat: float, datum: Datum) -> dict[str, Any]:
    if datum != "wgs84":
        lng, lat = geo.convert(lng, lat, "wgs84", datum)
    return {"type": "Point", "coordinates": [round(lng, 7), round(lat, 7)]}


# --- counts --------------------------------------------------------------------------------


async def _risk_by_grid(paths: list[str]) -> dict[int, tuple[int, str]]:
    rows = (
        await RiskPoint.select(RiskPoint.grid, RiskPoint.risk_level)
        .where(RiskPoint.is_active.eq(True) & under(RiskPoint.area_path, paths))
        .run()
    )
    found: dict[int, tuple[int, str]] = {}
    for r in rows:
        count, level = found.get(r["grid"], (0, ""))
        top = max(level, r["risk_level"], key=lambda v: RISK_LEVELS.index(v) if v else -1)
        found[r["grid"]] = (count + 1, top)
    return found


# --- layers --------------------------------------------------------------------------------


async def grid_layer(
    *,
    grants: list[policy.Grant],
    area_id: int | None,
    case_counts: CaseCounts,
    datum: Datum = "wgs84",
) -> GridCollection:
    """The grids under an area as GeoJSON, with open-case counts and risk level."""
    area, paths = await map_scope(grants, area_id)
    index = grid_index.fresh() or await grid_index.get()
    positions = [
        i for i, node in enumerate(index.grid_nodes) if any(node.path.startswith(p) for p in paths)
    ]
    truncated = len(positions) > MAX_GRIDS
    positions = positions[:MAX_GRIDS]
    shapes = _simplified.get(index, datum, positions)
    cases = await case_counts(paths)
    risks = await _risk_by_grid(paths)
    features = []
    for i, geometry in zip(positions, shapes, strict=True):
        node = index.grid_nodes[i]
        counted = cases.get(node.id, {})
        risk_count, risk_level = risks.get(node.id, (0, None))
        features.append(
            GridFeature(
                id=node.id,
                geometry=geometry,
                properties=GridProperties(
                    id=node.id,
                    code=node.code,
                    name=node.name,
                    open_cases=counted.get("open", 0),
                    overdue_cases=counted.get("overdue", 0),
                    urgent_cases=counted.get("urgent", 0),
                    risk_points=risk_count,
                    risk_level=risk_level or None,
                ),
            )
        )
    return GridCollection(
        area=AreaBrief(id=area["id"], code=area["code"], name=area["name"], level=area["level"]),
        datum=datum,
        truncated=truncated,
        features=features,
    )


async def outline_layer(
    *, grants: list[policy.Grant], area_id: int | None, datum: Datum = "wgs84"
) -> OutlineCollection:
    """The communities and townships of the grids under an area the caller sees, as outlines
    (the union of those grids) with the point their name is drawn at."""
    _, paths = await map_scope(grants, area_id)
    index = grid_index.fresh() or await grid_index.get()
    positions = [
        i for i, node in enumerate(index.grid_nodes) if any(node.path.startswith(p) for p in paths)
    ]
    return OutlineCollection(
        datum=datum,
        features=_outlines.get(index, datum, positions[:MAX_GRIDS]),
        truncated=len(positions) > MAX_GRIDS,
    )


_RISK_POINT_COLUMNS = (
    RiskPoint.id,
    RiskPoint.code,
    RiskPoint.name,
    RiskPoint.type,
    RiskPoint.risk_level,
    RiskPoint.lat,
    RiskPoint.lng,
    RiskPoint.grid,
    RiskPoint.threatened_households,
)


def _risk_feature(r: dict[str, Any], datum: Datum) -> RiskPointFeature:
    return RiskPointFeature(
        id=r["id"],
        geometry=_position(r["lng"], r["lat"], datum),
        properties=RiskPointProperties(
            id=r["id"],
            code=r["code"],
            name=r["name"],
            type=r["type"],
            risk_level=r["risk_level"],
            grid_id=r["grid"],
            threatened_households=r["threatened_households"],
        ),
    )


async def risk_point_layer(
    *, grants: list[policy.Grant], area_id: int | None, datum: Datum = "wgs84"
) -> RiskPointCollection:
    """Active risk points under an area as GeoJSON points."""
    _, paths = await map_scope(grants, area_id)
    rows = (
        await RiskPoint.select(*_RISK_POINT_COLUMNS)
        .where(RiskPoint.is_active.eq(True) & under(RiskPoint.area_path, paths))
        .order_by(RiskPoint.id)
        .limit(MAX_POINTS + 1)
        .run()
    )
    return RiskPointCollection(
        datum=datum,
        truncated=len(rows) > MAX_POINTS,
        features=[_risk_feature(r, datum) for r in rows[:MAX_POINTS]],
    )


async def grids_around(
    *,
    grants: list[policy.Grant],
    grid_id: int,
    lat: float,
    lng: float,
    radius_m: float,
    datum: Datum,
) -> list[dict[str, Any]]:
    """A grid's outline and those of the grids within radius_m of a WGS-84 point that the caller
    may see on a map, as GeoJSON Features named after them (the grid itself first, marked
    `own`). The caller has checked that the person may see what lies in that grid."""
    index = grid_index.fresh() or await grid_index.get()
    scopes = policy.scopes(grants, "risk_point.read")
    box = geo.degree_box(lat, lng, radius_m)
    near = index.tree.query(shapely.box(box.lng_min, box.lat_min, box.lng_max, box.lat_max))
    own = [int(i) for i in np.flatnonzero(index.grid_ids == grid_id)]
    others = sorted(
        int(i)
        for i in near
        if int(i) not in own and any(index.grid_nodes[i].path.startswith(p) for p in scopes)
    )[:MAX_AROUND]
    positions = own + others
    features = []
    for i, geometry in zip(positions, _simplified.get(index, datum, positions), strict=True):
        node = index.grid_nodes[i]
        above = [n.name for n in index.ancestors(node) if n.level == "community"]
        features.append(
            {
                "type": "Feature",
                "id": node.id,
                "geometry": geometry,
                "properties": {
                    "id": node.id,
                    "code": node.code,
                    "name": node.name,
                    "community": above[0] if above else None,
                    "own": node.id == grid_id,
                },
            }
        )
    return features


async def risk_points_near(
    *, grants: list[policy.Grant], lat: float, lng: float, radius_m: float, datum: Datum
) -> RiskPointCollection:
    """Active risk points within radius_m of a WGS-84 point, in the caller's areas."""
    paths = policy.scopes(grants, "risk_point.read")
    if not paths:
        return RiskPointCollection(datum=datum, truncated=False, features=[])
    box = geo.degree_box(lat, lng, radius_m)
    rows = (
        await RiskPoint.select(*_RISK_POINT_COLUMNS)
        .where(
            RiskPoint.is_active.eq(True)
            & under(RiskPoint.area_path, paths)
            & (RiskPoint.lat >= box.lat_min)
            & (RiskPoint.lat <= box.lat_max)
            & (RiskPoint.lng >= box.lng_min)
            & (RiskPoint.lng <= box.lng_max)
        )
        .order_by(RiskPoint.id)
        .limit(MAX_POINTS)
        .run()
    )
    near = [r for r in rows if geo.distance_m(lng, lat, r["lng"], r["lat"]) <= radius_m]
    return RiskPointCollection(
        datum=datum, truncated=False, features=[_risk_feature(r, datum) for r in near]
    )


async def grid_detail(
    *, grants: list[policy.Grant], grid_id: int, case_counts: CaseCounts
) -> GridDetail:
    """One grid for the map's side panel: its team on duty today, risk points, case counts."""
    area = await _area(grid_id)
    if not policy.allows(grants, "risk_point.read", area["path"]):
        raise NotFound("area_not_found")  # as if absent: the map shows no grid outside one's area
    index = grid_index.fresh() or await grid_index.get()
    node = index.nodes.get(grid_id)
    areas = [grid_id] + [m for m, _ in index.micro.get(grid_id, [])]
    scope = roster_scope(area["path"])
    rows = await team_on_duty(areas, scope=scope, members=index.members.get(scope, areas))
    show = policy.allows(grants, "contact.read", area["path"])
    counts = (await case_counts([area["path"]])).get(grid_id, {})
    points = (
        await RiskPoint.select(RiskPoint.id, RiskPoint.name, RiskPoint.type, RiskPoint.risk_level)
        .where(RiskPoint.is_active.eq(True) & (RiskPoint.grid == grid_id))
        .order_by(RiskPoint.id)
        .limit(200)
        .run()
    )
    return GridDetail(
        grid=AreaBrief(id=area["id"], code=area["code"], name=area["name"], level=area["level"]),
        ancestors=[
            AreaBrief(id=n.id, code=n.code, name=n.name, level=n.level)
            for n in (index.ancestors(node) if node else [])
        ],
        households=area["households"],
        population=area["population"],
        team=team_members(rows, show=show),
        phones_masked=not show,
        open_cases=counts.get("open", 0),
        overdue_cases=counts.get("overdue", 0),
        risk_points=[GridRiskPoint(**p) for p in points],
    )
