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

from grid_backend.core.db import fetch, is_postgres
from grid_backend.notify import channels, kinds


def _p(kind: str) -> str:
    """A placeholder PostgreSQL needs typed where it cannot infer it (a SELECT list)."""
    return "{}::" + kind if is_postgres() else "{}"


def in_list(column: str, values: list[Any]) -> tuple[str, list[Any]]:
    """`column = ANY(array)` on PostgreSQL, `column IN (…)` on SQLite."""
    if is_postgres():
        return f"{column} = ANY({{}})", [list(values)]
    return f"{column} IN (" + ", ".join("{}" for _ in values) + ")", list(values)


def like_any(column: str, paths: list[str]) -> tuple[str, list[Any]]:
    """Rows whose path lies under any of these paths."""
    return "(" + " OR ".join(f"{column} LIKE {{}}" for _ in paths) + ")", [p + "%" for p in paths]


def ancestors(path: str) -> list[str]:
    """The paths above an area's path ("a/b/c/" → ["a/", "a/b/"])."""
    codes = [c for c in path.split("/") if c]
    return ["/".join(codes[:i]) + "/" for i in range(1, len(codes))]


def overlap(column: str, paths: list[str]) -> tuple[str, list[Any]]:
    """Rows whose area path lies under one of these paths or above one (the areas overlap)."""
    sql, args = like_any(column, paths)
    above = sorted({a for p in paths for a in ancestors(p)})
    if above:
        sql_in, more = in_list(column, above)
        sql = f"({sql} OR {sql_in})"
        args += more
    return sql, args


_RECIPIENTS = (
    "INSERT INTO callout_recipient (callout, account, grid, area_path, duty, acked_at, step,"
    " stepped_at, created_at)"
    " SELECT $INT, a.account, a.area, a.area_path, a.duty, NULL, 0, NULL, $TS"
    " FROM assignment a JOIN account c ON c.id = a.account"
    " WHERE c.is_active AND a.valid_from <= {} AND (a.valid_to IS NULL OR a.valid_to >= {})"
    " AND $DUTIES AND $PATHS $ACCOUNTS"
    " ON CONFLICT (callout, account) DO NOTHING RETURNING account"
)
# PostgreSQL: count the rows inside the server rather than send 100,000 ids back
_COUNTED = "WITH added AS ($INSERT) SELECT COUNT(*) AS n FROM added"


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
    duty_sql, duty_args = in_list("a.duty", duties)
    path_sql, path_args = like_any("a.area_path", area_paths)
    account_sql, account_args = "", []
    if account_ids is not None:
        account_sql, account_args = in_list("a.account", account_ids)
        account_sql = "AND " + account_sql
    sql = (
        _RECIPIENTS.replace("$INT", _p("int"))
        .replace("$TS", _p("timestamptz"))
        .replace("$DUTIES", duty_sql)
        .replace("$PATHS", path_sql)
        .replace("$ACCOUNTS", account_sql)
    )
    args = (callout_id, now, day, day, *duty_args, *path_args, *account_args)
    if account_ids is None and is_postgres():
        rows = await fetch(_COUNTED.replace("$INSERT", sql), *args)
        return int(rows[0]["n"]), []
    rows = await fetch(sql, *args)
    return len(rows), [r["account"] for r in rows]


TEMPLATE_ONLY = ("text_zh", "text_en")

_NOTIFY = (
    "INSERT INTO notification (recipient, kind, channel, payload, urgent, dedupe_key, status,"
    " due_at, claimed_until, claim_token, attempts, last_error, created_at, sent_at, read_at)"
    " SELECT r.account, $TEXT, ch.channel, $JSON, $BOOL, $TEXT || CAST(r.account AS TEXT),"
    " CASE WHEN ch.channel = 'inbox' THEN 'sent' ELSE 'pending' END, $TS, NULL, NULL, 0, '',"
    " $TS, CASE WHEN ch.channel = 'inbox' THEN $TS END, NULL"
    " FROM callout_recipient r CROSS JOIN ($CHANNELS) ch"
    " LEFT JOIN notification_preference p ON p.account = r.account"
    " WHERE r.callout = {} AND (ch.channel = 'inbox'"
    " OR (ch.channel = 'push' AND (p.push IS NULL OR p.push))"
    " OR (ch.channel = 'sms' AND p.sms IS NOT NULL AND p.sms)) $WHERE"
    " ON CONFLICT (dedupe_key, channel) DO NOTHING RETURNING id, recipient, channel"
)
_INBOX_ONLY = (
    "WITH added AS ($INSERT) SELECT id, recipient, channel FROM added WHERE channel = 'inbox'"
)


async def notify_recipients(
    *,
    callout_id: int,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str,
    now: datetime,
    where: str = "",
    args: tuple[Any, ...] = (),
    channels_wanted: tuple[str, ...] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Write a notification of `kind` for every recipient of the callout (narrowed by `where`,
    SQL on the alias `r`, with `args`), in the caller's transaction; the live events to
    publish once it commits, as (account, event)."""
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
    union = " UNION ALL ".join(f"SELECT '{c}' AS channel" for c in ("inbox", *live))
    sql = (
        _NOTIFY.replace("$TEXT", _p("text"))
        .replace("$JSON", _p("jsonb"))
        .replace("$BOOL", _p("boolean"))
        .replace("$TS", _p("timestamptz"))
        .replace("$CHANNELS", union)
        .replace("$WHERE", where)
    )
    if is_postgres():  # only the inbox rows come back (for their live events)
        sql = _INBOX_ONLY.replace("$INSERT", sql)
    rows = await fetch(
        sql,
        kind,
        json.dumps(data, ensure_ascii=False),
        spec.urgent,
        f"{dedupe_key}:account:",
        now,
        now,
        now,
        callout_id,
        *args,
    )
    return [
        (r["recipient"], channels.inbox_event(r["id"], kind, spec.urgent, data))
        for r in rows
        if r["channel"] == "inbox"
    ]


__all__ = ["add_recipients", "ancestors", "in_list", "like_any", "notify_recipients", "overlap"]
