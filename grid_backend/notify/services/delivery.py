"""Delivery: claim due rows, send them, record the outcomes (steps 1 to 3 of the package's
description)."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
from piccolo.columns import Column

from grid_backend.core import clock, sql
from grid_backend.core.db import fetch, write_transaction
from grid_backend.notify import channels
from grid_backend.notify.services import webhooks
from grid_backend.notify.services.preferences import _prefs_of, quiet_until
from grid_backend.notify.tables import DeliveryAttempt, Notification
from grid_backend.people.tables import Account
from grid_backend.settings import get_settings

BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(minutes=120),
)  # after the 1st…4th failure; the 5th makes the notification dead
CLAIM = timedelta(seconds=60)


_CLAIM_COLUMNS = (
    Notification.id,
    Notification.recipient,
    Notification.channel,
    Notification.kind,
    Notification.urgent,
    Notification.payload,
    Notification.attempts,
    Notification.webhook,
)


def _claimable(due_by: datetime, current: datetime) -> Any:
    return (
        (Notification.status == "pending")
        & (Notification.due_at <= due_by)
        & (Notification.claimed_until.is_null() | (Notification.claimed_until <= current))
    )


def claim_seconds(count: int) -> timedelta:
    """How long a run holds its rows: 60 s, or longer if its sends could take longer (waves of
    GRID_NOTIFY_CONCURRENCY requests, each up to the timeout, twice over because two runs of
    the job share the requests in flight), so no other run takes them meanwhile."""
    s = get_settings()
    waves = math.ceil(count / s.notify_concurrency)
    return max(CLAIM, timedelta(seconds=waves * s.notify_timeout_seconds * 2 + 10))


async def claim_due(now: datetime, *, limit: int, token: uuid.UUID) -> list[channels.Outgoing]:
    """Take up to `limit` notifications due at `now` for this run (step 1 of delivery)."""
    # a job tick keeps its `now` for every batch; claims run on the clock, or a late batch
    # of a long tick would be held for less than its sends may take
    current = max(now, clock.now().astimezone(UTC))
    if sql.postgres():
        rows = await fetch(_CLAIM_SQL, current + claim_seconds(limit), token, now, current, limit)
        return await _outgoing(rows, {r["id"] for r in rows})
    claimable = _claimable(now, current)
    async with write_transaction():  # SQLite: serialised, so the rows read are still free
        query = (
            Notification.select(*_CLAIM_COLUMNS)
            .where(claimable)
            .order_by(Notification.urgent, ascending=False)  # urgent first, then by due time
            .order_by(Notification.due_at)
            .limit(limit)
            .output(load_json=True)
        )
        rows = await query.run()
        if not rows:
            return []
        taken = await (
            Notification.update(
                {
                    Notification.claimed_until: current + claim_seconds(len(rows)),
                    Notification.claim_token: token,
                }
            )
            .where(Notification.id.is_in([r["id"] for r in rows]) & claimable)
            .returning(Notification.id)
            .run()
        )
    return await _outgoing(rows, {r["id"] for r in taken})


# PostgreSQL: one statement, no transaction around it; parallel runs (other replicas) skip
# the rows another has locked. Held for the longest a full batch may take. Urgent rows first
# (index notification_due_urgent), so an alert never waits behind a routine backlog.
_CLAIM_SQL = """
UPDATE notification SET claimed_until = {}, claim_token = {}
WHERE id IN (
    SELECT id FROM notification
    WHERE status = 'pending' AND due_at <= {} AND (claimed_until IS NULL OR claimed_until <= {})
    ORDER BY urgent DESC, due_at LIMIT {}
    FOR UPDATE SKIP LOCKED)
RETURNING id, recipient, channel, kind, urgent, payload::text AS payload, attempts, webhook"""


async def _outgoing(rows: list[dict[str, Any]], held: set[int]) -> list[channels.Outgoing]:
    phones = await _phones([r["recipient"] for r in rows if r["channel"] == "sms"])
    hooks = await webhooks.targets([r["webhook"] for r in rows if r["channel"] == "webhook"])
    return [
        channels.Outgoing(
            id=r["id"],
            recipient_id=r["recipient"],
            channel=r["channel"],
            kind=r["kind"],
            urgent=r["urgent"],
            payload=_payload(r["payload"]),
            attempts=r["attempts"],
            phone=phones.get(r["recipient"]),
            webhook=r["webhook"],
            target=hooks.get(r["webhook"]),
        )
        for r in rows
        if r["id"] in held
    ]


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, str | bytes):
        value = msgspec.json.decode(value)
    return value if isinstance(value, dict) else {}


async def _phones(account_ids: list[int]) -> dict[int, str]:
    if not account_ids:
        return {}
    rows = (
        await Account.select(Account.id, Account.phone)
        .where(Account.id.is_in(sorted(set(account_ids))))
        .run()
    )
    return {r["id"]: r["phone"] for r in rows}


async def send_all(
    items: list[channels.Outgoing], *, stopping: asyncio.Event | None = None
) -> list[channels.Outcome | None]:
    """Send concurrently, at most GRID_NOTIFY_CONCURRENCY at a time in this process (step 2).
    Once `stopping` is set no further send starts: those items get None."""
    sender = channels.get_sender()

    async def one(item: channels.Outgoing) -> channels.Outcome | None:
        async with sender.gate:
            if stopping is not None and stopping.is_set():
                return None
            return await channels.send(item, sender)

    return list(await asyncio.gather(*(one(item) for item in items)))


_Retry = dict[tuple[int, str, datetime], list[int]]  # (tries, error, due) → ids
_Dead = dict[tuple[int, str], list[int]]  # (tries, error) → ids


async def record(
    items: list[channels.Outgoing], outcomes: list[channels.Outcome], token: uuid.UUID
) -> dict[str, int]:
    """Log every attempt and move each row on: sent, retry later, or dead (step 3)."""
    at = clock.now().astimezone(UTC)
    sent = [i.id for i, o in zip(items, outcomes, strict=True) if o.ok]
    retry, dead = await _failures(items, outcomes, at)
    counts = {
        "sent": len(sent),
        "retried": sum(map(len, retry.values())),
        "dead": sum(map(len, dead.values())),
    }
    if sql.postgres():
        await _record_pg(items, outcomes, token, at, retry, dead)
    else:
        await _record_sqlite(items, outcomes, token, at, sent, retry, dead)
    hooks = [
        (i.webhook, o.ok, o.error)
        for i, o in zip(items, outcomes, strict=True)
        if i.channel == "webhook" and i.webhook is not None
    ]
    if hooks:  # each subscriber's run of failures, and the pause of one that keeps failing
        async with write_transaction():
            await webhooks.account(hooks, at)
    return counts


async def _failures(
    items: list[channels.Outgoing], outcomes: list[channels.Outcome], at: datetime
) -> tuple[_Retry, _Dead]:
    """The failed sends, grouped: retried after the backoff (outside quiet hours unless
    urgent), or dead after the last try."""
    failed = [(i, o) for i, o in zip(items, outcomes, strict=True) if not o.ok]
    quiet = await _prefs_of(
        [i.recipient_id for i, _ in failed if not i.urgent and i.channel != "webhook"]
    )
    retry: _Retry = defaultdict(list)
    dead: _Dead = defaultdict(list)
    for item, outcome in failed:
        tries = item.attempts + 1
        if tries > len(BACKOFF):
            dead[(tries, outcome.error)].append(item.id)
            continue
        due = at + BACKOFF[tries - 1]
        if item.channel not in ("inbox", "webhook") and not item.urgent:
            due = quiet_until(due, quiet[item.recipient_id]) or due
        retry[(tries, outcome.error, due)].append(item.id)
    return retry, dead


async def _record_sqlite(
    items: list[channels.Outgoing],
    outcomes: list[channels.Outcome],
    token: uuid.UUID,
    at: datetime,
    sent: list[int],
    retry: _Retry,
    dead: _Dead,
) -> None:
    mine = (Notification.claim_token == token) & (Notification.status == "pending")
    released: dict[Column | str, Any] = {
        Notification.claimed_until: None,
        Notification.claim_token: None,
    }
    async with write_transaction():
        # a notification deleted meanwhile (its account was removed) has nothing to log to
        still = (
            await Notification.select(Notification.id)
            .where(Notification.id.is_in([i.id for i in items]))
            .run()
        )
        kept = {r["id"] for r in still}
        attempts = [
            DeliveryAttempt(
                notification=i.id,
                channel=i.channel,
                at=at,
                ok=o.ok,
                status_code=o.status_code,
                error=o.error,
                duration_ms=o.duration_ms,
            )
            for i, o in zip(items, outcomes, strict=True)
            if i.id in kept
        ]
        for start in range(0, len(attempts), 1000):  # PostgreSQL takes 32767 parameters
            await DeliveryAttempt.insert(*attempts[start : start + 1000]).run()
        if sent:
            await (
                Notification.update(
                    {
                        Notification.status: "sent",
                        Notification.sent_at: at,
                        Notification.attempts: Notification.attempts + 1,
                        Notification.last_error: "",
                        **released,
                    }
                )
                .where(Notification.id.is_in(sent) & mine)
                .run()
            )
        for (tries, error, due), ids in retry.items():
            await (
                Notification.update(
                    {
                        Notification.attempts: tries,
                        Notification.due_at: due,
                        Notification.last_error: error,
                        **released,
                    }
                )
                .where(Notification.id.is_in(ids) & mine)
                .run()
            )
        for (tries, error), ids in dead.items():
            await (
                Notification.update(
                    {
                        Notification.status: "dead",
                        Notification.attempts: tries,
                        Notification.last_error: error,
                        **released,
                    }
                )
                .where(Notification.id.is_in(ids) & mine)
                .run()
            )


# PostgreSQL: the whole batch in one statement, one array per column: each row this run
# still holds moves on, and every attempt is logged (unless its notification was deleted
# meanwhile, with its account)
_RECORD_SQL = """
WITH v AS (
    SELECT * FROM unnest(
        {}::int[], {}::text[], {}::bool[], {}::int[], {}::text[], {}::int[], {}::text[],
        {}::int[], {}::timestamptz[]
    ) AS v(id, channel, ok, status_code, error, duration_ms, status, attempts, due_at)
), moved AS (
    UPDATE notification n
    SET status = v.status, attempts = v.attempts, due_at = coalesce(v.due_at, n.due_at),
        last_error = v.error, sent_at = CASE WHEN v.ok THEN {} ELSE n.sent_at END,
        claimed_until = NULL, claim_token = NULL
    FROM v
    WHERE n.id = v.id AND n.claim_token = {} AND n.status = 'pending'
)
INSERT INTO delivery_attempt (notification, channel, at, ok, status_code, error, duration_ms)
SELECT v.id, v.channel, {}, v.ok, v.status_code, v.error, v.duration_ms
FROM v WHERE EXISTS (SELECT 1 FROM notification n WHERE n.id = v.id)"""


async def _record_pg(
    items: list[channels.Outgoing],
    outcomes: list[channels.Outcome],
    token: uuid.UUID,
    at: datetime,
    retry: _Retry,
    dead: _Dead,
) -> None:
    due_of = {i: due for (_, _, due), ids in retry.items() for i in ids}
    dead_ids = {i for ids in dead.values() for i in ids}
    status = [
        "sent" if o.ok else "dead" if i.id in dead_ids else "pending"
        for i, o in zip(items, outcomes, strict=True)
    ]
    await fetch(
        _RECORD_SQL,
        [i.id for i in items],
        [i.channel for i in items],
        [o.ok for o in outcomes],
        [o.status_code for o in outcomes],
        [o.error for o in outcomes],
        [o.duration_ms for o in outcomes],
        status,
        [i.attempts + 1 for i in items],
        [due_of.get(i.id) for i in items],
        at,
        token,
        at,
    )


async def deliver_due(now: datetime, *, limit: int = 500) -> dict[str, int]:
    """Claim up to `limit` due notifications, send them, record the outcomes."""
    token = uuid.uuid4()
    items = await claim_due(now.astimezone(UTC), limit=limit, token=token)
    if not items:
        return {"claimed": 0, "sent": 0, "retried": 0, "dead": 0}
    stopping = asyncio.Event()
    sending = asyncio.ensure_future(send_all(items, stopping=stopping))
    try:
        outcomes = await asyncio.shield(sending)
    except asyncio.CancelledError:
        # the run is being stopped (the scheduler's stop, the app's shutdown): the requests
        # in flight finish (each within the timeout) and no new one starts; what was sent is
        # recorded, so a restart does not send it again, and the rest is freed at once
        # rather than when the claim expires
        stopping.set()
        await to_the_end(_wind_down(items, sending, token))
        raise
    # every item was sent: `stopping` is set (and a send skipped, as None) only on cancellation
    sent = cast("list[channels.Outcome]", outcomes)
    return {"claimed": len(items), **await to_the_end(record(items, sent, token))}


async def _wind_down(
    items: list[channels.Outgoing],
    sending: asyncio.Future[list[channels.Outcome | None]],
    token: uuid.UUID,
) -> None:
    outcomes = await sending
    done = [(i, o) for i, o in zip(items, outcomes, strict=True) if o is not None]
    if done:
        await record([i for i, _ in done], [o for _, o in done], token)
    async with write_transaction():
        await (
            Notification.update({Notification.claimed_until: None, Notification.claim_token: None})
            .where((Notification.claim_token == token) & (Notification.status == "pending"))
            .run()
        )


async def to_the_end(work: Any) -> Any:
    """Await `work` to its end even if this task is cancelled meanwhile (a recording cut in
    half would roll back, and everything would be sent again), then pass the cancellation
    on. For short database writes only: a stop waits for them."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
