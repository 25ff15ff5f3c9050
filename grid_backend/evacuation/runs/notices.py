"""The start's notice to every helper in one set-based INSERT … SELECT (a district has
thousands of helpers: written a row at a time through the outbox's `enqueue_many`, their
notices took longer than the 50,000 tasks).

The rows follow the outbox's rules as the callout fan-out (alerts.fanout) does: the inbox
always, already delivered; push and SMS when the channel can deliver here and the helper's
preferences allow (push on, SMS off without a preferences row), due at once, since the kind is
urgent (quiet hours ignored); one row per dedupe key and channel
(`evacuation:{id}:started:account:{helper}`), so a repeat writes nothing. Each helper's count
of households and people goes into the rendered texts by the database: the payload is rendered
once with markers in their place, and the INSERT replaces the markers per helper."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from grid_backend.core.db import fetch
from grid_backend.core.sql import join, postgres, q, text, typed
from grid_backend.evacuation.runs.phone import shelter_brief
from grid_backend.notify import channels, kinds
from grid_backend.notify import services as notify

KIND = "evacuation.started"
COUNT, PEOPLE = "@@count@@", "@@people@@"

_NOTIFY = (
    "INSERT INTO notification (recipient, kind, channel, payload, urgent, dedupe_key, status,"
    " due_at, claimed_until, claim_token, attempts, last_error, created_at, sent_at, read_at)"
    " SELECT x.helper, {}, ch.channel, {}, {}, {} || CAST(x.helper AS TEXT),"
    " CASE WHEN ch.channel = 'inbox' THEN 'sent' ELSE 'pending' END, {}, NULL, NULL, 0, '',"
    " {}, CASE WHEN ch.channel = 'inbox' THEN {} END, NULL"
    " FROM (SELECT helper, COUNT(*) AS n, SUM(people) AS p FROM evacuation_task"
    " WHERE evacuation = {} GROUP BY helper) x CROSS JOIN ({}) ch"
    " LEFT JOIN notification_preference pr ON pr.account = x.helper"
    " WHERE ch.channel = 'inbox' OR (ch.channel = 'push' AND (pr.push IS NULL OR pr.push))"
    " OR (ch.channel = 'sms' AND pr.sms IS NOT NULL AND pr.sms)"
    " ON CONFLICT (dedupe_key, channel) DO NOTHING RETURNING id, recipient, channel, payload"
)
# the markers, quoted (a number's place in the JSON) first, then inside the texts
_FILLED = (
    "replace(replace(replace(replace({}, '\"@@count@@\"', CAST(x.n AS TEXT)),"
    " '\"@@people@@\"', CAST(x.p AS TEXT)), '@@count@@', CAST(x.n AS TEXT)),"
    " '@@people@@', CAST(x.p AS TEXT))"
)
_CHANNEL_ROW = {
    "inbox": text("SELECT 'inbox' AS channel"),
    "push": text("SELECT 'push' AS channel"),
    "sms": text("SELECT 'sms' AS channel"),
}


async def tell_helpers(
    evacuation_id: int, area_name: str, now: datetime
) -> list[tuple[int, dict[str, Any]]]:
    """Write every helper's notice of the evacuation (in the caller's transaction); the live
    events of the inbox rows, to publish once it commits."""
    spec = kinds.kind_of(KIND)
    data: dict[str, Any] = {
        "evacuation_id": evacuation_id,
        "count": COUNT,
        "people": PEOPLE,
        "area_name": area_name,
    }
    data.update(kinds.render(spec, {**data, "count": COUNT, "people": PEOPLE}))
    payload = q(_FILLED, json.dumps(data, ensure_ascii=False))
    wanted = [c for c in ("push", "sms") if c in spec.channels and channels.enabled(c)]
    rows = await fetch(
        q(
            _NOTIFY,
            typed(KIND, "text"),
            q("CAST({} AS jsonb)", payload) if postgres() else payload,
            typed(spec.urgent, "boolean"),
            typed(f"evacuation:{evacuation_id}:started:account:", "text"),
            typed(now, "timestamptz"),
            typed(now, "timestamptz"),
            typed(now, "timestamptz"),
            evacuation_id,
            join([_CHANNEL_ROW[c] for c in ("inbox", *wanted)], " UNION ALL "),
        )
    )
    live = []
    for r in rows:
        if r["channel"] != "inbox":
            continue
        body = r["payload"]
        body = json.loads(body) if isinstance(body, str) else body
        live.append((r["recipient"], channels.inbox_event(r["id"], KIND, spec.urgent, body)))
    return live


RESIDENT_KIND = "evacuation.notice"
_RESIDENTS = (
    "SELECT h.resident, h.id AS household, s.id AS shelter, s.name, s.lat, s.lng"
    " FROM evacuation_task t JOIN evacuation_household h ON h.id = t.household"
    " LEFT JOIN evacuation_shelter s ON s.id = h.shelter"
    " WHERE t.evacuation = {} AND h.resident IS NOT NULL ORDER BY t.id"
)


async def tell_residents(evacuation_id: int, area_name: str) -> None:
    """Tell each resident linked to a household of the evacuation where to go (in the
    caller's transaction): urgent, with the shelter and a route link. Few households have a
    linked account, so one outbox write each."""
    for r in await fetch(q(_RESIDENTS, evacuation_id)):
        shelter = (
            shelter_brief({**r, "id": r["shelter"], "contact_phone": ""})
            if r["shelter"] is not None
            else None
        )
        await notify.enqueue(
            recipient_id=r["resident"],
            kind=RESIDENT_KIND,
            payload={
                "evacuation_id": evacuation_id,
                "household_id": r["household"],
                "area_name": area_name,
                "shelter_id": r["shelter"],
                "shelter_name": shelter.name if shelter else "—",
                "route_url": shelter.route_url if shelter else "",
                "geo_url": shelter.geo_url if shelter else "",
                "link": "/app/",
            },
            dedupe_key=f"evacuation:{evacuation_id}:notice:{r['household']}:account:{r['resident']}",
        )
