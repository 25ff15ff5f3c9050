"""The printable community risk map (风险地图): what is drawn on it, gathered for one community,
and who may print it. The drawing itself is `riskmap_pdf`."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import shapely
from shapely.geometry import box

from grid_backend.areas.services.serving import overlaps
from grid_backend.areas.tables import Area, AreaBoundary, RiskPoint
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Forbidden, NotFound, invalid
from grid_backend.core.pdf import Orientation, PageSize
from grid_backend.evacuation import riskmap_pdf
from grid_backend.evacuation.routes import line_of
from grid_backend.evacuation.tables import EvacuationRoute, Shelter, ShelterArea
from grid_backend.people.duty import on_duty_within
from grid_backend.people.tables import Account
from grid_backend.settings import get_settings

SIZES: tuple[PageSize, ...] = ("A4", "A3")
ORIENTATIONS: tuple[Orientation, ...] = ("portrait", "landscape")
# the grid team printed beside each grid, in this order
TEAM_DUTIES = ("grid_leader", "grid_worker", "emergency_officer", "responder", "site_monitor")


@dataclass
class GridPart:
    id: int
    code: str
    name: str
    path: str
    geometry: Any  # shapely, WGS-84; None when the grid has no boundary
    team: list[dict[str, Any]] = field(default_factory=list)  # name, duty, phone


@dataclass
class MapData:
    """Everything the map shows, in WGS-84, phones already left out unless published."""

    community: dict[str, Any]
    place: list[str]  # the names above the community: district, township
    outline: Any  # the community's boundary (shapely) or None
    grids: list[GridPart]
    risk_points: list[dict[str, Any]]
    shelters: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    report_url: str
    printed_at: datetime
    changed_at: datetime | None  # the latest change of what is drawn
    digest: str  # a short hash of what is drawn: equal maps have equal digests
    phones: bool


def report_link(community: dict[str, Any], *, base_url: str = "") -> str:
    """The field app's report page for this community: what the map's QR code opens.
    (To be replaced by the signed, revocable codes of the QR-code work.)"""
    base = (get_settings().public_url or base_url).rstrip("/")
    return f"{base}/app/report?{urlencode({'area': community['code']})}"


async def _community(community_id: int, grants: list[policy.Grant]) -> dict[str, Any]:
    row = (
        await Area.select(Area.id, Area.code, Area.name, Area.level, Area.path)
        .where(Area.id == community_id)
        .first()
    )
    if row is None:
        raise NotFound("area_not_found")
    if row["level"] != "community":
        raise invalid(
            "community_id",
            "a risk map is drawn for a community, not a %(level)s",
            code="risk_map_not_community",
            params={"level": row["level"]},
        )
    # staff over the community (its township, district) or inside it (its grids' teams)
    if not overlaps([row["path"]], policy.scopes(grants, "risk_map.print")):
        raise Forbidden()
    return row


async def _boundaries(area_ids: list[int]) -> tuple[dict[int, Any], datetime | None]:
    rows = await AreaBoundary.select(
        AreaBoundary.area, AreaBoundary.wkb, AreaBoundary.valid_from
    ).where(AreaBoundary.area.is_in(area_ids) & AreaBoundary.valid_to.is_null())
    shapes = {r["area"]: shapely.from_wkb(bytes(r["wkb"])) for r in rows}
    return shapes, max((r["valid_from"] for r in rows), default=None)


async def _shelters(path: str, extent: Any) -> list[dict[str, Any]]:
    """Open or closed shelters, not retired, that serve the community or an area in it; and
    those serving the areas above it (township, district) that stand on the map."""
    above = [p for p in policy.ancestors_and_self(path) if p != path]
    links = await ShelterArea.select(ShelterArea.shelter, ShelterArea.area_path).where(
        ShelterArea.area_path.like(path + "%") | ShelterArea.area_path.is_in(above or [path])
    )
    own = {r["shelter"] for r in links if r["area_path"].startswith(path)}
    ids = sorted({r["shelter"] for r in links})
    if not ids:
        return []
    rows = (
        await Shelter.select()
        .where(Shelter.id.is_in(ids) & Shelter.retired_at.is_null())
        .order_by(Shelter.id)
    )
    return [r for r in rows if r["id"] in own or extent.contains(shapely.Point(r["lng"], r["lat"]))]


async def _routes(path: str, shelter_ids: set[int]) -> list[dict[str, Any]]:
    above = policy.ancestors_and_self(path)
    rows = (
        await EvacuationRoute.select(
            *EvacuationRoute.all_columns(),
            EvacuationRoute.from_risk_point.name.as_alias("risk_point_name"),
            EvacuationRoute.shelter.name.as_alias("shelter_name"),
        )
        .where(
            (EvacuationRoute.area_path.like(path + "%") | EvacuationRoute.area_path.is_in(above))
            & EvacuationRoute.retired_at.is_null()
        )
        .order_by(EvacuationRoute.id)
    )
    # a route to a shelter not drawn (retired since) is left out with it
    return [{**r, "line": line_of(r)} for r in rows if r["shelter"] in shelter_ids]


async def _teams(path: str, grids: list[GridPart], phones: bool) -> None:
    """Each grid's team on duty today (micro-grids' with their grid)."""
    rows = await on_duty_within(area_paths=[path], duties=TEAM_DUTIES, day=clock.today())
    numbers: dict[int, str] = {}
    if phones and rows:
        accounts = await Account.select(Account.id, Account.phone).where(
            Account.id.is_in(sorted({r["account"] for r in rows}))
        )
        numbers = {a["id"]: a["phone"] for a in accounts}
    order = {d: i for i, d in enumerate(TEAM_DUTIES)}
    for grid in grids:
        held = [r for r in rows if r["area_path"].startswith(grid.path)]
        held.sort(key=lambda r: (order[r["duty"]], r["name"], r["account"]))
        grid.team = [
            {"name": r["name"], "duty": r["duty"], "phone": numbers.get(r["account"], "")}
            for r in held
        ]


def _digest(data: dict[str, Any]) -> str:
    blob = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


async def gather(
    *,
    community_id: int,
    grants: list[policy.Grant],
    phones: bool = False,
    base_url: str = "",
) -> MapData:
    """What the risk map of a community shows, for staff over or inside it; the team's and
    shelters' phones only when a manager of the community publishes them."""
    community = await _community(community_id, grants)
    path = community["path"]
    if phones:
        policy.require(grants, "risk_map.phones", path)
    grid_rows = (
        await Area.select(Area.id, Area.code, Area.name, Area.path)
        .where((Area.parent == community["id"]) & (Area.level == "grid"))
        .order_by(Area.code)
    )
    place_rows = await Area.select(Area.name, Area.level, Area.path).where(
        Area.path.is_in(policy.ancestors_and_self(path)[1:-1])
    )
    shapes, bounds_at = await _boundaries([community["id"], *[g["id"] for g in grid_rows]])
    grids = [
        GridPart(g["id"], g["code"], g["name"], g["path"], shapes.get(g["id"])) for g in grid_rows
    ]
    outline = shapes.get(community["id"])
    points = (
        await RiskPoint.select(
            RiskPoint.id,
            RiskPoint.code,
            RiskPoint.name,
            RiskPoint.type,
            RiskPoint.risk_level,
            RiskPoint.lat,
            RiskPoint.lng,
            RiskPoint.threatened_households,
            RiskPoint.grid.name.as_alias("grid_name"),
            RiskPoint.updated_at,
        )
        .where(RiskPoint.area_path.like(path + "%") & RiskPoint.is_active.eq(True))
        .order_by(RiskPoint.grid.code, RiskPoint.id)
    )
    drawn = [g.geometry for g in grids if g.geometry is not None]
    drawn += [outline] if outline is not None else []
    drawn += [shapely.Point(p["lng"], p["lat"]) for p in points]
    extent = box(*shapely.GeometryCollection(drawn).bounds) if drawn else box(0, 0, 0, 0)
    shelters = await _shelters(path, extent)
    if not phones:
        for s in shelters:
            s["contact_phone"] = ""
    routes = await _routes(path, {s["id"] for s in shelters})
    await _teams(path, grids, phones)
    changes = [bounds_at, *(p["updated_at"] for p in points)]
    changes += [s["updated_at"] for s in shelters] + [r["updated_at"] for r in routes]
    changed_at = max((c for c in changes if c is not None), default=None)
    printed_at = clock.now()
    digest = _digest(
        {
            "bounds": sorted((k, v.wkb_hex) for k, v in shapes.items()),
            "points": points,
            "shelters": shelters,
            "routes": [{k: v for k, v in r.items() if k != "line"} for r in routes],
            "teams": [(g.id, g.team) for g in grids],
        }
    )
    return MapData(
        community=community,
        place=[r["name"] for r in sorted(place_rows, key=lambda r: len(r["path"]))],
        outline=outline,
        grids=grids,
        risk_points=points,
        shelters=shelters,
        routes=routes,
        report_url=report_link(community, base_url=base_url),
        printed_at=printed_at,
        changed_at=changed_at,
        digest=digest,
        phones=phones,
    )


async def print_risk_map(
    *,
    community_id: int,
    size: PageSize,
    orientation: Orientation,
    phones: bool,
    account_id: int,
    grants: list[policy.Grant],
    base_url: str = "",
) -> tuple[bytes, str]:
    """The community's risk map as a PDF, and its file name; every print is audited."""
    data = await gather(community_id=community_id, grants=grants, phones=phones, base_url=base_url)
    pdf = await riskmap_pdf.render_async(data, size=size, orientation=orientation)
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="risk_map.print",
            object_type="area",
            object_id=community_id,
            area_path=data.community["path"],
            detail={
                "size": size,
                "orientation": orientation,
                "phones": phones,
                "digest": data.digest,
            },
        )
    day = data.printed_at.astimezone(get_settings().zone).strftime("%Y%m%d")
    code = re.sub(r"[^0-9A-Za-z_-]", "_", data.community["code"])  # a safe header value
    return pdf, f"risk-map-{code}-{size}-{orientation}-{day}.pdf"
