"""Delivery channels: the in-app inbox, a signed push webhook and an SMS gateway adapter.

Push and SMS go out through one module-level `Sender` per process (`get_sender`): httpx
connection pools created on first use with the notify timeout, and closed by the app's
shutdown hook (`close_client`). It is not the request-scoped `app.state.http` client: the
delivery job runs outside requests, also in the standalone scheduler process, and needs its
own pool size and timeout. Its semaphore bounds the requests in flight for the whole process,
however many delivery runs overlap.

Every request carries the notification id (`X-Grid-Notification-Id`, also as
`Idempotency-Key`): delivery is at least once (a run that dies after sending and before
recording sends again when its claim expires), so gateways drop an id they have already seen.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
import msgspec

from grid_backend.notify import addresses, events, network
from grid_backend.people.phones import mask_phone
from grid_backend.settings import Settings, get_settings

logger = logging.getLogger("grid_backend.notify")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One claimed notification, with what its channel needs to send it."""

    id: int
    recipient_id: int
    channel: str
    kind: str
    urgent: bool
    payload: dict[str, Any]
    attempts: int = 0
    phone: str | None = None
    webhook: int | None = None  # channel webhook: the subscriber
    target: tuple[str, str] | None = None  # channel webhook: its URL and secret


@dataclass(slots=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0


def enabled(channel: str, settings: Settings | None = None) -> bool:
    """Whether a channel can deliver here: in production push and SMS need their gateway;
    in development a missing gateway is a log line that counts as sent."""
    s = settings or get_settings()
    if channel == "push":
        return bool(s.push_webhook_url) or not s.production
    if channel == "sms":
        return bool(s.sms_gateway_url) or not s.production
    return channel == "inbox"


class Sender:
    """This process's way out for push and SMS: the connections, the timeout, and the gate
    that bounds requests in flight across every delivery run of the process.

    Requests go to httpcore, the engine under httpx, directly: a signed webhook wants nothing
    the client adds (cookies, auth, base URLs; redirects least of all, they would carry the
    signature elsewhere), and that layer cost a quarter of the CPU of each request, the
    delivery's bottleneck. For the same reason httpcore reaches the sockets through plain
    asyncio (`network.AsyncioBackend`) instead of anyio. The connections are split into small
    pools taken in turn: httpcore matches every waiting request against every connection of
    its pool whenever a request starts or ends, so one pool of 50 connections spent 3.5 ms of
    CPU per request on the 2-core test machine, pools of 2 about 1 ms. Webhooks have pools
    of their own, whose connections go only where the subscriber rules allow
    (network.PublicOnly): a gateway may be inside the network, a subscriber may not."""

    PER_POOL = 2
    READ_AT_MOST = 64 * 1024  # of an answer: a short one is read whole, its connection kept

    def __init__(self, settings: Settings) -> None:
        tls = httpx.create_ssl_context()  # loading the CA bundle once, not once per pool
        backend = network.backend(settings)
        count = max(1, math.ceil(settings.notify_concurrency / self.PER_POOL))

        def pools(backend: httpcore.AsyncNetworkBackend | None) -> list[Any]:
            return [
                httpcore.AsyncConnectionPool(
                    ssl_context=tls,
                    max_connections=self.PER_POOL,
                    max_keepalive_connections=self.PER_POOL,
                    network_backend=backend,
                )
                for _ in range(count)
            ]

        self._pools = pools(backend)
        self._hook_pools = pools(network.PublicOnly(backend))
        self._turn = itertools.cycle(self._pools)
        self._hook_turn = itertools.cycle(self._hook_pools)
        self.gate = asyncio.Semaphore(settings.notify_concurrency)
        self.extensions = {"timeout": httpx.Timeout(settings.notify_timeout_seconds).as_dict()}
        self.closed = False

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, webhook: bool = False
    ) -> tuple[int, str]:
        """POST and read the answer: its status and the start of its body (a longer body is
        cut short, and its connection closed: only the start is logged). Raises httpcore's
        TimeoutException, or another httpcore or OS error."""
        pool = next(self._hook_turn if webhook else self._turn)
        read = b""
        async with pool.stream(
            "POST", url, headers=list(headers.items()), content=body, extensions=self.extensions
        ) as response:
            async for chunk in response.aiter_stream():
                read += chunk
                if len(read) > self.READ_AT_MOST:
                    break
        return response.status, read[:200].decode(errors="replace")

    async def aclose(self) -> None:
        self.closed = True
        for pool in (*self._pools, *self._hook_pools):
            await pool.aclose()


_sender: Sender | None = None


def get_sender() -> Sender:
    """The process's sender, created on first use with the notify settings."""
    global _sender
    if _sender is None or _sender.closed:
        _sender = Sender(get_settings())
    return _sender


async def close_client() -> None:
    """Close the sender's connections (app shutdown); the next delivery opens new ones."""
    global _sender
    sender, _sender = _sender, None
    if sender is not None:
        await sender.aclose()


_HTTP_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of `timestamp.body`: what X-Grid-Signature carries."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(body: bytes, notification_id: int | str, secret: str) -> dict[str, str]:
    # wall-clock seconds, not the business clock: receivers check freshness against theirs
    headers = {
        "Content-Type": "application/json",
        "X-Grid-Notification-Id": str(notification_id),
        "Idempotency-Key": f"notification-{notification_id}",
    }
    if secret:
        timestamp = str(int(time.time()))
        headers["X-Grid-Timestamp"] = timestamp
        headers["X-Grid-Signature"] = signature(secret, timestamp, body)
    return headers


def _message(item: Outgoing) -> dict[str, Any]:
    p = item.payload
    return {
        "id": item.id,
        "recipient_id": item.recipient_id,
        "kind": item.kind,
        "urgent": item.urgent,
        "title": p.get("title_zh", ""),
        "body": p.get("body_zh", ""),
        "title_en": p.get("title_en", ""),
        "body_en": p.get("body_en", ""),
        "data": {
            k: v for k, v in p.items() if k not in ("title_zh", "title_en", "body_zh", "body_en")
        },
    }


async def _post(sender: Sender, url: str, item: Outgoing | str, body: bytes) -> Outcome:
    """POST a signed body (an outbox item, or a message id sent outside the outbox)."""
    message_id = item if isinstance(item, str) else item.id
    headers = signed_headers(body, message_id, get_settings().push_webhook_secret)
    try:
        status, text = await sender.post(url, body, headers)
    except httpcore.TimeoutException:
        return Outcome(False, error="timeout")
    except (*_HTTP_ERRORS, OSError) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= status < 300:
        return Outcome(True, status_code=status)
    return Outcome(False, status_code=status, error=f"HTTP {status}: {text}")


async def _inbox(item: Outgoing, sender: Sender) -> Outcome:
    events.publish([item.recipient_id], inbox_event(item.id, item.kind, item.urgent, item.payload))
    return Outcome(True)


async def _push(item: Outgoing, sender: Sender) -> Outcome:
    url = get_settings().push_webhook_url
    if not url:
        if not enabled("push"):
            return Outcome(False, error="push is not configured (GRID_PUSH_WEBHOOK_URL)")
        logger.info(
            "push (no gateway) #%s to account %s: %s",
            item.id,
            item.recipient_id,
            item.payload.get("title_zh", ""),
        )
        return Outcome(True)
    return await _post(sender, url, item, msgspec.json.encode(_message(item)))


async def _sms(item: Outgoing, sender: Sender) -> Outcome:
    s = get_settings()
    if not item.phone:
        return Outcome(False, error="the recipient has no phone number")
    text = f"【网格通知】{item.payload.get('title_zh', '')}：{item.payload.get('body_zh', '')}"
    if not s.sms_gateway_url:
        if not enabled("sms"):
            return Outcome(False, error="sms is not configured (GRID_SMS_GATEWAY_URL)")
        logger.info("sms (no gateway) #%s to %s: %s", item.id, mask_phone(item.phone), text)
        return Outcome(True)
    body = msgspec.json.encode({"id": item.id, "to": item.phone, "text": text})
    return await _post(sender, s.sms_gateway_url, item, body)


async def send_text(*, phone: str, text: str, message_id: str, secret: bool = False) -> Outcome:
    """Send one SMS now, outside the outbox: for messages to a number that has no account
    yet (a registration code) or that must not wait for a delivery run. Never raises. In
    development without a gateway it is a log line; `secret` texts (a code) are logged
    only then, and at WARNING so a quiet log shows them."""
    s = get_settings()
    text = f"【网格通知】{text}"
    if not s.sms_gateway_url:
        if not enabled("sms", s):
            return Outcome(False, error="sms is not configured (GRID_SMS_GATEWAY_URL)")
        logger.log(
            logging.WARNING if secret else logging.INFO,
            "sms (no gateway, development) %s to %s: %s",
            message_id,
            mask_phone(phone),
            text,
        )
        return Outcome(True)
    body = msgspec.json.encode({"id": message_id, "to": phone, "text": text})
    return await _post(get_sender(), s.sms_gateway_url, message_id, body)


def webhook_headers(body: bytes, item: Outgoing, secret: str) -> dict[str, str]:
    """A subscriber's headers: the event's id (the same in every retry: receivers drop one
    they have seen), its kind, the delivery's id, and the signature with the subscriber's own
    secret, as push signs (`sha256=` HMAC of `timestamp.body`)."""
    event = str(item.payload.get("id", ""))
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": "grid-backend-webhooks",
        "X-Grid-Event-Id": event,
        "X-Grid-Event": item.kind,
        "X-Grid-Notification-Id": str(item.id),
        "Idempotency-Key": f"event-{event}",
        "X-Grid-Timestamp": timestamp,
        "X-Grid-Signature": signature(secret, timestamp, body),
    }


async def _webhook(item: Outgoing, sender: Sender) -> Outcome:
    if item.target is None:
        return Outcome(False, error="the subscriber is gone")
    url, secret = item.target
    refused = await addresses.address_problem(url)
    if refused:
        return Outcome(False, error=f"refused: {refused}")  # English: the delivery log's
    body = msgspec.json.encode(item.payload)
    headers = webhook_headers(body, item, secret)
    try:
        status, text = await sender.post(url, body, headers, webhook=True)
    except httpcore.TimeoutException:
        return Outcome(False, error="timeout")
    except (*_HTTP_ERRORS, OSError) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= status < 300:
        return Outcome(True, status_code=status)
    return Outcome(False, status_code=status, error=f"HTTP {status}: {text}")


_CHANNELS = {"inbox": _inbox, "push": _push, "sms": _sms, "webhook": _webhook}


async def send(item: Outgoing, sender: Sender) -> Outcome:
    """One attempt to deliver one notification through its channel; never raises."""
    started = time.perf_counter()
    channel = _CHANNELS.get(item.channel)
    try:
        outcome = (
            await channel(item, sender)
            if channel
            else Outcome(False, error=f"unknown channel {item.channel!r}")
        )
    except Exception as exc:  # a bug in one send must not lose the batch's results
        logger.exception("sending notification %s failed", item.id)
        outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    outcome.duration_ms = round((time.perf_counter() - started) * 1000)
    return outcome


def inbox_event(notification_id: int, kind: str, urgent: bool, payload: dict[str, Any]) -> dict:
    """The live event that tells an open app a new inbox item has arrived."""
    return {
        "type": "notification",
        "id": notification_id,
        "kind": kind,
        "urgent": urgent,
        "title_zh": payload.get("title_zh", ""),
        "title_en": payload.get("title_en", ""),
        "body_zh": payload.get("body_zh", ""),
        "body_en": payload.get("body_en", ""),
    }
