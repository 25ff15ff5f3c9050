"""GeoReport v2 over the case model: discovery, the hazard categories as services, cases as
service requests (only what the public timeline shows), and tokens. Filing a request is in
submit.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from grid_backend.core import clock, i18n
from grid_backend.core.db import fetch
from grid_backend.core.i18n import N_
from grid_backend.core.sql import all_of, in_, q, text
from grid_backend.hazards.services import categories
from grid_backend.hazards.workflow import OPEN, STATUSES
from grid_backend.open311.render import Open311Error, w3c
from grid_backend.settings import get_settings

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-06T00:00:00+08:00"
MAX_DAYS = 90
MAX_REQUESTS = 1000  # GeoReport v2 has no pages: a list is cut here (newest first)
MAX_IDS = 100
ROUND_DIGITS = 3  # about 100 m of latitude: public positions are rounded to this


def check_jurisdiction(jurisdiction_id: str | None) -> None:
    """One jurisdiction per deployment: none given is fine, another one is a 404."""
    if jurisdiction_id and jurisdiction_id != get_settings().open311_jurisdiction:
        raise Open311Error(
            404, "jurisdiction_id %(id)r was not found", {"id": jurisdiction_id[:100]}
        )


def discovery(base_url: str) -> dict[str, Any]:
    return {
        "changeset": CHANGESET,
        "contact": get_settings().open311_contact,
        "key_service": get_settings().open311_contact,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def _service(c: Any) -> dict[str, Any]:
    english = i18n.english()
    return {
        "service_code": c.code,
        "service_name": c.name_en if english else c.name_zh,
        "description": c.name_en if english else f"{c.name_zh}（{c.name_en}）",
        "metadata": True,
        "type": "realtime",
        "keywords": f"{c.name_zh}, {c.name_en}, {c.code}",
        "group": c.group,
    }


async def services() -> list[dict[str, Any]]:
    """The active hazard categories as services."""
    return [_service(c) for c in await categories()]


# the questions a report answers besides its text: the same as the app's report form
ATTRIBUTES = (
    ("urgent", N_("Someone may be hurt soon"), False),
    ("reporter_safe", N_("I am in a safe place"), True),
)


def _attribute(order: int, code: str, question: str, required: bool) -> dict[str, Any]:
    return {
        "variable": True,
        "code": code,
        "datatype": "singlevaluelist",
        "required": required,
        "datatype_description": i18n.gettext("Answer true or false"),
        "order": order,
        "description": i18n.gettext(question),
        "values": [
            {"key": "true", "name": i18n.gettext("Yes")},
            {"key": "false", "name": i18n.gettext("No")},
        ],
    }


async def definition(service_code: str) -> dict[str, Any]:
    """A service's definition: the questions a request answers as attribute[code]."""
    if service_code not in {c.code for c in await categories()}:
        raise Open311Error(404, "service_code %(code)r was not found", {"code": service_code[:40]})
    return {
        "service_code": service_code,
        "attributes": [
            _attribute(i, code, question, required)
            for i, (code, question, required) in enumerate(ATTRIBUTES, start=1)
        ],
    }


# The public view of cases: no reporter, no internal cases, positions rounded; status_notes
# is the latest note of an event the public timeline shows.
_REQUESTS_SQL = (
    "SELECT r.id, r.category, r.status, r.description, r.lat, r.lng, r.created_at,"
    " r.updated_at, r.due_at, r.urgent, t.name AS township_name, c.name AS community_name,"
    " g.name AS grid_name, o.media_url,"
    " (SELECT e.note FROM hazard_event e WHERE e.report = r.id AND e.public AND e.note <> ''"
    "  AND e.action <> 'submit' ORDER BY e.id DESC LIMIT 1) AS status_notes"
    " FROM hazard_report r JOIN area g ON g.id = r.grid"
    " LEFT JOIN area t ON t.id = r.township LEFT JOIN area c ON c.id = r.community"
    " LEFT JOIN open311_request o ON o.report = r.id"
    " WHERE {} ORDER BY r.created_at DESC, r.id DESC LIMIT {}"
)


def _status(status: str) -> str:
    return "open" if status in OPEN else "closed"


def _notice(row: dict[str, Any]) -> str:
    if row["status"] == "merged":
        return i18n.gettext("Merged with another report of the same hazard")
    if row["urgent"] and row["status"] in OPEN:
        return i18n.gettext("Urgent: responders have been alerted")
    return ""


def _request(row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    address = " ".join(n for n in (row["community_name"], row["grid_name"]) if n)
    return {
        "service_request_id": str(row["id"]),
        "status": _status(row["status"]),
        "status_notes": row["status_notes"] or "",
        "service_name": names.get(row["category"], row["category"]),
        "service_code": row["category"],
        "description": row["description"],
        "agency_responsible": row["township_name"] or "",
        "service_notice": _notice(row),
        "requested_datetime": w3c(row["created_at"]),
        "updated_datetime": w3c(row["updated_at"]),
        "expected_datetime": w3c(row["due_at"]) if row["status"] in OPEN else None,
        "address": address,
        "address_id": "",
        "zipcode": "",
        "lat": round(row["lat"], ROUND_DIGITS),
        "long": round(row["lng"], ROUND_DIGITS),
        "media_url": row["media_url"] or "",
    }


async def _names() -> dict[str, str]:
    english = i18n.english()
    return {c.code: c.name_en if english else c.name_zh for c in await categories()}


def _ids(raw: str) -> list[int]:
    ids = []
    for part in raw.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= 2**31 - 1:
            raise Open311Error(400, "service_request_id must be ids separated by commas")
        ids.append(int(part))
    if len(ids) > MAX_IDS:
        raise Open311Error(400, "at most %(n)s service_request_id at once", {"n": MAX_IDS})
    return ids


def _moment(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or not 2000 <= value.year <= 2100:
        raise Open311Error(
            400,
            "%(name)s must be a W3C datetime with its offset, e.g. 2026-12-01T00:00:00Z",
            {"name": name},
        )
    return value


def _period(start_date: str | None, end_date: str | None) -> tuple[datetime, datetime]:
    start, end = _moment(start_date, "start_date"), _moment(end_date, "end_date")
    span = timedelta(days=MAX_DAYS)
    if end is None:
        end = start + span if start is not None else clock.now()
    if start is None:
        start = end - span
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > span:
        raise Open311Error(400, "start_date and end_date may span at most 90 days")
    return start, end


def _statuses(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    wanted = {s.strip() for s in raw.split(",")}
    if not wanted <= {"open", "closed"}:
        raise Open311Error(400, "status must be open or closed (or both, comma separated)")
    return sorted(s for s in STATUSES if _status(s) in wanted)


async def list_requests(
    *,
    service_request_id: str | None,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
) -> list[dict[str, Any]]:
    """Requests by ids (which overrides the other filters, as the spec says) or by service,
    period (requested_datetime, at most 90 days, the last 90 by default) and status."""
    conditions = [text("NOT r.internal")]
    if service_request_id:
        conditions.append(in_("r.id", _ids(service_request_id)))
    else:
        start, end = _period(start_date, end_date)
        conditions += [q("r.created_at >= {}", start), q("r.created_at <= {}", end)]
        if service_code:
            codes = [c.strip() for c in service_code.split(",") if c.strip()][:MAX_IDS]
            conditions.append(in_("r.category", codes))
        statuses = _statuses(status)
        if statuses is not None:
            conditions.append(in_("r.status", statuses))
    rows = await fetch(q(_REQUESTS_SQL, all_of(*conditions), MAX_REQUESTS))
    names = await _names()
    return [_request(r, names) for r in rows]


async def one_request(raw_id: str) -> list[dict[str, Any]]:
    """One request, as a list of one (the spec's shape); 404 for no such public case."""
    # the length first: int() refuses more than 4,300 digits
    if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10) or not (
        1 <= int(raw_id) <= 2**31 - 1
    ):
        raise Open311Error(404, "service_request_id %(id)r was not found", {"id": raw_id[:40]})
    rows = await fetch(
        q(_REQUESTS_SQL, all_of(text("NOT r.internal"), q("r.id = {}", int(raw_id))), 1)
    )
    if not rows:
        raise Open311Error(404, "service_request_id %(id)r was not found", {"id": raw_id})
    return [_request(rows[0], await _names())]


async def token(raw: str) -> list[dict[str, Any]]:
    """The request a token stands for."""
    rows = await fetch(
        q(
            "SELECT o.report FROM open311_request o JOIN hazard_report r ON r.id = o.report"
            " WHERE o.token = {} AND NOT r.internal",
            raw[:36],
        )
    )
    if not rows:
        raise Open311Error(404, "token %(token)r was not found", {"token": raw[:36]})
    return [{"service_request_id": str(rows[0]["report"]), "token": raw}]
