"""The callout fan-out in set-based SQL: a city's warning reaches tens of thousands of people
(DESIGN.md §8), so recipients and their notifications are each written by one
INSERT … SELECT, not a row at a time from Python.

The notification rows follow the outbox's rules (notify.services `_rows_for`): the inbox always,
already delivered; push and SMS when the channel can deliver here and the person's preferences
allow (push on, SMS off without a preferences row), due at once; one row per dedupe key and
channel (`{key}:account:{id}`, as `enqueue_many` names them), so a repeat writes nothing. Quiet
hours are not consulted, so push and SMS are only for urgent kinds."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import msgspec

from grid_backend.core import policy
from grid_backend.core.db import fetch
from grid_backend.core.sql import (
    TRUE,
    QueryString,
    all_of,
    any_of,
    in_,
    join,
    postgres,
    q,
    text,
    typed,
    under,
)
from grid_backend.notify import channels, kinds
from grid_backend.people.duty import on_duty_sql


def ancestors(path: str) -> list[str]:
    """The paths above an area's path ("a/b/c/" → ["a/", "a/b/"])."""
    return policy.ancestors_and_self(path)[:-1]


def overlap(column: str, paths: list[str]) -> QueryString:
    """Rows whose area path lies under one of these paths or above one (the areas overlap)."""
    above = sorted({a for p in paths for a in ancestors(p)})
    return any_of(under(column, paths), in_(column, above) if above else None)


_RECIPIENTS = (
    "INSERT INTO callout_recipient (callout, account, grid, area_path, duty, acked_at, step,"
    " stepped_at, created_at)"
    " SELECT {}, a.account, a.area, a.area_path, a.duty, NULL, 0, NULL, {}"
    " FROM assignment a JOIN account c ON c.id = a.account WHERE c.is_active AND {}"
    " ON CONFLICT (callout, account) DO NOTHING RETURNING account"
)
# PostgreSQL: count the rows inside the server rather than send 100,000 ids back
_COUNTED = "WITH added AS ({}) SELECT COUNT(*) AS n FROM added"


async def add_recipients(
    *,
    callout_id: int,
    area_paths: list[str],
    duties: list[str],
    day: date,
    now: datetime,
    account_ids: list[int] | None = None,
) -> tuple[int, list[int]]:
    """Call out everyone holding one of `duties` on `day` in an area under `area_paths` (only
    the named accounts, if given): how many were added, and which of the named accounts. A
    person with several such duties is called once, through one of them."""
    insert = q(
        _RECIPIENTS,
        typed(callout_id, "int"),
        typed(now, "timestamptz"),
        all_of(
            on_duty_sql("a", day),
            in_("a.duty", duties),
            under("a.area_path", area_paths),
            None if account_ids is None else in_("a.account", account_ids),
        ),
    )
    if account_ids is None and postgres():
        rows = await fetch(q(_COUNTED, insert))
        return int(rows[0]["n"]), []
    rows = await fetch(insert)
    return len(rows), [r["account"] for r in rows]


TEMPLATE_ONLY = ("text_zh", "text_en")

_NOTIFY = (
    "INSERT INTO notification (recipient, kind, channel, payload, urgent, dedupe_key, status,"
    " due_at, claimed_until, claim_token, attempts, last_error, created_at, sent_at, read_at)"
    " SELECT r.account, {}, ch.channel, {}, {}, {} || CAST(r.account AS TEXT),"
    " CASE WHEN ch.channel = 'inbox' THEN 'sent' ELSE 'pending' END, {}, NULL, NULL, 0, '',"
    " {}, CASE WHEN ch.channel = 'inbox' THEN {} END, NULL"
    " FROM callout_recipient r CROSS JOIN ({}) ch"
    " LEFT JOIN notification_preference p ON p.account = r.account"
    " WHERE r.callout = {} AND (ch.channel = 'inbox'"
    " OR (ch.channel = 'push' AND (p.push IS NULL OR p.push))"
    " OR (ch.channel = 'sms' AND p.sms IS NOT NULL AND p.sms)) AND {}"
    " ON CONFLICT (dedupe_key, channel) DO NOTHING RETURNING id, recipient, channel"
)
_CHANNEL_ROW = {
    "inbox": text("SELECT 'inbox' AS channel"),
    "push": text("SELECT 'push' AS channel"),
    "sms": text("SELECT 'sms' AS channel"),
}
# PostgreSQL: only the inbox rows come back (for their live events)
_INBOX_ONLY = "WITH added AS ({}) SELECT id, recipient, channel FROM added WHERE channel = 'inbox'"


async def notify_recipients(
    *,
    callout_id: int,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str,
    now: datetime,
    where: QueryString | None = None,
    channels_wanted: tuple[str, ...] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Write a notification of `kind` for every recipient of the callout (narrowed by `where`,
    a condition on the alias `r`), in the caller's transaction; the live events to publish
    once it commits, as (account, event)."""
    spec = kinds.kind_of(kind)
    wanted = set(spec.channels if channels_wanted is None else channels_wanted) | {"inbox"}
    live = [c for c in ("push", "sms") if c in wanted and channels.enabled(c)]
    if live and not spec.urgent:
        raise ValueError("set-based notifications skip quiet hours: push and SMS need urgent kinds")
    data = msgspec.to_builtins(payload)
    data.update(kinds.render(spec, data))
    # the template's inputs are in the rendered title and body: a row per person and channel
    # carries them once (half the bytes the database writes for a district's callout)
    for name in TEMPLATE_ONLY:
        data.pop(name, None)
    insert = q(
        _NOTIFY,
        typed(kind, "text"),
        typed(json.dumps(data, ensure_ascii=False), "jsonb"),
        typed(spec.urgent, "boolean"),
        typed(f"{dedupe_key}:account:", "text"),
        typed(now, "timestamptz"),
        typed(now, "timestamptz"),
        typed(now, "timestamptz"),
        join([_CHANNEL_ROW[c] for c in ("inbox", *live)], " UNION ALL "),
        callout_id,
        where if where is not None else TRUE,
    )
    rows = await fetch(q(_INBOX_ONLY, insert) if postgres() else insert)
    return [
        (r["recipient"], channels.inbox_event(r["id"], kind, spec.urgent, data))
        for r in rows
        if r["channel"] == "inbox"
    ]


__all__ = ["add_recipients", "ancestors", "notify_recipients", "overlap"]
