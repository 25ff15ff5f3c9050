"""POST requests: a GeoReport v2 form filed as a case through the app's own steps (routing,
SLA, the urgent chain, the live announcement, duplicate suggestions), with channel
open311:<client> and the client's name on the timeline. What the client says about the
reporter is kept privately beside the case."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from grid_backend.core import i18n
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import DomainError
from grid_backend.core.sql import q
from grid_backend.core.types import LINE_PATTERN, TEXT_PATTERN, LocationIn
from grid_backend.hazards import live
from grid_backend.hazards.schemas import ReportCreate
from grid_backend.hazards.services import Actor, possible_duplicates
from grid_backend.hazards.services import submission as hazards
from grid_backend.hazards.services.roles import NO_ACCOUNT
from grid_backend.hazards.tables import HazardReport
from grid_backend.open311 import clients
from grid_backend.open311.render import Open311Error
from grid_backend.open311.services import ATTRIBUTES, check_jurisdiction
from grid_backend.open311.tables import Open311Request
from grid_backend.response import services as response

_LINE = re.compile(LINE_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)
_URL = re.compile(r"^https?://[^\s<>\"']+$")
# field -> longest value; contact fields are the reporter's and never shown publicly
_LIMITS = {
    "service_code": 32,
    "description": 2000,
    "address_string": 255,
    "media_url": 500,
    "email": 255,
    "phone": 32,
    "first_name": 100,
    "last_name": 100,
    "device_id": 100,
    "account_id": 100,
}
# a place named by its code, or by a name only one area of these levels has
_PLACE_SQL = (
    "SELECT a.id, b.min_lat, b.max_lat, b.min_lng, b.max_lng FROM area a"
    " JOIN area_boundary b ON b.area = a.id AND b.valid_to IS NULL"
    " WHERE (a.code = {} OR a.name = {}) AND a.level IN ('community', 'grid', 'micro_grid')"
    " LIMIT 2"
)
_CONTACT = ("email", "phone", "first_name", "last_name", "device_id", "account_id")
_FIELDS = {*_LIMITS, "api_key", "jurisdiction_id", "lat", "long", "address_id"}


def _field(form: Mapping[str, str], name: str) -> str:
    value = form.get(name) or ""
    pattern = _TEXT if name == "description" else _LINE
    if len(value) > _LIMITS[name]:
        raise Open311Error(
            400, "%(field)s may be at most %(n)s characters", {"field": name, "n": _LIMITS[name]}
        )
    if not pattern.match(value):
        raise Open311Error(400, "%(field)s must not contain control characters", {"field": name})
    return value.strip()


def _flag(form: Mapping[str, str], code: str, required: bool) -> bool | None:
    raw = (form.get(f"attribute[{code}]") or "").strip().lower()
    if not raw:
        if required:
            raise Open311Error(400, "attribute[%(code)s] is required", {"code": code})
        return None
    if raw not in ("true", "false"):
        raise Open311Error(400, "attribute[%(code)s] must be true or false", {"code": code})
    return raw == "true"


def _attributes(form: Mapping[str, str]) -> dict[str, bool | None]:
    known = {code for code, _, _ in ATTRIBUTES}
    for name in form:
        if name.startswith("attribute[") and name.removeprefix("attribute[")[:-1] not in known:
            raise Open311Error(
                400, "%(field)s is not an attribute of this service", {"field": name[:60]}
            )
    return {code: _flag(form, code, required) for code, _, required in ATTRIBUTES}


def _number(form: Mapping[str, str], name: str, bound: float) -> float:
    try:
        value = float(form.get(name) or "")
    except ValueError:
        raise Open311Error(400, "%(field)s must be a number", {"field": name}) from None
    if not -bound <= value <= bound:
        raise Open311Error(400, "%(field)s is out of range", {"field": name})
    return value


async def _position(form: Mapping[str, str], address: str) -> LocationIn:
    """lat/long (WGS-84), else an address naming a grid or community (its box's centre)."""
    if form.get("lat") or form.get("long"):
        lat, lng = _number(form, "lat", 90), _number(form, "long", 180)
        return LocationIn(lat=lat, lng=lng, datum="wgs84", source="manual")
    if not address:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    areas = await fetch(q(_PLACE_SQL, address, address))
    if len(areas) != 1:
        raise Open311Error(
            400,
            "address_string must name one grid or community (its name or code); or send lat"
            " and long",
        )
    area = areas[0]
    return LocationIn(
        lat=(area["min_lat"] + area["max_lat"]) / 2,
        lng=(area["min_lng"] + area["max_lng"]) / 2,
        datum="wgs84",
        source="map_pick",
    )


async def _draft(form: Mapping[str, str], client: dict[str, Any]) -> hazards.Draft:
    """The form checked as the app checks a report (category, SLA, the position's grid)."""
    code = _field(form, "service_code")
    if not code:
        raise Open311Error(400, "service_code is required")
    answers = _attributes(form)
    data = ReportCreate(
        category=code,
        location=await _position(form, _field(form, "address_string")),
        description=_field(form, "description"),
        urgent=bool(answers["urgent"]),
        reporter_safe=answers["reporter_safe"],
    )
    actor = Actor(NO_ACCOUNT, [])
    once = hazards.report_once(data, actor, None)
    try:
        draft = await hazards.check_report(
            data, actor, once, channel=f"open311:{client['slug']}", photos_required=False
        )
    except DomainError as exc:
        if exc.code == "category_unknown":
            raise Open311Error(404, "service_code %(code)r was not found", {"code": code}) from None
        raise
    return replace(draft, note=f"Open311: {client['name']}")


async def submit(form: Mapping[str, str]) -> list[dict[str, Any]]:
    """File the request; the spec's answer: its id, a notice, the token that also finds it."""
    check_jurisdiction(form.get("jurisdiction_id"))
    client = await clients.authenticate(form.get("api_key"))
    for name in form:
        if name not in _FIELDS and not name.startswith("attribute["):
            raise Open311Error(
                400, "%(field)s is not a field of a service request", {"field": name[:60]}
            )
    draft = await _draft(form, client)
    media_url = _field(form, "media_url")
    if media_url and not _URL.match(media_url):
        raise Open311Error(400, "media_url must be an http or https URL")
    contact = {name: _field(form, name) for name in _CONTACT}
    token = str(uuid.uuid4())
    once = hazards.report_once(draft.data, draft.actor, None)
    async with write_transaction():
        row = await hazards.store_report(draft, once)
        await Open311Request.insert(
            Open311Request(
                {
                    Open311Request.report: row["id"],
                    Open311Request.client: client["id"],
                    Open311Request.token: token,
                    Open311Request.media_url: media_url or None,
                    Open311Request.address_string: _field(form, "address_string"),
                    **{getattr(Open311Request, name): value for name, value in contact.items()},
                }
            )
        ).run()
        if draft.data.urgent:  # responders and the dispatcher are alerted now, before triage
            await response.alert_urgent(report_id=row["id"])
    await live.announce_new(row["id"], urgent=draft.data.urgent)
    duplicates = await possible_duplicates(
        case=row, radius_m=float(draft.category["duplicate_radius_m"]), dhashes=[]
    )
    if duplicates:  # an internal case is off every public read, this answer too
        hidden = await (
            HazardReport.select(HazardReport.id)
            .where(
                HazardReport.id.is_in([d.id for d in duplicates]) & HazardReport.internal.eq(True)
            )
            .run()
        )
        duplicates = [d for d in duplicates if d.id not in {h["id"] for h in hidden}]
    notice = ""
    if duplicates:  # the office decides; the client may tell its user
        ids = ", ".join(str(d.id) for d in duplicates)
        notice = i18n.gettext("Possibly the same hazard as request(s) %(ids)s", ids=ids)
    return [
        {
            "service_request_id": str(row["id"]),
            "token": token,
            "service_notice": notice,
            "account_id": None,
        }
    ]


def form_of(values: Any) -> dict[str, str]:
    """A form (or query) as one string per field: the first value; files are not taken."""
    found: dict[str, str] = {}
    for key, value in values.multi_items():
        if isinstance(value, str) and key not in found:
            found[key] = value
    return found
