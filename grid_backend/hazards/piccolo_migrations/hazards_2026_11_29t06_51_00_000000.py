"""Seed the hazard categories (DESIGN.md §1–3) and the default SLA rows (§3): triage within
1 h, acknowledge within 1 h, general hazards rectified within 3 days, major hazards by the
deadline of their supervision listing. The data is written here, not imported from the app,
so this migration means the same thing whenever it runs."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T06:51:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "categories and default deadlines"

# code, group, 中文, English, duplicate radius (m)
CATEGORIES = [
    ("road_transport", "production_safety", "道路交通", "Road transport", 100),
    ("construction", "production_safety", "建筑施工", "Construction", 100),
    ("hazardous_chemicals", "production_safety", "危险化学品", "Hazardous chemicals", 150),
    ("gas", "production_safety", "燃气", "Gas", 100),
    ("fire", "production_safety", "消防火灾", "Fire safety", 100),
    ("landslide", "natural_hazard", "滑坡", "Landslide", 200),
    ("collapse", "natural_hazard", "崩塌", "Rockfall and collapse", 200),
    ("debris_flow", "natural_hazard", "泥石流", "Debris flow", 300),
    ("flooding", "natural_hazard", "洪涝积水", "Flooding and waterlogging", 200),
    ("forest_fire", "natural_hazard", "森林火灾", "Forest fire", 500),
    ("urban_lifeline", "urban_safety", "城市生命线", "Urban lifelines", 100),
    ("crowded_place", "urban_safety", "人员密集场所", "Crowded places", 100),
    ("old_building", "urban_safety", "老旧房屋及挡墙", "Old buildings and retaining walls", 100),
    ("other", "other", "其他", "Other", 100),
]
SLA = [("", "general", 60, 60, 3 * 24 * 60), ("", "major", 60, 60, None)]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hazards", description=DESCRIPTION)

    async def seed() -> None:
        db = engine()
        for sort, (code, group, zh, en, radius) in enumerate(CATEGORIES):
            await db.run_ddl(
                "INSERT INTO hazard_category (code, group_code, name_zh, name_en,"
                " duplicate_radius_m, sort, is_active)"
                f" SELECT '{code}', '{group}', '{zh}', '{en}', {radius}, {sort}, true"
                f" WHERE NOT EXISTS (SELECT 1 FROM hazard_category WHERE code = '{code}')"
            )
        for category, level, triage, acknowledge, rectify in SLA:
            rectify_sql = "NULL" if rectify is None else str(rectify)
            await db.run_ddl(
                "INSERT INTO sla_rule (category, level, triage_minutes, acknowledge_minutes,"
                " rectify_minutes)"
                f" SELECT '{category}', '{level}', {triage}, {acknowledge}, {rectify_sql}"
                " WHERE NOT EXISTS (SELECT 1 FROM sla_rule"
                f" WHERE category = '{category}' AND level = '{level}')"
            )

    async def unseed() -> None:
        await engine().run_ddl("DELETE FROM sla_rule")
        await engine().run_ddl("DELETE FROM hazard_category")

    manager.add_raw(seed)
    manager.add_raw_backwards(unseed)
    return manager
