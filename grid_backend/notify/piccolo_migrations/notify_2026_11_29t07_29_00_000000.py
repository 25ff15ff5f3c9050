"""Indexes Piccolo columns cannot express: the dedupe key unique per channel (so an event
notifies once, even when two transactions enqueue it at the same moment), and partial
indexes for the delivery scan and the inbox, so neither reads sent or other-channel rows."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from grid_backend.core.db import engine

ID = "2026-11-29T07:29:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox dedupe key and delivery and inbox indexes"

INDEXES = {
    "notification_dedupe": "UNIQUE INDEX IF NOT EXISTS notification_dedupe"
    " ON notification (dedupe_key, channel)",
    "notification_due": "INDEX IF NOT EXISTS notification_due"
    " ON notification (due_at) WHERE status = 'pending'",
    "notification_inbox": "INDEX IF NOT EXISTS notification_inbox"
    " ON notification (recipient, sent_at, id) WHERE channel = 'inbox' AND status = 'sent'",
    "notification_unread": "INDEX IF NOT EXISTS notification_unread"
    " ON notification (recipient) WHERE channel = 'inbox' AND status = 'sent' AND read_at IS NULL",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="notify", description=DESCRIPTION)

    async def create() -> None:
        for definition in INDEXES.values():
            await engine().run_ddl(f"CREATE {definition}")

    async def drop() -> None:
        for name in INDEXES:
            await engine().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
