"""Point → grid: an in-memory STRtree over the current grid boundaries.

The index is rebuilt when the "boundaries" revision changes (core.revisions), so an import in
one process reaches every process within GRID_INDEX_REFRESH_SECONDS."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree

from grid_backend.core.audit import read_revision
from grid_backend.core.geo import METRES_PER_DEGREE, distance_m
from grid_backend.core.policy import ancestor_path
from grid_backend.core.revisions import watcher


def roster_scope(path: str) -> str:
    """The township above an area: rosters are read and cached per township, so one query
    serves every grid a township's people stand in."""
    return ancestor_path(path, "township")


@dataclass(frozen=True, slots=True)
class AreaNode:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str


@dataclass(frozen=True, slots=True)
class Match:
    grid: AreaNode
    micro_grid: AreaNode | None
    distance_m: float  # 0 when inside; else the distance to the nearest grid

    @property
    def outside(self) -> bool:
        return self.distance_m > 0


class GridIndex:
    """Grids (and their micro-grids) of one boundary revision."""

    def __init__(
        self,
        nodes: dict[int, AreaNode],
        grid_ids: list[int],
        grid_geoms: list[shapely.Geometry],
        micro: dict[int, list[tuple[int, shapely.Geometry]]],
        revision: int,
    ) -> None:
        self.nodes = nodes
        self.revision = revision
        # ties on shared edges go to the lowest code, whatever order rows were loaded in
        order = sorted(range(len(grid_ids)), key=lambda i: nodes[grid_ids[i]].code)
        self.grid_ids = np.array([grid_ids[i] for i in order], dtype=np.int64)
        self.geoms = np.array([grid_geoms[i] for i in order], dtype=object)
        self.grid_nodes = [nodes[grid_ids[i]] for i in order]  # by tree index, for the hot path
        shapely.prepare(self.geoms)
        self.tree = STRtree(self.geoms)
        # a point on the edge between two micro-grids goes to the lower code, as for grids
        self.micro = {
            grid_id: sorted(children, key=lambda child: nodes[child[0]].code)
            for grid_id, children in micro.items()
        }
        for children in self.micro.values():
            shapely.prepare([g for _, g in children])
        # grids and micro-grids by township: the unit in which rosters are read and cached
        self.members: dict[str, list[int]] = {}
        for node in nodes.values():
            if node.level in ("grid", "micro_grid"):
                self.members.setdefault(roster_scope(node.path), []).append(node.id)

    def __len__(self) -> int:
        return len(self.grid_ids)

    def find(self, lng: float, lat: float, tolerance_m: float) -> Match | None:
        """The grid covering a WGS-84 point, else the nearest within the tolerance."""
        point = shapely.points((lng, lat))  # half the cost of shapely.Point(lng, lat)
        hits = self.tree.query(point, predicate="covered_by")
        if hits.size:
            grid = self.grid_nodes[hits.min() if hits.size > 1 else hits[0]]
            children = self.micro.get(grid.id)
            return Match(grid, self._micro(children, point) if children else None, 0.0)
        if tolerance_m <= 0 or not len(self.grid_ids):
            return None
        # degrees of longitude shrink with latitude: this radius in degrees is never too small
        radius = tolerance_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
        near = self.tree.query_nearest(point, max_distance=radius, all_matches=False)
        if not len(near):
            return None
        index = int(near[0])
        nearest_lng, nearest_lat = shapely.shortest_line(self.geoms[index], point).coords[0]
        metres = distance_m(lng, lat, nearest_lng, nearest_lat)
        if metres > tolerance_m:
            return None
        return Match(self.grid_nodes[index], None, max(metres, 0.01))

    def _micro(
        self, children: list[tuple[int, shapely.Geometry]], point: shapely.Point
    ) -> AreaNode | None:
        for micro_id, geom in children:
            if geom.covers(point):
                return self.nodes[micro_id]
        return None

    def linear_scan(self, lng: float, lat: float) -> int | None:
        """The same answer without the tree, for the benchmark's comparison."""
        point = shapely.Point(lng, lat)
        for i, geom in enumerate(self.geoms):
            if geom.covers(point):
                return int(self.grid_ids[i])
        return None

    def ancestors(self, node: AreaNode) -> list[AreaNode]:
        """From the district down to the node's parent (the city is left out)."""
        chain: list[AreaNode] = []
        parent = node.parent_id
        while parent is not None:
            current = self.nodes[parent]
            if current.level == "city":
                break
            chain.append(current)
            parent = current.parent_id
        return chain[::-1]


async def load_index(revision: int | None = None) -> GridIndex:
    """Read the area tree and current grid boundaries and build an index."""
    from grid_backend.areas.tables import Area, AreaBoundary

    if revision is None:
        revision = await read_revision("boundaries")
    rows = await Area.select(
        Area.id, Area.code, Area.name, Area.level, Area.parent, Area.path
    ).run()
    nodes = {
        r["id"]: AreaNode(r["id"], r["code"], r["name"], r["level"], r["parent"], r["path"])
        for r in rows
    }
    bounds = (
        await AreaBoundary.select(AreaBoundary.area, AreaBoundary.wkb)
        .where(
            AreaBoundary.valid_to.is_null() & AreaBoundary.area.level.is_in(["grid", "micro_grid"])
        )
        .run()
    )
    geoms = shapely.from_wkb([bytes(b["wkb"]) for b in bounds]) if bounds else []
    grid_ids: list[int] = []
    grid_geoms: list[shapely.Geometry] = []
    micro: dict[int, list[tuple[int, shapely.Geometry]]] = {}
    for b, geom in zip(bounds, geoms, strict=True):
        node = nodes[b["area"]]
        if node.level == "grid":
            grid_ids.append(node.id)
            grid_geoms.append(geom)
        elif node.parent_id is not None:
            micro.setdefault(node.parent_id, []).append((node.id, geom))
    return GridIndex(nodes, grid_ids, grid_geoms, micro, revision)


class IndexHolder:
    """The process's current index, rebuilt when the "boundaries" revision moves."""

    def __init__(self) -> None:
        self.index: GridIndex | None = None
        self._lock: asyncio.Lock | None = None

    def invalidate(self) -> None:
        watcher.expire()

    def reset(self) -> None:
        self.index = None

    def fresh(self) -> GridIndex | None:
        """The index if it is known to be current, without awaiting (the hot path)."""
        index = self.index
        if index is not None and watcher.fresh("boundaries") == index.revision:
            return index
        return None

    async def get(self) -> GridIndex:
        revision = await watcher.get("boundaries")
        if self.index is not None and self.index.revision == revision:
            return self.index
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.index is None or self.index.revision != revision:
                self.index = await load_index(revision)
            return self.index


grid_index = IndexHolder()
