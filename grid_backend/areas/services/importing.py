"""Writing an import: the tree checked against what is stored, then every area and boundary in one
transaction."""

from __future__ import annotations

import dataclasses
from typing import Any

import shapely

from grid_backend.areas.locate import grid_index
from grid_backend.areas.schemas import (
    ImportResult,
)
from grid_backend.areas.services.geojson import (
    AreaInput,
    _Errors,
    parse_feature_collection,
    resolve_datum,
)
from grid_backend.areas.tables import Area, AreaBoundary
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.types import Datum

_BATCH = 500

_TREE_COLUMNS = (
    Area.id,
    Area.code,
    Area.level,
    Area.path,
    Area.parent.code.as_alias("parent_code"),
)


async def _check_tree(items: list[AreaInput]) -> dict[str, dict[str, Any]]:
    """Parents exist and sit one level up, no cycles, nothing moves; returns existing rows."""
    errors = _Errors()
    by_code = {a.code: a for a in items}
    existing, city = await _stored_rows(items)
    file_city = [a.code for a in items if a.level == "city"]
    for i, a in enumerate(items):
        at = f"features[{i}].properties"
        parent_code = a.parent_code
        if a.level == "city":
            if parent_code:
                errors.add(f"{at}.parent_code", "the city has no parent", "area_tree_invalid")
            if (city and city[0] != a.code) or len(file_city) > 1:
                errors.add(f"{at}.code", "there is one city in the tree", "area_tree_invalid")
        elif parent_code is None:
            if a.level == "district" and (file_city or city):
                parent_code = (file_city or city)[0]
                items[i] = dataclasses.replace(a, parent_code=parent_code)
            else:
                errors.add(
                    f"{at}.parent_code",
                    "parent_code is required below district level",
                    "area_tree_invalid",
                )
                continue
        if parent_code:
            _check_parent(a, parent_code, by_code, existing, errors, at)
        _check_not_moved(a, items[i].parent_code, existing, errors, at)
    errors.raise_if_any("area_tree_invalid")
    return existing


async def _stored_rows(items: list[AreaInput]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The stored areas the file names (as areas or parents), and the stored city's code."""
    wanted = {a.code for a in items} | {a.parent_code for a in items if a.parent_code}
    existing: dict[str, dict[str, Any]] = {}
    wanted_list = list(wanted)
    for start in range(0, len(wanted_list), 1000):
        chunk = wanted_list[start : start + 1000]
        for r in await Area.select(*_TREE_COLUMNS).where(Area.code.is_in(chunk)).run():
            existing[r["code"]] = r
    city = [c for c, r in existing.items() if r["level"] == "city"]
    if not city:
        # a district without parent_code goes under the stored city, which must then be known
        # as a parent like any other
        for r in await Area.select(*_TREE_COLUMNS).where(Area.level == "city").run():
            existing[r["code"]] = r
            city.append(r["code"])
    return existing, city


def _check_parent(
    a: AreaInput,
    parent_code: str,
    by_code: dict[str, AreaInput],
    existing: dict[str, dict[str, Any]],
    errors: _Errors,
    at: str,
) -> None:
    """The parent chain inside the file has no cycle, and the parent is one level up."""
    # a cycle shows as a chain inside the file that comes back to this code
    seen, walk = {a.code}, parent_code
    while walk in by_code and by_code[walk].parent_code:
        if walk in seen:
            errors.add(
                f"{at}.parent_code",
                f"parent chain of {a.code} forms a cycle",
                "area_tree_invalid",
            )
            break
        seen.add(walk)
        walk = by_code[walk].parent_code  # type: ignore[assignment]  # set: the loop's condition checked it
    parent_level = (
        by_code[parent_code].level
        if parent_code in by_code
        else (existing[parent_code]["level"] if parent_code in existing else None)
    )
    if parent_level is None:
        errors.add(f"{at}.parent_code", f"unknown parent area {parent_code}", "area_code_unknown")
    elif policy.PARENT_LEVEL.get(a.level) != parent_level:
        errors.add(
            f"{at}.parent_code",
            f"a {a.level} belongs under a {policy.PARENT_LEVEL.get(a.level)}, not a {parent_level}",
            "area_tree_invalid",
        )


def _check_not_moved(
    a: AreaInput,
    parent_code: str | None,
    existing: dict[str, dict[str, Any]],
    errors: _Errors,
    at: str,
) -> None:
    """A stored area keeps its level and parent."""
    old = existing.get(a.code)
    if old is not None and (old["level"] != a.level or old["parent_code"] != parent_code):
        moved = "level" if old["level"] != a.level else "parent_code"
        errors.add(
            f"{at}.{moved}",
            f"{a.code} exists as a {old['level']} under {old['parent_code']}; "
            "moving areas is not supported",
            "area_tree_invalid",
        )


async def apply_areas(
    items: list[AreaInput], *, source_datum: str, actor_id: int | None, progress: Any = None
) -> ImportResult:
    """Validate the tree and write every area and boundary in one transaction."""
    existing = await _check_tree(items)
    now = clock.now()
    ordered = sorted(items, key=lambda a: policy.LEVELS.index(a.level))
    async with write_transaction():
        paths, ids = await _paths_and_ids(existing, ordered)
        fresh = [a for a in ordered if a.code not in existing]
        created = await _insert_areas(fresh, paths, ids, now, progress)
        updated, changed = await _update_areas(ordered, existing, ids, now)
        boundaries = [
            _boundary(a, ids[a.code], source_datum, now)
            for a in ordered
            if a.code not in existing or a.code in changed
        ]
        for start in range(0, len(boundaries), _BATCH):
            await AreaBoundary.insert(*boundaries[start : start + _BATCH]).run()
        await audit.record(
            actor_id=actor_id,
            action="areas.import",
            object_type="area",
            detail={
                "created": created,
                "updated": updated,
                "boundaries_changed": len(changed),
                "datum": source_datum,
                "count": len(items),
            },
        )
        await audit.bump_revision("boundaries")
    grid_index.invalidate()
    return ImportResult(
        created=created,
        updated=updated,
        boundaries_changed=len(changed),
        codes=[a.code for a in items[:1000]],
    )


async def _paths_and_ids(
    existing: dict[str, dict[str, Any]], ordered: list[AreaInput]
) -> tuple[dict[str, str], dict[str, int]]:
    """Path and id by code of the stored areas: those in the file and the parents outside it."""
    paths = {c: r["path"] for c, r in existing.items()}
    ids = {c: r["id"] for c, r in existing.items()}
    missing = {a.parent_code for a in ordered if a.parent_code and a.parent_code not in paths}
    for r in (
        await Area.select(Area.id, Area.code, Area.path).where(Area.code.is_in(list(missing))).run()
        if missing
        else []
    ):
        paths[r["code"]], ids[r["code"]] = r["path"], r["id"]
    return paths, ids


async def _insert_areas(
    fresh: list[AreaInput], paths: dict[str, str], ids: dict[str, int], now: Any, progress: Any
) -> int:
    """Insert the new areas level by level (a parent before its children), in batches."""
    created = 0
    for level in policy.LEVELS:
        batch = [a for a in fresh if a.level == level]
        for start in range(0, len(batch), _BATCH):
            chunk = batch[start : start + _BATCH]
            rows = [
                Area(
                    code=a.code,
                    name=a.name,
                    level=a.level,
                    parent=ids[a.parent_code] if a.parent_code else None,
                    path=(paths[a.parent_code] if a.parent_code else "") + a.code + "/",
                    kind=a.kind,
                    households=a.households,
                    population=a.population,
                    created_at=now,
                    updated_at=now,
                )
                for a in chunk
            ]
            for a, row in zip(chunk, rows, strict=True):
                paths[a.code] = row.path
            inserted = await Area.insert(*rows).returning(Area.id, Area.code).run()
            for r in inserted:
                ids[r["code"]] = r["id"]
            created += len(chunk)
            if progress:
                progress(len(chunk))
    return created


async def _update_areas(
    ordered: list[AreaInput], existing: dict[str, dict[str, Any]], ids: dict[str, int], now: Any
) -> tuple[int, set[str]]:
    """Update the stored areas of the file and close the boundaries that changed: how many
    were updated, and the codes whose boundary changed."""
    updated, changed = 0, set()
    for a in ordered:
        if a.code not in existing:
            continue
        updated += 1
        await (
            Area.update(
                {
                    Area.name: a.name,
                    Area.kind: a.kind,
                    Area.households: a.households,
                    Area.population: a.population,
                    Area.updated_at: now,
                }
            )
            .where(Area.id == ids[a.code])
            .run()
        )
        if await _boundary_unchanged(ids[a.code], a.geometry):
            continue
        await (
            AreaBoundary.update({AreaBoundary.valid_to: now})
            .where((AreaBoundary.area == ids[a.code]) & AreaBoundary.valid_to.is_null())
            .run()
        )
        changed.add(a.code)
    return updated, changed


def _boundary(a: AreaInput, area_id: int, source_datum: str, now: Any) -> AreaBoundary:
    min_lng, min_lat, max_lng, max_lat = a.geometry.bounds
    return AreaBoundary(
        area=area_id,
        wkb=shapely.to_wkb(a.geometry),
        min_lng=min_lng,
        min_lat=min_lat,
        max_lng=max_lng,
        max_lat=max_lat,
        source_datum=source_datum,
        valid_from=now,
    )


async def _boundary_unchanged(area_id: int, geometry: Any) -> bool:
    row = (
        await AreaBoundary.select(AreaBoundary.wkb)
        .where((AreaBoundary.area == area_id) & AreaBoundary.valid_to.is_null())
        .first()
        .run()
    )
    return row is not None and shapely.from_wkb(bytes(row["wkb"])).equals_exact(geometry, 1e-9)


async def import_geojson(
    *, collection: Any, datum: Datum | None, actor_id: int | None
) -> ImportResult:
    """Import areas from a GeoJSON FeatureCollection: all of it or nothing."""
    datum = resolve_datum(collection, datum)
    items = parse_feature_collection(collection, datum)
    return await apply_areas(items, source_datum=datum, actor_id=actor_id)
