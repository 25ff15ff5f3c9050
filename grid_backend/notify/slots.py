"""Live-event streams per account counted across every process: a sorted set in Redis per
account (`{prefix}:streams:{account}`), one member per open stream, scored by the moment its
place expires. An open stream refreshes its place every third of GRID_EVENTS_SLOT_SECONDS; a
process that is killed stops refreshing, so its places lapse after at most that long instead of
being taken for ever. Times are Redis's own clock (`TIME`), so replicas' clocks do not matter.

Members begin with the moment the stream opened (`{ms:015d}:{stream id}`), so sorting them
puts the oldest first: opening one more than the cap removes the oldest, and the stream whose
member was removed closes, wherever it runs (it hears so on its account's channel, or notices
at its next refresh: displaced members are kept a slot long in `…:displaced`). A stream whose
place lapsed while Redis was away takes it again at its next refresh."""

from __future__ import annotations

import asyncio
from typing import Any

DRAIN_SECONDS = 2.0  # longest wait at shutdown for places still being given back

# KEYS[1] the account's set, KEYS[2] the members it displaced lately; ARGV: stream id, slot
# ms, cap. Returns {own member, displaced...}.
_OPEN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local member = string.format('%015d', now) .. ':' .. ARGV[1]
redis.call('ZADD', KEYS[1], now + slot, member)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(members)
local answer = {member}
for i = 1, #members - tonumber(ARGV[3]) do
  redis.call('ZREM', KEYS[1], members[i])
  redis.call('SADD', KEYS[2], members[i])
  redis.call('PEXPIRE', KEYS[2], slot)
  answer[#answer + 1] = members[i]
end
redis.call('PEXPIRE', KEYS[1], slot)
return answer
"""

# KEYS[1] the account's set, KEYS[2] the members it displaced lately; ARGV: member, slot ms.
# 0 if the stream was displaced; else 1, its place renewed, or taken again when it had lapsed
# while Redis could not be reached (or restarted empty): that stream is not one too many.
_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return 0
end
redis.call('ZADD', KEYS[1], now + slot, ARGV[1])
redis.call('PEXPIRE', KEYS[1], slot)
return 1
"""

# KEYS[1] the account's set. How many places are held now.
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


def stream_of(member: str) -> str:
    """The stream id in a member (`{opened ms}:{id}`)."""
    return member.partition(":")[2]


class SharedSlots:
    """The places of one deployment's streams in Redis (its client is the live-event plugin's);
    every call may raise the Redis client's errors, which the caller handles."""

    def __init__(self, redis: Any, *, prefix: str, slot_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self.slot_ms = max(1, round(slot_seconds * 1000))
        self._open = redis.register_script(_OPEN)
        self._refresh = redis.register_script(_REFRESH)
        self._count = redis.register_script(_COUNT)
        self._giving: set[asyncio.Future[Any]] = set()  # places being given back
        self._keeping: set[asyncio.Task[Any]] = set()  # the open streams' refreshing tasks

    def keep(self, refreshing: asyncio.Task[Any]) -> None:
        """A stream's task that refreshes its place: `drain` stops it, should the stream's own
        end never come (a server stopping)."""
        self._keeping.add(refreshing)
        refreshing.add_done_callback(self._keeping.discard)

    def key(self, account_id: int) -> str:
        return f"{self._prefix}:streams:{account_id}"

    def keys(self, account_id: int) -> list[str]:
        """The account's places, and the members they displaced lately."""
        return [self.key(account_id), f"{self.key(account_id)}:displaced"]

    async def open(self, account_id: int, stream_id: str, limit: int) -> tuple[str, list[str]]:
        """Take a place for the stream: its member, and the stream ids that lost theirs (the
        oldest beyond `limit`)."""
        found = await self._open(keys=self.keys(account_id), args=[stream_id, self.slot_ms, limit])
        member, *evicted = (m.decode() if isinstance(m, bytes) else str(m) for m in found)
        return member, [stream_of(m) for m in evicted]

    async def refresh(self, account_id: int, member: str) -> bool:
        """Keep the place another slot; False if a newer stream took it."""
        held = await self._refresh(keys=self.keys(account_id), args=[member, self.slot_ms])
        return bool(held)

    async def close(self, account_id: int, member: str) -> None:
        """Give the place back. It is carried to its end even if the caller is cancelled (a
        stream's handler whose client went away), and `drain` waits for it."""
        giving = asyncio.ensure_future(self._redis.zrem(self.key(account_id), member))
        self._giving.add(giving)
        giving.add_done_callback(self._giving.discard)
        await asyncio.shield(giving)

    async def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        """Wait for the places still being given back (at most `seconds`, then stop them): the
        client's pool is closed next, and a give-back still running then would open a
        connection again behind it, which nobody would ever close. The refreshing tasks of
        streams still open are stopped first, for the same reason."""
        keeping = set(self._keeping)
        for refreshing in keeping:
            refreshing.cancel()
        await asyncio.gather(*keeping, return_exceptions=True)
        if not self._giving:
            return
        _, late = await asyncio.wait(set(self._giving), timeout=seconds)
        for giving in late:  # they lapse by themselves
            giving.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def count(self, account_id: int) -> int:
        return int(await self._count(keys=[self.key(account_id)]))
