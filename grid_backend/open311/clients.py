"""Open311 clients (integrators) and their API keys: issued by admins, shown once, stored as
SHA-256, revocable, each with its own rate limit (core/throttle)."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from grid_backend.areas.tables import Area
from grid_backend.core import audit, clock, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict, NotFound, invalid
from grid_backend.core.idempotency import is_unique_violation
from grid_backend.core.pagination import decode_cursor, next_cursor
from grid_backend.core.throttle import get_throttle, window
from grid_backend.open311.render import Open311Error
from grid_backend.open311.schemas import ClientCreate, ClientIssued, ClientPage, ClientRead
from grid_backend.open311.tables import Open311Client
from grid_backend.settings import get_settings

KEY_BYTES = 32
_SLUG = re.compile(r"[^a-z0-9]+")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def require_admin(grants: list[policy.Grant]) -> None:
    """Only admins (a duty at the city) manage Open311 clients."""
    city = await Area.select(Area.path).where(Area.level == "city").first().run()
    policy.require(grants, "open311.manage", city["path"] if city else "\x00")


def _read(row: dict[str, Any]) -> ClientRead:
    return ClientRead(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        key_prefix=row["key_prefix"],
        active=row["active"],
        requests_per_minute=row["requests_per_minute"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        channel=f"open311:{row['slug']}",
    )


def _slug_of(data: ClientCreate) -> str:
    slug = data.slug or _SLUG.sub("-", data.name.lower()).strip("-")[:40]
    if not slug:
        raise invalid("slug", "give a slug of lower-case letters, digits and hyphens")
    return slug


async def list_clients(*, limit: int, cursor: str | None) -> ClientPage:
    """Every client, newest first, a page at a time."""
    query = Open311Client.select().order_by(Open311Client.id, ascending=False).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Open311Client.id < after)
    rows = await query.run()
    following = next_cursor(rows, limit)  # drops the extra row
    return ClientPage(items=[_read(r) for r in rows], next_cursor=following)


async def create_client(*, data: ClientCreate, by: int | None) -> ClientIssued:
    """A new client with a new key; the key is in this answer and nowhere else, ever."""
    slug = _slug_of(data)
    key = secrets.token_urlsafe(KEY_BYTES)
    taken = Conflict(detail="an Open311 client with this slug exists already")
    try:
        async with write_transaction():
            if await Open311Client.exists().where(Open311Client.slug == slug).run():
                raise taken
            row = await _insert_client(data, slug, key, by)
    except Exception as exc:
        if is_unique_violation(exc):  # the same slug created at the same moment
            raise taken from None
        raise
    return ClientIssued(client=_read(row), api_key=key)


async def _insert_client(data: ClientCreate, slug: str, key: str, by: int | None) -> Any:
    """The client's row, audited (in the caller's transaction)."""
    row = (
        await Open311Client.insert(
            Open311Client(
                name=data.name.strip(),
                slug=slug,
                key_hash=key_hash(key),
                key_prefix=key[:6],
                active=True,
                requests_per_minute=data.requests_per_minute,
                created_by=by,
                created_at=clock.now(),
            )
        )
        .returning(*Open311Client.all_columns())
        .run()
    )[0]
    await audit.record(
        actor_id=by,
        action="open311_client.create",
        object_type="open311_client",
        object_id=row["id"],
        detail={"name": row["name"], "slug": slug, "key_prefix": row["key_prefix"]},
    )
    return row


async def revoke_client(*, client_id: int, by: int) -> ClientRead:
    """Revoke a client's key: its requests are refused from now on (its cases stay)."""
    async with write_transaction():
        row = await Open311Client.select().where(Open311Client.id == client_id).first().run()
        if row is None:
            raise NotFound(detail="no such Open311 client")
        if row["active"]:
            now = clock.now()
            await (
                Open311Client.update({Open311Client.active: False, Open311Client.revoked_at: now})
                .where(Open311Client.id == client_id)
                .run()
            )
            row.update(active=False, revoked_at=now)
            await audit.record(
                actor_id=by,
                action="open311_client.revoke",
                object_type="open311_client",
                object_id=client_id,
                detail={"slug": row["slug"]},
            )
    return _read(row)


async def authenticate(api_key: str | None) -> dict[str, Any]:
    """The active client of this key, after counting the request against its rate limit."""
    if not api_key:
        raise Open311Error(401, "an api_key is required to create a service request")
    row = (
        await Open311Client.select()
        .where(Open311Client.key_hash == key_hash(api_key))
        .first()
        .run()
    )
    if row is None or not row["active"]:
        raise Open311Error(403, "invalid api_key received -- cannot create the service request")
    limit = window(row["requests_per_minute"], 60)
    throttle = get_throttle()
    if not await throttle.hit(limit, "open311", str(row["id"])):
        wait = (await throttle.stats(limit, "open311", str(row["id"]))).retry_after or 1
        error = Open311Error(429, "too many requests for this api_key; try again later")
        error.headers = {"Retry-After": str(wait)}
        raise error
    return row


async def check_read_rate(address: str) -> None:
    """Public reads (no key) per client address: GRID_OPEN311_READS_PER_MINUTE, then 429 with
    Retry-After, in the spec's error format."""
    limit = window(get_settings().open311_reads_per_minute, 60)
    throttle = get_throttle()
    if not await throttle.hit(limit, "open311-read", address):
        wait = (await throttle.stats(limit, "open311-read", address)).retry_after or 1
        error = Open311Error(429, "too many requests from this address; try again later")
        error.headers = {"Retry-After": str(wait)}
        raise error
