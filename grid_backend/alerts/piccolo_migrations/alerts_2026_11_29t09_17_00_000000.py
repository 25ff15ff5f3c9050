"""Constraints Piccolo columns cannot express: one recipient row per (callout, account), so a
callout re-sent to a widened area reaches the newcomers only; one extra round per (warning,
plan, round), so a re-synced warning makes no round twice; and the indexes the
acknowledgement, the escalation job and the recipients' own list read by."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T09:17:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "multi-column constraints and indexes"

UNIQUE = {
    "callout_recipient_once": "callout_recipient (callout, account)",
    "callout_area_once": "callout_area (callout, area)",
    "early_warning_area_once": "early_warning_area (warning, area)",
    "early_warning_round_once": "early_warning_round (warning, plan, round)",
}
# no partial index on the waiting recipients of a callout: with the fresh statistics of a
# callout just sent, PostgreSQL preferred it to (callout, account) for an acknowledgement and
# read every waiting row (7 ms instead of 0.05 ms)
INDEXES = {
    "callout_recipient_mine": "callout_recipient (account, acked_at)",
}
PATTERNS = {  # PostgreSQL: LIKE 'prefix%' on these paths uses the index
    "early_warning_area_path_prefix": "early_warning_area (area_path varchar_pattern_ops)",
    "callout_area_path_prefix": "callout_area (area_path varchar_pattern_ops)",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="alerts", description=DESCRIPTION)

    async def create() -> None:
        db = engine()
        for name, target in UNIQUE.items():
            await db.run_ddl(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {target}")
        for name, target in INDEXES.items():
            await db.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
        if db.engine_type == "postgres":
            for name, target in PATTERNS.items():
                await db.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")

    async def drop() -> None:
        for name in [*UNIQUE, *INDEXES, *PATTERNS]:
            await engine().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
