"""Configuration a case reads: categories and SLA rules."""

from __future__ import annotations

from typing import Any

from grid_backend.core import i18n
from grid_backend.core.db import engine, fetch
from grid_backend.core.errors import invalid
from grid_backend.core.revisions import RevisionCache
from grid_backend.core.sql import q
from grid_backend.hazards.schemas import CategoryRead
from grid_backend.hazards.tables import Category, SlaRule


async def categories() -> list[CategoryRead]:
    rows = await Category.select().where(Category.is_active.eq(True)).order_by(Category.sort).run()
    return [
        CategoryRead(
            code=r["code"],
            group=r["group_code"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            duplicate_radius_m=r["duplicate_radius_m"],
        )
        for r in rows
    ]


# Category names change only with a migration (no API writes them; one that does must bump the
# "categories" revision): each process reads them once, not once per case it shows.
_names = RevisionCache("categories", max_entries=1)


async def category_names() -> dict[str, tuple[str, str]]:
    """Every category's names, code -> (Chinese, English)."""
    hit, names = await _names.lookup("all", None)
    if not hit:
        rows = await Category.select(Category.code, Category.name_zh, Category.name_en).run()
        names = {r["code"]: (r["name_zh"], r["name_en"]) for r in rows}
        if engine().current_transaction.get() is None:  # never what a rollback may undo
            _names.store("all", names)
    return names


async def category_text(code: str) -> str:
    """A category's name in the request's language (the code itself if it is unknown)."""
    names = (await category_names()).get(code)
    if names is None:
        return code
    return names[1] if i18n.english() else names[0]


async def _category(code: str, field: str = "category") -> dict[str, Any]:
    row = (
        await Category.select()
        .where((Category.code == code) & Category.is_active.eq(True))
        .first()
        .run()
    )
    if row is None:
        raise invalid(
            field,
            "unknown category %(code)r; see GET /api/v1/config",
            code="category_unknown",
            params={"code": code},
        )
    return row


async def sla_for(category: str, level: str) -> dict[str, Any]:
    """The SLA row for (category, level), falling back to the default row of the level."""
    rows = (
        await SlaRule.select()
        .where(SlaRule.category.is_in([category, ""]) & (SlaRule.level == level))
        .run()
    )
    rows.sort(key=lambda r: r["category"] == "")
    if not rows:
        return dict(_DEFAULT_SLA)
    return rows[0]


_DEFAULT_SLA = {"triage_minutes": 60, "acknowledge_minutes": 60, "rectify_minutes": 3 * 24 * 60}


_SUBMIT_CONFIG_SQL = (
    "SELECT c.code, c.duplicate_radius_m, s.category AS sla_category, s.triage_minutes,"
    " s.acknowledge_minutes, s.rectify_minutes"
    " FROM hazard_category c LEFT JOIN sla_rule s"
    " ON s.level = {} AND (s.category = c.code OR s.category = '')"
    " WHERE c.code = {} AND c.is_active"
)


async def _submit_config(code: str, level: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The active category and its SLA row for the level (as _category and sla_for), in one
    query: a submission's configuration."""
    rows = await fetch(q(_SUBMIT_CONFIG_SQL, level, code))
    if not rows:
        await _category(code)  # raises category_unknown
    rows.sort(key=lambda r: r["sla_category"] != code)  # the category's own row first
    sla = rows[0] if rows[0]["sla_category"] is not None else _DEFAULT_SLA
    return rows[0], sla
