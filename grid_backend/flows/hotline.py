"""Hotline intake (12345, 12350) and staff reports for a caller (docs/api.md, "Hotline
intake"): the duty officer files the case through the same checks, routing and urgent chain as
the app's reports, or attaches the call to an open case. A caller whose phone is a registered
account owns the case (points, notifications); any other caller is texted the case number and
how to follow it. The caller's phone is kept on the call (hazard_call), never on the timeline."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, cast

from grid_backend.areas.services import places
from grid_backend.core import audit, clock, geo, i18n, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict, DomainError, NotFound, invalid
from grid_backend.core.i18n import N_
from grid_backend.core.idempotency import Idempotent, digest
from grid_backend.core.types import Datum, LocationIn
from grid_backend.hazards import live, workflow
from grid_backend.hazards.schemas import (
    HotlineCreate,
    HotlineRead,
    PlacePage,
    PlaceRead,
    ReportCreate,
)
from grid_backend.hazards.services import Actor
from grid_backend.hazards.services import submission as hazards
from grid_backend.hazards.services.reading import calls_of, read_case_row
from grid_backend.hazards.services.roles import _event
from grid_backend.hazards.tables import HazardReport, HotlineCall
from grid_backend.notify import channels
from grid_backend.people.duty import grants_of
from grid_backend.people.phones import mask_phone, normalise_phone
from grid_backend.people.tables import Account
from grid_backend.response import services as response

logger = logging.getLogger("grid_backend.hotline")

PERMISSION = "report.on_behalf"
HOTLINES = {"hotline_12345": "12345", "hotline_12350": "12350", "staff": "12345"}
SMS_TEXT = N_(
    "Your report is case %(case)s (%(place)s). To follow it, call %(hotline)s and give the case"
    " number."
)


def _outside() -> DomainError:
    return DomainError(
        "place_outside_your_areas",
        status=403,
        field="location",
        detail="you may file cases for callers only at places you cover",
    )


async def _caller_account(phone: str) -> dict[str, Any] | None:
    return (
        await Account.select(Account.id, Account.name)
        .where((Account.phone == phone) & (Account.is_active == True))  # noqa: E712
        .first()
        .run()
    )


async def _place(data: HotlineCreate, scopes: list[str]) -> tuple[LocationIn, str]:
    """The position the case is routed at, and what the officer named (an address)."""
    chosen = [v is not None for v in (data.location, data.area_id, data.address)]
    if sum(chosen) != 1:
        raise DomainError(
            "place_required",
            status=422,
            field="location",
            detail="give exactly one of location, area_id or address",
            errors=[
                {"field": "location", "code": "place_required", "message": "one of three"},
            ],
        )
    if data.location is not None:
        return data.location, ""
    if data.area_id is not None:
        place = await places.place_of(area_id=data.area_id, scopes=scopes)
        if place is None:
            raise _outside()
        field = "area_id"
    else:
        address = (data.address or "").strip()
        place = await places.match_address(address=address, scopes=scopes) if address else None
        if place is None:
            raise invalid(
                "address",
                "no grid or community you cover is named in “%(address)s”: pick the place on"
                " the map or search it by name",
                code="address_not_matched",
                params={"address": address[:60]},
            )
        field = "address"
    if place.lat is None or place.lng is None:
        raise invalid(field, "the place has no boundary yet", code="place_not_routable")
    return LocationIn(lat=place.lat, lng=place.lng, source="manual"), data.address or ""


def _once(data: HotlineCreate, actor: Actor, key: str | None) -> Idempotent[HotlineRead]:
    async def find(k: str) -> dict[str, Any] | None:
        return (
            await HotlineCall.select(HotlineCall.id, HotlineCall.request_digest)
            .where((HotlineCall.taken_by == actor.account_id) & (HotlineCall.client_key == k))
            .first()
            .run()
        )

    async def answer(earlier: dict[str, Any]) -> HotlineRead:
        return await read_call(call_id=earlier["id"], actor=actor)

    return Idempotent(
        key or data.client_id,
        digest(data),
        find,
        answer,
        N_("this Idempotency-Key was used for a different call"),
    )


async def take_call(
    *, data: HotlineCreate, actor: Actor, idempotency_key: str | None
) -> tuple[HotlineRead, bool]:
    """File the call as a case (or attach it to one) and tell the caller; True if replayed."""
    once = _once(data, actor, idempotency_key)
    earlier = await once.earlier()
    if earlier is not None:
        return earlier, True
    scopes = policy.scopes(actor.grants, PERMISSION)
    if not scopes:
        raise _outside()
    phone = normalise_phone(data.caller_phone, "caller_phone")
    account = await _caller_account(phone)
    if data.attach_to is not None:
        return await _attach(data, actor, once, phone, account)
    if not data.category:
        raise invalid("category", "choose the hazard's category", code="category_unknown")
    location, address = await _place(data, scopes)
    report = ReportCreate(
        category=data.category,
        location=location,
        description=data.description,
        photo_ids=data.photo_ids,
        level=data.level,
        urgent=data.urgent,
    )
    draft = await hazards.check_report(
        report, actor, once, channel=data.channel, photos_required=False
    )
    if not policy.allows(actor.grants, PERMISSION, draft.route["area_path"]):
        raise _outside()
    linked = account is not None
    reporter_is_staff = bool(await grants_of(account["id"])) if account else True
    # the call holds the idempotency key; the case is found through it
    draft = replace(
        draft,
        key=None,
        reporter_id=account["id"] if account else None,
        reporter_is_staff=reporter_is_staff,
    )

    async def create() -> dict[str, Any]:
        async with write_transaction():
            row = await hazards.store_report(draft, once)
            call_id = await _store_call(
                data, actor, once, row["id"], phone, account, attached=False, address=address
            )
            if data.urgent:  # responders and the dispatcher are alerted now, before triage
                await response.alert_urgent(report_id=row["id"])
            await audit.record(
                actor_id=actor.account_id,
                action="hotline.file",
                object_type="hazard_report",
                object_id=row["id"],
                area_path=row["area_path"],
                detail={"channel": data.channel, "call_id": call_id, "linked": linked},
            )
        return {**row, "call_id": call_id}

    stored, replayed = await once.run(create)
    if replayed:
        return cast(HotlineRead, stored), True
    row = cast(dict[str, Any], stored)
    await live.announce_new(row["id"], urgent=data.urgent)
    if not linked:
        await _text_caller(row["call_id"], phone, row["id"], draft.route["grid_name"], data.channel)
    return await read_call(call_id=row["call_id"], actor=actor), False


async def _store_call(
    data: HotlineCreate,
    actor: Actor,
    once: Idempotent[Any],
    report_id: int,
    phone: str,
    account: dict[str, Any] | None,
    *,
    attached: bool,
    address: str = "",
) -> int:
    rows = (
        await HotlineCall.insert(
            HotlineCall(
                report=report_id,
                channel=data.channel,
                caller_phone=phone,
                caller_name=data.caller_name.strip(),
                caller_account=account["id"] if account else None,
                taken_by=actor.account_id,
                attached=attached,
                address=address.strip(),
                note=data.description.strip() if attached else "",
                client_key=once.key,
                request_digest=once.digest,
                created_at=clock.now(),
            )
        )
        .returning(HotlineCall.id)
        .run()
    )
    return int(rows[0]["id"])


async def _attach(
    data: HotlineCreate,
    actor: Actor,
    once: Idempotent[Any],
    phone: str,
    account: dict[str, Any] | None,
) -> tuple[HotlineRead, bool]:
    """The call is about an open case: counted as a supporter, its note on the timeline."""
    assert data.attach_to is not None
    case = await read_case_row(data.attach_to)
    if not policy.allows(actor.grants, PERMISSION, case["area_path"]):
        raise NotFound("report_not_found")  # as a case that does not exist: ids are no probe
    if case["status"] not in workflow.OPEN:
        raise Conflict("report_not_open", detail="only open cases can be supported")

    async def create() -> dict[str, Any]:
        async with write_transaction():
            await once.guard()
            call_id = await _store_call(
                data, actor, once, case["id"], phone, account, attached=True
            )
            await (
                HazardReport.update(
                    {
                        HazardReport.supporters: HazardReport.supporters + 1,
                        HazardReport.updated_at: clock.now(),
                    }
                )
                .where(HazardReport.id == case["id"])
                .run()
            )
            await _event(
                case["id"],
                actor,
                action="hotline_call",
                from_status=case["status"],
                to_status=case["status"],
                note=data.description.strip(),
                data={"channel": data.channel, "call_id": call_id},
                public=False,
                path=case["area_path"],
            )
            await audit.record(
                actor_id=actor.account_id,
                action="hotline.attach",
                object_type="hazard_report",
                object_id=case["id"],
                area_path=case["area_path"],
                detail={"channel": data.channel, "call_id": call_id},
            )
        return {"call_id": call_id}

    stored, replayed = await once.run(create)
    if replayed:
        return cast(HotlineRead, stored), True
    call_id = cast(dict[str, Any], stored)["call_id"]
    if account is None:
        await _text_caller(call_id, phone, case["id"], case["grid_name"], data.channel)
    return await read_call(call_id=call_id, actor=actor), False


def sms_text(*, case_id: int, place: str, channel: str) -> str:
    """The SMS to a caller without an account, in the deployment's language."""
    with i18n.language(i18n.DEFAULT_LANGUAGE):
        return i18n.gettext(SMS_TEXT, case=case_id, place=place, hotline=HOTLINES[channel])


async def _text_caller(call_id: int, phone: str, case_id: int, place: str, channel: str) -> None:
    """Text the caller now (after the commit: the SMS adapter may wait on its gateway) and
    record the outcome on the call."""
    text = sms_text(case_id=case_id, place=place, channel=channel)
    outcome = await channels.send_text(phone=phone, text=text, message_id=f"call-{call_id}")
    if not outcome.ok:
        logger.warning("hotline SMS to %s failed: %s", mask_phone(phone), outcome.error)
    await (
        HotlineCall.update(
            {
                HotlineCall.sms_status: "sent" if outcome.ok else "failed",
                HotlineCall.sms_text: text,
                HotlineCall.sms_error: outcome.error[:500],
                HotlineCall.sms_at: clock.now(),
            }
        )
        .where(HotlineCall.id == call_id)
        .run()
    )


async def read_call(*, call_id: int, actor: Actor) -> HotlineRead:
    """A call as the officer who took it (or staff covering its case) sees it."""
    row = (
        await HotlineCall.select(
            HotlineCall.id,
            HotlineCall.report,
            HotlineCall.attached,
            HotlineCall.caller_account,
            HotlineCall.report.status.as_alias("status"),
            HotlineCall.report.area_path.as_alias("area_path"),
            # a join two deep: Piccolo's stubs type the inner foreign key as a plain Column
            HotlineCall.report.grid.name.as_alias("grid_name"),  # type: ignore[union-attr]
            HotlineCall.report.community.name.as_alias("community_name"),  # type: ignore[union-attr]
        )
        .where(HotlineCall.id == call_id)
        .first()
        .run()
    )
    assert row is not None  # found through its key or just written
    show = policy.allows(actor.grants, "report.contact", row["area_path"])
    call = next(c for c in await calls_of(row["report"], show_phone=show) if c.id == call_id)
    return HotlineRead(
        call=call,
        report_id=row["report"],
        status=row["status"],
        attached=row["attached"],
        caller_linked=row["caller_account"] is not None,
        # grid names repeat across communities (第一网格): say whose it is
        place_name=" / ".join(n for n in (row["community_name"], row["grid_name"]) if n),
        case_url=f"/console/cases/{row['report']}",
    )


async def search_places(
    *, actor: Actor, text: str, datum: Datum, limit: int, cursor: str | None
) -> PlacePage:
    """Places the form offers: communities and grids the officer covers, by name."""
    found, following = await places.search_places(
        scopes=policy.scopes(actor.grants, PERMISSION), text=text, limit=limit, cursor=cursor
    )
    items = []
    for p in found:
        lat, lng = p.lat, p.lng
        if lat is not None and lng is not None and datum != "wgs84":
            lng, lat = geo.convert(lng, lat, "wgs84", datum)
        items.append(
            PlaceRead(
                id=p.id,
                code=p.code,
                name=p.name,
                level=p.level,
                parent_name=p.parent_name,
                lat=lat,
                lng=lng,
            )
        )
    return PlacePage(items=items, next_cursor=following)
