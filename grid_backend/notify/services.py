"""The notification outbox (DESIGN.md §3, §6): enqueue in the caller's transaction, deliver
with retries and backoff, the inbox, preferences and live events.

Enqueue writes one row per channel (the inbox always; push and SMS as the recipient's
preferences allow), unique per (dedupe_key, channel), in the transaction of the event that
caused it: a rolled-back event notifies no one, a repeated one notifies once. An inbox row due
now is delivered at once (it is in the inbox when the transaction commits); everything else is
sent by the `notify.deliver` job through `deliver_due`:

1. claim: due rows get `claimed_until` and a run token (PostgreSQL: one UPDATE of the rows a
   `FOR UPDATE SKIP LOCKED` subquery picked, so parallel runs take disjoint rows; SQLite: a
   serialised write transaction whose UPDATE repeats the "still claimable" condition);
2. send outside any transaction, concurrently (a semaphore of GRID_NOTIFY_CONCURRENCY);
3. record every attempt and the new states at once (PostgreSQL: one statement over arrays),
   only for rows this run still holds. A failure is retried after 1, 5, 30 and 120 minutes;
   the fifth failure is `dead`, keeping the last error.

A run that is stopped (cancelled: the scheduler's stop, the app's shutdown) lets its requests
in flight finish, records them and frees the rows it had not sent. A run that dies between 1
and 3 loses nothing either: its claim expires and the rows are sent again (at least once;
gateways drop repeated notification ids)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import contextvars
import logging
import math
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import msgspec
from litestar.response import ServerSentEventMessage

from grid_backend.core import clock
from grid_backend.core.db import engine, fetch, is_postgres, write_transaction
from grid_backend.core.errors import NotFound, invalid
from grid_backend.core.pagination import cursor_id
from grid_backend.notify import channels, events, kinds
from grid_backend.notify.schemas import (
    NotificationPage,
    NotificationRead,
    PreferencesRead,
    PreferencesWrite,
    QuietHours,
    ReadAllResult,
)
from grid_backend.notify.tables import DeliveryAttempt, Notification, NotificationPreference
from grid_backend.people.tables import Account
from grid_backend.settings import get_settings

logger = logging.getLogger("grid_backend.notify")

BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(minutes=120),
)  # after the 1st…4th failure; the 5th makes the notification dead
CLAIM = timedelta(seconds=60)
HEARTBEAT_SECONDS = 15.0
STREAM_CLOSED_RETRY_MS = 10 * 60 * 1000  # a stream closed for a newer one: reconnect late


# --- preferences ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prefs:
    push: bool = True
    sms: bool = False
    quiet_start: time | None = None
    quiet_end: time | None = None


async def _prefs_of(account_ids: Iterable[int]) -> dict[int, Prefs]:
    ids = sorted(set(account_ids))
    found: dict[int, Prefs] = {}
    for start in range(0, len(ids), 10_000):  # PostgreSQL takes 32767 parameters
        rows = (
            await NotificationPreference.select()
            .where(NotificationPreference.account.is_in(ids[start : start + 10_000]))
            .run()
        )
        for r in rows:
            found[r["account"]] = Prefs(r["push"], r["sms"], r["quiet_start"], r["quiet_end"])
    return {a: found.get(a, Prefs()) for a in ids}


def quiet_until(at: datetime, prefs: Prefs) -> datetime | None:
    """The end of the recipient's quiet period if `at` falls inside one, else None."""
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return None
    zone = get_settings().zone
    local = at.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=zone)
    if ends <= local:  # a period across midnight, entered before midnight
        ends = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return ends.astimezone(UTC)


def _hhmm(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


async def read_preferences(*, account_id: int) -> PreferencesRead:
    """The caller's channels and quiet hours (the defaults when never set)."""
    p = (await _prefs_of([account_id]))[account_id]
    quiet = (
        QuietHours(start=_hhmm(p.quiet_start), end=_hhmm(p.quiet_end))  # type: ignore[arg-type]
        if p.quiet_start is not None and p.quiet_end is not None
        else None
    )
    return PreferencesRead(
        inbox=True,
        push=p.push,
        sms=p.sms,
        quiet_hours=quiet,
        timezone=get_settings().timezone,
        push_available=channels.enabled("push"),
        sms_available=channels.enabled("sms"),
    )


async def write_preferences(*, account_id: int, data: PreferencesWrite) -> PreferencesRead:
    """Replace the caller's channels and quiet hours."""
    start = end = None
    if data.quiet_hours is not None:
        start = time.fromisoformat(data.quiet_hours.start)
        end = time.fromisoformat(data.quiet_hours.end)
        if start == end:
            raise invalid(
                "quiet_hours",
                "start and end must differ",
                code="quiet_hours_invalid",
                detail_zh="免打扰开始和结束时间不能相同",
            )
    row = NotificationPreference(
        account=account_id,
        push=data.push,
        sms=data.sms,
        quiet_start=start,
        quiet_end=end,
        updated_at=clock.now().astimezone(UTC),
    )
    t = NotificationPreference
    async with write_transaction():
        await (
            t.insert(row)
            .on_conflict(
                target=t.account,
                action="DO UPDATE",
                values=[t.push, t.sms, t.quiet_start, t.quiet_end, t.updated_at],
            )
            .run()
        )
    return await read_preferences(account_id=account_id)


# --- enqueue -------------------------------------------------------------------------------


async def enqueue(
    *,
    recipient_id: int,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str,
    urgent: bool = False,
    due_at: datetime | None = None,
    channels: Iterable[str] | None = None,
) -> list[int]:
    """Write the event's notifications in the caller's transaction; the ids of new rows.

    `dedupe_key` names the event for this recipient ("case:42:closed:account:7"): a second
    enqueue with the same key writes nothing. `urgent` (or an urgent kind) ignores quiet
    hours; `channels` narrows or widens the kind's push/SMS channels (the inbox is always
    written); `due_at` delays delivery (a reminder)."""
    rows = await _rows_for(
        recipient_ids=[recipient_id],
        kind=kind,
        payload=payload,
        dedupe_key=lambda _: dedupe_key,
        urgent=urgent,
        due_at=due_at,
        wanted=channels,
    )
    return await _insert(rows, check_reuse=True)


async def enqueue_many(
    *,
    recipient_ids: Iterable[int],
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str,
    urgent: bool = False,
    due_at: datetime | None = None,
    channels: Iterable[str] | None = None,
) -> list[int]:
    """`enqueue` for one event to many people (a callout): one preferences query and batched
    inserts; each recipient's key is `dedupe_key:account:{id}`."""
    ids = list(dict.fromkeys(recipient_ids))
    rows = await _rows_for(
        recipient_ids=ids,
        kind=kind,
        payload=payload,
        dedupe_key=lambda account: f"{dedupe_key}:account:{account}",
        urgent=urgent,
        due_at=due_at,
        wanted=channels,
    )
    return await _insert(rows)


async def _rows_for(
    *,
    recipient_ids: list[int],
    kind: str,
    payload: dict[str, Any],
    dedupe_key: Any,
    urgent: bool,
    due_at: datetime | None,
    wanted: Iterable[str] | None,
) -> list[Notification]:
    spec = kinds.kind_of(kind)
    urgent = urgent or spec.urgent
    requested = set(spec.channels if wanted is None else wanted) | {"inbox"}
    unknown = requested - set(kinds.CHANNELS)
    if unknown:
        raise ValueError(f"unknown notification channels {sorted(unknown)}")
    data = msgspec.to_builtins(payload)  # dates and the like become JSON values
    data.update(kinds.render(spec, data))
    now = clock.now().astimezone(UTC)
    due = now if due_at is None else due_at.astimezone(UTC)
    prefs = await _prefs_of(recipient_ids) if requested & {"push", "sms"} else {}
    live = {c: channels.enabled(c) for c in ("push", "sms")}
    rows = []
    for account in recipient_ids:
        key = dedupe_key(account)
        if len(key) > 200:
            raise ValueError("dedupe_key is longer than 200 characters")
        p = prefs.get(account, Prefs())
        for channel in kinds.CHANNELS:
            if channel not in requested:
                continue
            if channel != "inbox" and not (live[channel] and getattr(p, channel)):
                continue
            at = due
            if channel != "inbox" and not urgent:
                at = quiet_until(due, p) or due
            delivered = channel == "inbox" and due <= now  # the inbox needs no gateway
            rows.append(
                Notification(
                    recipient=account,
                    kind=kind,
                    channel=channel,
                    payload=data,
                    urgent=urgent,
                    dedupe_key=key,
                    status="sent" if delivered else "pending",
                    due_at=at,
                    created_at=now,
                    sent_at=now if delivered else None,
                )
            )
    return rows


async def _insert(rows: list[Notification], *, check_reuse: bool = False) -> list[int]:
    outer = engine().current_transaction.get()
    new: list[dict[str, Any]] = []
    async with write_transaction():
        for start in range(0, len(rows), 500):
            new += (
                await Notification.insert(*rows[start : start + 500])
                .on_conflict(
                    target=(Notification.dedupe_key, Notification.channel), action="DO NOTHING"
                )
                .returning(Notification.id, Notification.channel, Notification.dedupe_key)
                .run()
            )
    written = {(r["dedupe_key"], r["channel"]): r["id"] for r in new}
    if check_reuse and len(written) < len(rows):
        await _check_key_reuse([r for r in rows if (r.dedupe_key, r.channel) not in written])
    live = [
        (row.recipient, channels.inbox_event(written[key], row.kind, row.urgent, row.payload))
        for row in rows
        if row.status == "sent" and (key := (row.dedupe_key, row.channel)) in written
    ]
    if live:
        _publish_after_commit(outer, live)
    return [r["id"] for r in new]


async def _check_key_reuse(skipped: list[Notification]) -> None:
    """A key already used for someone else is a caller's bug that silently loses a
    notification: the key must name the recipient too. Say so loudly, but do not fail the
    caller's transaction over it."""
    keys = sorted({r.dedupe_key for r in skipped})
    rows = (
        await Notification.select(Notification.dedupe_key, Notification.recipient)
        .where(Notification.dedupe_key.is_in(keys))
        .run()
    )
    owners = {(r["dedupe_key"], r["recipient"]) for r in rows}
    for row in skipped:
        if (row.dedupe_key, row.recipient) not in owners:
            logger.error(
                "notification dedupe key %r is already used for another recipient; account %s"
                " was not notified (put the recipient in the key)",
                row.dedupe_key,
                row.recipient,
            )


# Live events must not announce a notification whose transaction may still roll back. Piccolo
# has no commit hook, so when enqueue joins an outer transaction, one task per transaction
# waits (in an empty context, outside it) until Piccolo marks it committed or rolled back.
_waiting: dict[int, tuple[Any, list[tuple[int, dict]]]] = {}
_watchers: set[asyncio.Task] = set()
WATCH_LIMIT_SECONDS = 600.0


def _publish_after_commit(outer: Any, live: list[tuple[int, dict]]) -> None:
    if outer is None:  # enqueue's own transaction, already committed
        for account, event in live:
            events.publish([account], event)
        return
    entry = _waiting.get(id(outer))
    if entry is None or entry[0] is not outer:
        entry = (outer, [])
        _waiting[id(outer)] = entry
        task = asyncio.get_running_loop().create_task(
            _when_committed(outer, entry[1]), context=contextvars.Context()
        )
        _watchers.add(task)
        task.add_done_callback(_watchers.discard)
    entry[1].extend(live)


async def _when_committed(transaction: Any, live: list[tuple[int, dict]]) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + WATCH_LIMIT_SECONDS
    delay = 0.002
    try:
        while loop.time() < give_up:
            await asyncio.sleep(delay)
            if getattr(transaction, "_committed", False):
                for account, event in live:
                    events.publish([account], event)
                return
            if getattr(transaction, "_rolled_back", False):
                return
            delay = min(delay * 2, 0.25)
    finally:
        if _waiting.get(id(transaction), (None,))[0] is transaction:
            del _waiting[id(transaction)]


def publish(account_ids: Iterable[int], event: dict[str, Any]) -> bool:
    """Send a live event to the accounts' own channels (best effort, in-process or Redis)."""
    return events.publish(account_ids, event)


# --- delivery ------------------------------------------------------------------------------

_CLAIM_COLUMNS = (
    Notification.id,
    Notification.recipient,
    Notification.channel,
    Notification.kind,
    Notification.urgent,
    Notification.payload,
    Notification.attempts,
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
    if is_postgres():
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
RETURNING id, recipient, channel, kind, urgent, payload::text AS payload, attempts"""


async def _outgoing(rows: list[dict[str, Any]], held: set[int]) -> list[channels.Outgoing]:
    phones = await _phones([r["recipient"] for r in rows if r["channel"] == "sms"])
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


async def record(
    items: list[channels.Outgoing], outcomes: list[channels.Outcome], token: uuid.UUID
) -> dict[str, int]:
    """Log every attempt and move each row on: sent, retry later, or dead (step 3)."""
    at = clock.now().astimezone(UTC)
    sent = [i.id for i, o in zip(items, outcomes, strict=True) if o.ok]
    failed = [(i, o) for i, o in zip(items, outcomes, strict=True) if not o.ok]
    quiet = await _prefs_of([i.recipient_id for i, _ in failed if not i.urgent])
    retry: dict[tuple[int, str, datetime], list[int]] = defaultdict(list)
    dead: dict[tuple[int, str], list[int]] = defaultdict(list)
    for item, outcome in failed:
        tries = item.attempts + 1
        if tries > len(BACKOFF):
            dead[(tries, outcome.error)].append(item.id)
            continue
        due = at + BACKOFF[tries - 1]
        if item.channel != "inbox" and not item.urgent:
            due = quiet_until(due, quiet[item.recipient_id]) or due
        retry[(tries, outcome.error, due)].append(item.id)
    counts = {
        "sent": len(sent),
        "retried": sum(map(len, retry.values())),
        "dead": sum(map(len, dead.values())),
    }
    if is_postgres():
        await _record_pg(items, outcomes, token, at, retry, dead)
        return counts
    mine = (Notification.claim_token == token) & (Notification.status == "pending")
    released = {Notification.claimed_until: None, Notification.claim_token: None}
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
    return counts


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
    retry: dict[tuple[int, str, datetime], list[int]],
    dead: dict[tuple[int, str], list[int]],
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
    return {"claimed": len(items), **await to_the_end(record(items, outcomes, token))}


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


# --- inbox ---------------------------------------------------------------------------------


def _inbox(account_id: int) -> Any:
    return (
        (Notification.recipient == account_id)
        & (Notification.channel == "inbox")
        & (Notification.status == "sent")
    )


def _encode_cursor(at: datetime, notification_id: int) -> str:
    micros = round(at.timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"n:{micros}:{notification_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, micros, notification_id = raw.split(":")
        if kind == "n":
            at = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(micros))
            return at, cursor_id(notification_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        pass
    raise invalid("cursor", "cursor is not one this server issued", detail_zh="分页游标无效")


_TEXT = frozenset(kinds.TEXT_FIELDS)


def _read(row: dict[str, Any], english: bool) -> NotificationRead:
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    lang = "en" if english else "zh"
    return NotificationRead(
        id=row["id"],
        kind=row["kind"],
        title=payload.get(f"title_{lang}", ""),
        body=payload.get(f"body_{lang}", ""),
        urgent=row["urgent"],
        data={k: v for k, v in payload.items() if k not in _TEXT},
        created_at=row["sent_at"],
        read_at=row["read_at"],
    )


_READ_COLUMNS = (
    Notification.id,
    Notification.kind,
    Notification.urgent,
    Notification.payload,
    Notification.sent_at,
    Notification.read_at,
)


async def unread_count(*, account_id: int) -> int:
    return (
        await Notification.count().where(_inbox(account_id) & Notification.read_at.is_null()).run()
    )


async def list_inbox(
    *,
    account_id: int,
    unread_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
    english: bool = False,
) -> NotificationPage:
    """The caller's inbox, newest first, with the number still unread."""
    condition = _inbox(account_id)
    if unread_only:
        condition = condition & Notification.read_at.is_null()
    if cursor:
        at, before = _decode_cursor(cursor)
        condition = condition & (
            (Notification.sent_at < at)
            | ((Notification.sent_at == at) & (Notification.id < before))
        )
    rows = (
        await Notification.select(*_READ_COLUMNS)
        .where(condition)
        .order_by(Notification.sent_at, Notification.id, ascending=False)
        .limit(limit + 1)
        .output(load_json=True)
        .run()
    )
    next_cursor = None
    if len(rows) > limit:
        del rows[limit:]
        next_cursor = _encode_cursor(rows[-1]["sent_at"], rows[-1]["id"])
    return NotificationPage(
        items=[_read(r, english) for r in rows],
        next_cursor=next_cursor,
        unread_count=await unread_count(account_id=account_id),
    )


async def mark_read(
    *, account_id: int, notification_id: int, english: bool = False
) -> NotificationRead:
    """Mark one of the caller's inbox notifications read (again is harmless)."""
    mine = _inbox(account_id) & (Notification.id == notification_id)
    await (
        Notification.update({Notification.read_at: clock.now().astimezone(UTC)})
        .where(mine & Notification.read_at.is_null())
        .run()
    )
    row = await Notification.select(*_READ_COLUMNS).where(mine).output(load_json=True).first().run()
    if row is None:  # someone else's, not in an inbox, or no such id: all look the same
        raise NotFound("notification_not_found")
    publish([account_id], {"type": "inbox.read", "id": notification_id})
    return _read(row, english)


async def mark_all_read(*, account_id: int) -> ReadAllResult:
    """Mark every inbox notification of the caller read."""
    marked = (
        await Notification.update({Notification.read_at: clock.now().astimezone(UTC)})
        .where(_inbox(account_id) & Notification.read_at.is_null())
        .returning(Notification.id)
        .run()
    )
    if marked:
        publish([account_id], {"type": "inbox.read_all"})
    return ReadAllResult(marked=len(marked), unread_count=await unread_count(account_id=account_id))


# --- live events ---------------------------------------------------------------------------


async def live_stream(
    *, plugin: events.LiveEvents, account_id: int
) -> AsyncIterator[ServerSentEventMessage]:
    """Server-sent events of the caller's own channel, with a comment every
    HEARTBEAT_SECONDS so proxies keep the connection open and clients notice a dead one. At most
    GRID_EVENTS_PER_ACCOUNT streams per account in this process: a new one closes the oldest,
    which gets `event: closed` and a long reconnection delay first."""
    closing = events.STREAMS.open(account_id, get_settings().events_per_account)
    try:
        async with plugin.start_subscription(plugin.channel_of(account_id)) as subscriber:
            yield ServerSentEventMessage(data=None, comment="connected", retry=5000)
            async with contextlib.aclosing(_follow(subscriber, closing)) as messages:
                async for message in messages:
                    yield message
    finally:
        events.STREAMS.close(account_id, closing)


async def _follow(subscriber: Any, closing: asyncio.Event) -> AsyncIterator[ServerSentEventMessage]:
    stream = subscriber.iter_events()

    async def following() -> bytes:
        return await stream.__anext__()

    pending: asyncio.Task[bytes] | None = None
    closed = asyncio.create_task(closing.wait())
    try:
        while True:
            if pending is None:
                pending = asyncio.create_task(following())
            done, _ = await asyncio.wait(
                {pending, closed}, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if closed in done:
                # the browser's EventSource reconnects after `retry` ms: not soon, or the tabs
                # of one account would take turns closing each other
                yield ServerSentEventMessage(
                    data='{"reason":"too_many_streams"}',
                    event="closed",
                    retry=STREAM_CLOSED_RETRY_MS,
                )
                return
            if not done:
                yield ServerSentEventMessage(data=None, comment="heartbeat")
                continue
            try:
                data = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            try:
                name = str(msgspec.json.decode(data).get("type", "message"))
            except (msgspec.DecodeError, AttributeError):
                name = "message"
            yield ServerSentEventMessage(data=data.decode(), event=name)
    finally:
        closed.cancel()
        if pending is not None:
            pending.cancel()
