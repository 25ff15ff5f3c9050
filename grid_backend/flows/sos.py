"""One-tap SOS (一键呼救, docs/evacuation.md): an urgent case at the caller's position, filed
and alerted through the same chain as an urgent report (hazards files it, response alerts the
grid's responders and the township in the same transaction), limited per account, idempotent
from the phone's outbox, and cancellable by its sender for a short while."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from limits import RateLimitItem

from grid_backend.core import audit, clock, policy
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import Conflict, DomainError, Forbidden, NotFound
from grid_backend.core.i18n import N_
from grid_backend.core.idempotency import Idempotent, digest
from grid_backend.core.throttle import get_throttle, window
from grid_backend.hazards import live, timeline, webhooks, workflow
from grid_backend.hazards.schemas import ReportCreate, SosCreate, SosRead
from grid_backend.hazards.services import Actor
from grid_backend.hazards.services import submission as hazards
from grid_backend.hazards.services.evidence import add_evidence
from grid_backend.hazards.tables import HazardEvent, HazardReport, ReportPhoto
from grid_backend.response import services as response
from grid_backend.settings import get_settings

CHANNEL = "sos"
CATEGORY = "other"  # a call for help names no hazard type; staff recategorise on triage

_CASE_COLUMNS = (
    HazardReport.id,
    HazardReport.channel,
    HazardReport.status,
    HazardReport.reporter,
    HazardReport.area_path,
    HazardReport.created_at,
    HazardReport.grid.name.as_alias("grid_name"),
    HazardReport.request_digest,
)


def _limit() -> RateLimitItem:
    s = get_settings()
    return window(s.sos_per_window, s.sos_window_seconds)


async def _case(report_id: int) -> dict[str, Any] | None:
    return (
        await HazardReport.select(*_CASE_COLUMNS)
        .where((HazardReport.id == report_id) & (HazardReport.channel == CHANNEL))
        .first()
        .run()
    )


async def read_sos(*, report_id: int, actor: Actor) -> SosRead:
    """The SOS as its sender or the staff covering its grid see it; anyone else: 404."""
    case = await _case(report_id)
    if case is None or not (
        case["reporter"] == actor.account_id
        or policy.allows(actor.grants, "report.read", case["area_path"])
    ):
        raise NotFound("report_not_found")
    return await _answer(case, actor)


async def _answer(case: dict[str, Any], actor: Actor) -> SosRead:
    events = {
        e["action"]: e
        for e in await HazardEvent.select(HazardEvent.action, HazardEvent.data, HazardEvent.at)
        .where(
            (HazardEvent.report == case["id"])
            & HazardEvent.action.is_in(["urgent_alert", "sos_cancel"])
        )
        .output(load_json=True)
        .run()
    }
    alert = events.get("urgent_alert")
    alerted = (alert["data"] or {}) if alert else {}
    cancel = events.get("sos_cancel")
    until = case["created_at"] + timedelta(seconds=get_settings().sos_cancel_seconds)
    return SosRead(
        id=case["id"],
        status=case["status"],
        grid_name=case["grid_name"] or "",
        created_at=case["created_at"],
        cancel_until=until,
        cancellable=cancel is None
        and case["reporter"] == actor.account_id
        and case["status"] in workflow.OPEN
        and clock.now() < until,
        alerted=len(set(alerted.get("responders", [])) | set(alerted.get("dispatchers", []))),
        cancelled_at=cancel["at"] if cancel else None,
        told_of_cancel=int((cancel["data"] or {}).get("told", 0)) if cancel else 0,
        photos=await ReportPhoto.count().where(ReportPhoto.report == case["id"]),
    )


def _once(data: SosCreate, actor: Actor, idempotency_key: str | None) -> Idempotent[SosRead]:
    """The call's idempotency: a retry from the outbox answers the first call again."""

    async def find(key: str) -> dict[str, Any] | None:
        return (
            await HazardReport.select(*_CASE_COLUMNS)
            .where((HazardReport.reporter == actor.account_id) & (HazardReport.client_key == key))
            .first()
            .run()
        )

    async def answer(earlier: dict[str, Any]) -> SosRead:
        return await _answer(earlier, actor)

    return Idempotent(
        idempotency_key or data.client_id,
        digest(data),
        find,
        answer,
        N_("this Idempotency-Key was used for a different SOS"),
    )


async def _admit(account_id: int) -> None:
    """Count one SOS of this account, or refuse it: 429 with Retry-After."""
    throttle, limit = get_throttle(), _limit()
    if await throttle.hit(limit, "sos", str(account_id)):
        return
    s = get_settings()
    seconds = (await throttle.stats(limit, "sos", str(account_id))).retry_after or 1
    raise DomainError(
        "sos_rate_limited",
        status=429,
        headers={"Retry-After": str(seconds)},
        detail="at most %(limit)s SOS calls in %(minutes)s minutes: call 110, 119 or 120"
        " if you are in danger; this app takes one again in %(seconds)s s",
        params={
            "limit": s.sos_per_window,
            "minutes": s.sos_window_seconds // 60,
            "seconds": seconds,
        },
    )


async def send(
    *, data: SosCreate, actor: Actor, idempotency_key: str | None
) -> tuple[SosRead, bool]:
    """File the SOS as an urgent case and alert its grid at once (or answer a retry with the
    first call); True if replayed."""
    once = _once(data, actor, idempotency_key)
    earlier = await once.earlier()
    if earlier is not None:
        return earlier, True
    report = ReportCreate(
        category=CATEGORY,
        location=data.location,
        description=data.description,
        captured_at=data.captured_at,
        urgent=True,
        reporter_safe=False,  # they are calling for help
    )
    draft = await hazards.check_report(report, actor, once, channel=CHANNEL, photos_required=False)
    await _admit(actor.account_id)  # after the checks: a refused position costs no call

    async def create() -> dict[str, Any]:
        async with write_transaction():
            row = await hazards.store_report(draft, once)
            alerted = await response.alert_urgent(report_id=row["id"])
            await audit.record(
                actor_id=actor.account_id,
                action="sos.send",
                object_type="hazard_report",
                object_id=row["id"],
                area_path=row["area_path"],
                detail={"alerted": alerted, "outside_grid": row["outside_grid"]},
            )
        return row

    stored, replayed = await once.run(create)
    if replayed:
        return cast(SosRead, stored), True
    row = cast(dict[str, Any], stored)
    await live.announce_new(row["id"], urgent=True)  # the consoles of its area ring
    case = await _case(row["id"])
    assert case is not None  # committed above
    return await _answer(case, actor), False


async def cancel(*, report_id: int, actor: Actor) -> SosRead:
    """The sender calls off a false alarm within GRID_SOS_CANCEL_SECONDS: the case is closed,
    the cancel is on its timeline, and everyone alerted is told. A repeated cancel answers the
    first; later: 409 sos_cancel_expired; anyone else: 403 (staff who see it) or 404."""
    case = await _case(report_id)
    if case is None:
        raise NotFound("report_not_found")
    if case["reporter"] != actor.account_id:
        if policy.allows(actor.grants, "report.read", case["area_path"]):
            raise Forbidden(N_("only the person who sent an SOS may cancel it"))
        raise NotFound("report_not_found")
    current = await _answer(case, actor)
    if current.cancelled_at is not None:
        return current  # the phone's retry of a cancel that went through
    seconds = get_settings().sos_cancel_seconds
    if clock.now() >= current.cancel_until:
        raise Conflict(
            "sos_cancel_expired",
            detail="an SOS can be cancelled within %(seconds)s s of sending it; tell the"
            " responders yourself that you are safe",
            params={"seconds": seconds},
        )
    if case["status"] not in workflow.OPEN:
        raise Conflict("report_not_open", detail=f"the case is {case['status']}")
    now = clock.now()
    async with write_transaction():
        closed = (
            await HazardReport.update(
                {
                    HazardReport.status: "closed",
                    HazardReport.closed_at: now,
                    HazardReport.updated_at: now,
                    HazardReport.due_at: None,
                }
            )
            .where((HazardReport.id == report_id) & (HazardReport.status == case["status"]))
            .returning(HazardReport.id)
            .run()
        )
        if not closed:  # a cancel racing this one, or staff acting on it meanwhile
            again = await _case(report_id)
            answer = await _answer(again, actor) if again else None
            if answer is not None and answer.cancelled_at is not None:
                return answer
            raise Conflict("report_not_open", detail="the case changed meanwhile")
        told = await response.alert_cancelled(report_id=report_id)
        event_id = await timeline.record_event(
            report_id,
            action="sos_cancel",
            from_status=case["status"],
            to_status="closed",
            actor_id=actor.account_id,
            data={"told": told},
        )
        closed_case = (  # the case as subscribers see it (this flow reads a few columns)
            await HazardReport.select(*webhooks.CASE_COLUMNS)
            .where(HazardReport.id == report_id)
            .first()
            .run()
        )
        assert closed_case is not None  # just updated, in this transaction
        await webhooks.case_moved(
            closed_case,
            {},
            action="sos_cancel",
            from_status=case["status"],
            to_status="closed",
            timeline_event_id=event_id,
        )
        await audit.record(
            actor_id=actor.account_id,
            action="sos.cancel",
            object_type="hazard_report",
            object_id=report_id,
            area_path=case["area_path"],
            detail={"told": told},
        )
    # the consoles of its area stop ringing for it at once
    await live.announce("case.sos_cancelled", [report_id])
    case = await _case(report_id)
    assert case is not None
    return await _answer(case, actor)


async def add_photos(*, report_id: int, photo_ids: list[int], actor: Actor) -> SosRead:
    """Photos the sender takes after the call (none is needed to call; "one may follow"):
    added to the case's evidence, on its timeline, and the case's consoles are told. Photos
    already on it are skipped (the outbox's retry). The sender only, while the case is open:
    staff who see it 403, anyone else 404; a closed case (a cancelled SOS) 409."""
    case = await _case(report_id)
    if case is None:
        raise NotFound("report_not_found")
    if case["reporter"] != actor.account_id:
        if policy.allows(actor.grants, "report.read", case["area_path"]):
            raise Forbidden(N_("only the person who sent an SOS may add its photos"))
        raise NotFound("report_not_found")
    if case["status"] not in workflow.OPEN:
        raise Conflict("report_not_open", detail=f"the case is {case['status']}")
    async with write_transaction():
        added = await add_evidence(report_id, photo_ids, actor.account_id)
        if added:
            await timeline.record_event(
                report_id,
                action="photo_added",
                from_status=case["status"],
                to_status=case["status"],
                actor_id=actor.account_id,
                data={"photos": len(added)},
            )
            await audit.record(
                actor_id=actor.account_id,
                action="sos.photos",
                object_type="hazard_report",
                object_id=report_id,
                area_path=case["area_path"],
                detail={"photos": added},
            )
    if added:
        await live.announce("case.photo_added", [report_id])
    return await _answer(case, actor)
