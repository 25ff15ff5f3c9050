"""QR codes at risk points and grids (扫码报灾): each printed code carries a random token (not
an id); scanning it counts the scan and opens the field app's report page with the place and a
fitting category filled in. Kept by those who keep the risk points (`qr.manage`): issue,
reissue (the old code is revoked), revoke, list a community's codes; every change audited.

The token is 128 random bits (22 URL-safe characters): a code cannot be guessed from another,
a changed character finds nothing, and revoking is a column, so a withdrawn poster stops at
once. Nothing about the people who scan is kept: a count and the time of the last scan."""

from __future__ import annotations

import io
import re
import secrets
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec
import segno
import shapely

from grid_backend.areas.tables import Area, AreaBoundary, RiskPoint
from grid_backend.core import audit, clock, policy
from grid_backend.core import types as t
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import NotFound, invalid
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.sql import in_, postgres, q
from grid_backend.core.types import AreaRef
from grid_backend.evacuation.tables import QrCode
from grid_backend.settings import get_settings

Target = Literal["risk_point", "grid"]
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
# the hazard category a report from a risk point's code starts with (hazards' categories);
# a grid's code leaves the choice to the person reporting
CATEGORY_OF: dict[str, str] = {
    "landslide": "landslide",
    "flood_underpass": "flooding",
    "gas_station": "gas",
    "hazardous_chemicals": "hazardous_chemicals",
    "construction_site": "construction",
    "old_building": "old_building",
    "other": "other",
}
# issuing every missing code at once: for one community (or grid), not a whole township
ISSUE_ALL_LEVELS = ("community", "grid")


class QrIssue(t.Input):
    target: Target
    target_id: t.Id


class QrIssueAll(t.Input):
    area_id: t.Id  # a community or a grid


class QrCodeRead(msgspec.Struct):
    id: int
    target: str
    target_id: int
    name: str  # the risk point's or the grid's
    place: str  # the area path, district to grid ("渝中区 / 解放碑街道 / 较场口社区 / 第一网格")
    grid: AreaRef
    category: str | None  # what a report from it starts with
    url: str  # what the code holds
    scans: int
    last_scanned_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
    created_at: datetime
    created_by: int | None


class QrCodePage(msgspec.Struct):
    items: list[QrCodeRead]
    next_cursor: str | None


class IssuedAll(msgspec.Struct):
    issued: int  # codes made now (targets that had none)
    live: int  # codes of the area that work now


class Scan(msgspec.Struct):
    """What a scan finds: `ok` with where to go, or `revoked` / `unknown`."""

    outcome: Literal["ok", "revoked", "unknown"]
    location: str = ""


def new_token() -> str:
    return secrets.token_urlsafe(16)


def code_url(token: str, base_url: str) -> str:
    """The short address a code holds: GRID_PUBLIC_URL (else the request's base) + /q/token."""
    base = get_settings().public_url or base_url
    return f"{base.rstrip('/')}/q/{token}"


# --- reading ---------------------------------------------------------------------------------

_COLUMNS = (
    QrCode.id,
    QrCode.token,
    QrCode.target,
    QrCode.risk_point,
    QrCode.grid,
    QrCode.area_path,
    QrCode.scans,
    QrCode.last_scanned_at,
    QrCode.revoked_at,
    QrCode.created_at,
    QrCode.created_by,
    QrCode.risk_point.name.as_alias("point_name"),
    QrCode.risk_point.type.as_alias("point_type"),
    QrCode.grid.code.as_alias("grid_code"),
    QrCode.grid.name.as_alias("grid_name"),
)


async def path_names(paths: set[str]) -> dict[str, str]:
    """Each area path as names, district down ("渝中区 / 解放碑街道 / 较场口社区 / 第一网格")."""
    codes = {c for p in paths for c in p.split("/") if c}
    if not codes:
        return {}
    rows = await Area.select(Area.code, Area.name, Area.level).where(Area.code.is_in(sorted(codes)))
    names = {r["code"]: r["name"] for r in rows if r["level"] != "city"}
    return {p: " / ".join(names[c] for c in p.split("/") if c in names) for p in paths}


def read_row(row: dict[str, Any], places: dict[str, str], base_url: str) -> QrCodeRead:
    point = row["target"] == "risk_point"
    return QrCodeRead(
        id=row["id"],
        target=row["target"],
        target_id=row["risk_point"] if point else row["grid"],
        name=row["point_name"] if point else row["grid_name"],
        place=places.get(row["area_path"], ""),
        grid=AreaRef(id=row["grid"], code=row["grid_code"], name=row["grid_name"]),
        category=CATEGORY_OF.get(row["point_type"] or "") if point else None,
        url=code_url(row["token"], base_url),
        scans=row["scans"],
        last_scanned_at=row["last_scanned_at"],
        revoked=row["revoked_at"] is not None,
        revoked_at=row["revoked_at"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


async def _row(code_id: int, grants: list[policy.Grant]) -> dict[str, Any]:
    """A code the caller keeps; 404 for any other (ids reveal nothing)."""
    row = await QrCode.select(*_COLUMNS).where(QrCode.id == code_id).first().run()
    if row is None or not policy.allows(grants, "qr.manage", row["area_path"]):
        raise NotFound("qr_code_not_found")
    return row


async def read_code(*, code_id: int, grants: list[policy.Grant], base_url: str) -> QrCodeRead:
    """One code, for those who keep its place."""
    row = await _row(code_id, grants)
    return read_row(row, await path_names({row["area_path"]}), base_url)


async def _area(area_id: int) -> dict[str, Any]:
    row = await Area.select(Area.id, Area.path, Area.level).where(Area.id == area_id).first()
    if row is None:
        raise NotFound("area_not_found")
    return row


async def list_codes(
    *,
    area_id: int,
    grants: list[policy.Grant],
    revoked: bool = False,
    limit: int = 50,
    cursor: str | None = None,
    base_url: str,
) -> QrCodePage:
    """The codes of an area the caller keeps (a community, a grid), by id; revoked ones only
    when asked for."""
    area = await _area(area_id)
    policy.require(grants, "qr.manage", area["path"])
    query = QrCode.select(*_COLUMNS).where(QrCode.area_path.like(area["path"] + "%"))
    query = query.where(QrCode.revoked_at.is_not_null() if revoked else QrCode.revoked_at.is_null())
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(QrCode.id > after)
    rows = await query.order_by(QrCode.id).limit(limit + 1).run()
    following = next_cursor(rows, limit)
    places = await path_names({r["area_path"] for r in rows})
    return QrCodePage(items=[read_row(r, places, base_url) for r in rows], next_cursor=following)


async def live_codes(area_path: str) -> list[dict[str, Any]]:
    """Every working code under an area (for the printed sheet): grids first, then risk
    points, each by name."""
    rows = (
        await QrCode.select(*_COLUMNS)
        .where(QrCode.area_path.like(area_path + "%"), QrCode.revoked_at.is_null())
        .order_by(QrCode.area_path)
        .order_by(QrCode.target, ascending=False)  # "risk_point" after "grid"
        .order_by(QrCode.id)
        .run()
    )
    return rows


# --- issuing and revoking --------------------------------------------------------------------


async def _target(data: QrIssue) -> dict[str, Any]:
    """The grid and its path of a risk point (active) or a grid; 422 on target_id if none."""
    if data.target == "risk_point":
        row = (
            await RiskPoint.select(RiskPoint.id, RiskPoint.grid, RiskPoint.area_path)
            .where(RiskPoint.id == data.target_id, RiskPoint.is_active.eq(True))
            .first()
        )
        if row is None:
            raise invalid("target_id", "no such active risk point", code="risk_point_not_found")
        return {"risk_point": row["id"], "grid": row["grid"], "area_path": row["area_path"]}
    row = await Area.select(Area.id, Area.path, Area.level).where(Area.id == data.target_id).first()
    if row is None or row["level"] != "grid":
        raise invalid("target_id", "no such grid", code="area_not_found")
    return {"risk_point": None, "grid": row["id"], "area_path": row["path"]}


async def _lock_grids(grid_ids: list[int]) -> None:
    """Issuing for places of these grids waits for any other issuing there (PostgreSQL: the
    grids' rows locked, in id order; SQLite's write transactions are one at a time already),
    so a place never ends up with two working codes."""
    if postgres() and grid_ids:
        await fetch(q("SELECT id FROM area WHERE {} ORDER BY id FOR UPDATE", in_("id", grid_ids)))


def _live_of(target: dict[str, Any]) -> Any:
    if target["risk_point"] is not None:
        return (QrCode.risk_point == target["risk_point"]) & QrCode.revoked_at.is_null()
    return (QrCode.target == "grid") & (QrCode.grid == target["grid"]) & QrCode.revoked_at.is_null()


async def issue(
    *, data: QrIssue, account_id: int, grants: list[policy.Grant], base_url: str
) -> QrCodeRead:
    """A new code for a risk point or a grid; the code it had before (if any) is revoked in the
    same transaction, so only the newest poster works."""
    target = await _target(data)
    policy.require(grants, "qr.manage", target["area_path"])
    now = clock.now()
    async with write_transaction():
        await _lock_grids([target["grid"]])
        old = await QrCode.select(QrCode.id).where(_live_of(target)).run()
        if old:
            await (
                QrCode.update({QrCode.revoked_at: now, QrCode.revoked_by: account_id})
                .where(QrCode.id.is_in([r["id"] for r in old]))
                .run()
            )
        row = (
            await QrCode.insert(
                QrCode(
                    token=new_token(),
                    target=data.target,
                    risk_point=target["risk_point"],
                    grid=target["grid"],
                    area_path=target["area_path"],
                    created_by=account_id,
                    created_at=now,
                )
            )
            .returning(QrCode.id)
            .run()
        )[0]
        await audit.record(
            actor_id=account_id,
            action="qr_code.issue",
            object_type="qr_code",
            object_id=row["id"],
            area_path=target["area_path"],
            detail={**msgspec.to_builtins(data), "revoked": [r["id"] for r in old]},
        )
    return await read_code(code_id=row["id"], grants=grants, base_url=base_url)


async def issue_all(*, data: QrIssueAll, account_id: int, grants: list[policy.Grant]) -> IssuedAll:
    """A code for every grid and active risk point of a community (or grid) that has none;
    those that have one keep it."""
    area = await _area(data.area_id)
    if area["level"] not in ISSUE_ALL_LEVELS:
        raise invalid("area_id", "codes are issued for a community or a grid at a time")
    path = area["path"]
    policy.require(grants, "qr.manage", path)
    grids = await Area.select(Area.id, Area.path).where(
        Area.path.like(path + "%"), Area.level == "grid"
    )
    points = await RiskPoint.select(RiskPoint.id, RiskPoint.grid, RiskPoint.area_path).where(
        RiskPoint.area_path.like(path + "%"), RiskPoint.is_active.eq(True)
    )
    now = clock.now()
    async with write_transaction():
        await _lock_grids([g["id"] for g in grids])
        live = await QrCode.select(QrCode.target, QrCode.grid, QrCode.risk_point).where(
            QrCode.area_path.like(path + "%"), QrCode.revoked_at.is_null()
        )
        have_grid = {r["grid"] for r in live if r["target"] == "grid"}
        have_point = {r["risk_point"] for r in live if r["target"] == "risk_point"}
        new = [
            QrCode(token=new_token(), target="grid", grid=g["id"], area_path=g["path"])
            for g in grids
            if g["id"] not in have_grid
        ] + [
            QrCode(
                token=new_token(),
                target="risk_point",
                risk_point=p["id"],
                grid=p["grid"],
                area_path=p["area_path"],
            )
            for p in points
            if p["id"] not in have_point
        ]
        for code in new:
            code.created_by = account_id
            code.created_at = now
        if new:
            await QrCode.insert(*new).run()
        await audit.record(
            actor_id=account_id,
            action="qr_code.issue_all",
            object_type="area",
            object_id=area["id"],
            area_path=path,
            detail={"issued": len(new)},
        )
    return IssuedAll(issued=len(new), live=len(live) + len(new))


async def revoke(
    *, code_id: int, account_id: int, grants: list[policy.Grant], base_url: str
) -> QrCodeRead:
    """Withdraw a code: scanning it shows that it was withdrawn; revoking again changes
    nothing."""
    row = await _row(code_id, grants)
    if row["revoked_at"] is None:
        async with write_transaction():
            await (
                QrCode.update({QrCode.revoked_at: clock.now(), QrCode.revoked_by: account_id})
                .where(QrCode.id == code_id, QrCode.revoked_at.is_null())
                .run()
            )
            await audit.record(
                actor_id=account_id,
                action="qr_code.revoke",
                object_type="qr_code",
                object_id=code_id,
                area_path=row["area_path"],
            )
    return await read_code(code_id=code_id, grants=grants, base_url=base_url)


# --- pictures --------------------------------------------------------------------------------


def make_qr(url: str) -> segno.QRCode:
    """The code for an address: error correction level M or better (a poster gets dirty)."""
    return segno.make_qr(url, error="m", boost_error=True)


def svg(url: str) -> bytes:
    out = io.BytesIO()
    make_qr(url).save(out, kind="svg", scale=8, border=4, xmldecl=True, svgns=True)
    return out.getvalue()


def png(url: str, scale: int = 10) -> bytes:
    out = io.BytesIO()
    make_qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


async def picture(
    *, code_id: int, kind: Literal["svg", "png"], grants: list[policy.Grant], base_url: str
) -> tuple[bytes, str, str]:
    """The code as an SVG or PNG file: (bytes, media type, file name)."""
    code = await read_code(code_id=code_id, grants=grants, base_url=base_url)
    if kind == "svg":
        return svg(code.url), "image/svg+xml", f"qr-{code.id}.svg"
    return png(code.url), "image/png", f"qr-{code.id}.png"


# --- scanning --------------------------------------------------------------------------------


async def _grid_spot(grid_id: int) -> tuple[float, float] | None:
    """A point inside the grid's current boundary (lat, lng)."""
    row = (
        await AreaBoundary.select(AreaBoundary.wkb)
        .where(AreaBoundary.area == grid_id, AreaBoundary.valid_to.is_null())
        .first()
    )
    if row is None:
        return None
    spot = shapely.from_wkb(row["wkb"]).representative_point()
    return spot.y, spot.x


async def _prefill(row: dict[str, Any], token: str) -> str | None:
    """The field report page's address with the place and category of this code; None when
    its risk point has been taken off the register (the poster is as good as withdrawn)."""
    query: dict[str, str] = {"qr": token}
    if row["target"] == "risk_point":
        point = (
            await RiskPoint.select(
                RiskPoint.name, RiskPoint.type, RiskPoint.lat, RiskPoint.lng, RiskPoint.is_active
            )
            .where(RiskPoint.id == row["risk_point"])
            .first()
        )
        if point is None or not point["is_active"]:
            return None
        query["place"] = point["name"]
        spot: tuple[float, float] | None = (point["lat"], point["lng"])
        category = CATEGORY_OF.get(point["type"])
        if category:
            query["category"] = category
    else:
        query["place"] = row["grid_name"]
        spot = await _grid_spot(row["grid"])
    if spot is not None:
        query["lat"], query["lng"] = f"{spot[0]:.6f}", f"{spot[1]:.6f}"
    return "/app/report?" + urlencode(query)


async def scan(*, token: str) -> Scan:
    """A scan: counted (one atomic increment) when the code works, then where to go."""
    if not TOKEN.fullmatch(token):
        return Scan(outcome="unknown")
    async with write_transaction():
        hit = await (
            QrCode.update({QrCode.scans: QrCode.scans + 1, QrCode.last_scanned_at: clock.now()})
            .where(QrCode.token == token, QrCode.revoked_at.is_null())
            .returning(QrCode.id, QrCode.target, QrCode.risk_point, QrCode.grid)
            .run()
        )
    if not hit:
        known = await QrCode.exists().where(QrCode.token == token)
        return Scan(outcome="revoked" if known else "unknown")
    row = dict(hit[0])
    grid = await Area.select(Area.name).where(Area.id == row["grid"]).first()
    row["grid_name"] = grid["name"] if grid else ""
    location = await _prefill(row, token)
    return Scan(outcome="revoked") if location is None else Scan(outcome="ok", location=location)


async def working_code(token: str | None) -> int | None:
    """The id of the working code with this token (a report made from it), else None."""
    if not token or not TOKEN.fullmatch(token):
        return None
    row = (
        await QrCode.select(QrCode.id)
        .where(QrCode.token == token, QrCode.revoked_at.is_null())
        .first()
    )
    return row["id"] if row else None
