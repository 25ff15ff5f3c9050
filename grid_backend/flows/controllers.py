"""The API endpoints that run a flow, so they sit in the flows layer above the domains (a
domain's own controllers call only its services and those below): the case API (filing a
report, acting on a case, with the case reads beside them), the caller's cases and points, the
SLA rules, and asking for a sign-up code."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED
from piccolo.columns import Column

from grid_backend.areas.services import area_path_of
from grid_backend.areas.tables import Area
from grid_backend.core import audit, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import (
    ENCODING_INVALID,
    DomainError,
    invalid,
    validation_item,
)
from grid_backend.core.openapi import binary, body_operation, text
from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import LINE_PATTERN, PathId, QueryId, in_window
from grid_backend.core.uploads import read_multipart
from grid_backend.flows import cases as case_flow
from grid_backend.flows import reports as report_flow
from grid_backend.flows import signup as signup_flow
from grid_backend.hazards import rewards, services
from grid_backend.hazards.schemas import (
    ActionIn,
    DuplicateCheck,
    DuplicateRead,
    PointsRead,
    ReportCreate,
    ReportPage,
    ReportRead,
    SlaRuleRead,
    SlaRuleWrite,
)
from grid_backend.hazards.tables import SlaRule
from grid_backend.hazards.workflow import STATUSES
from grid_backend.media import storage
from grid_backend.media.services import ingest
from grid_backend.people.caller import CurrentMember, Member
from grid_backend.people.controllers import client_address
from grid_backend.people.schemas import CodeRequestIn, CodeSent
from grid_backend.settings import get_settings

MAX_JSON_BYTES = 64 * 1024
_LOCATION_FIELDS = ("lat", "lng", "datum", "accuracy_m", "source", "is_mock")
Status = Literal[STATUSES]  # type: ignore[valid-type]  # a Literal built from the workflow's statuses, for the query parameter


def _actor(member: Member) -> services.Actor:
    return services.Actor(member.account_id, member.grants)


def _decode(raw: bytes | str, kind: type) -> Any:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        item = validation_item(str(exc))
        raise DomainError(
            "validation_failed",
            status=422,
            field=item["field"],
            detail="%(schema_message)s",  # msgspec's English; zh-CN shows a fixed text
            params={"schema_message": item["message"]},
            errors=[item],
        ) from None
    except msgspec.DecodeError as exc:
        raise invalid("body", "not JSON: %(error)s", params={"error": exc}) from None
    except UnicodeDecodeError:
        raise ENCODING_INVALID from None


def _form_to_json(form: Any) -> bytes:
    """Multipart submissions carry the report as a `data` JSON field or as plain fields."""
    if form.value("data") is not None:
        return form.value("data").encode()
    body: dict[str, Any] = {}
    location: dict[str, Any] = {}
    for name, values in form.fields.items():
        value: Any = values[-1]
        if name in ("lat", "lng", "accuracy_m"):
            value = _number(name, value)
        elif name in ("is_mock", "urgent", "reporter_safe"):
            value = value.strip().lower() in ("1", "true", "yes", "on")
        elif name == "photo_ids":
            value = [_photo_id(v) for v in values if v.strip()]
        (location if name in _LOCATION_FIELDS else body)[name] = value
    if location:
        body["location"] = location
    return msgspec.json.encode(body)


def _photo_id(value: str) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise invalid("photo_ids", "expected photo ids (digits)")
    return int(value)  # the range is checked with the rest of the report


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise invalid(f"location.{name}", "expected a number") from None


class ReportController(Controller):
    path = "/api/v1/reports"
    tags = ["hazards"]

    @post(
        "",
        summary="Report a hazard (JSON with photo_ids, or multipart with photos)",
        request_max_body_size=None,
        operation_class=body_operation(
            ReportCreate,
            multipart={
                "data": text(
                    "the report as JSON (the JSON body's fields), or send them as plain fields"
                ),
                "photos": binary("1–9 photos: JPEG, PNG, WebP or HEIC", many=True),
            },
        ),
    )
    async def submit(
        self, member: CurrentMember, request: Request[Any, Any, Any]
    ) -> Response[ReportRead]:
        actor = _actor(member)
        key = request.headers.get("idempotency-key")
        if key is not None and not 8 <= len(key) <= 100:
            raise invalid("Idempotency-Key", "8 to 100 characters")
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            s = get_settings()
            form = await read_multipart(
                request,
                spool_dir=storage.spool_dir(),
                file_fields=frozenset({"photos", "file"}),
                max_file_bytes=s.media_max_bytes,
                max_files=s.media_max_photos,
            )
            try:
                body = _decode(_form_to_json(form), ReportCreate)
                uploaded = [
                    await ingest(upload=f.path, account_id=member.account_id, field=f.field)
                    for f in form.files
                ]
            finally:
                form.discard()
            body = msgspec.structs.replace(
                body, photo_ids=[*body.photo_ids, *[p.id for p in uploaded]]
            )
        else:
            raw = await _limited_body(request)
            body = _decode(raw, ReportCreate)
        report, replayed = await report_flow.submit(data=body, actor=actor, idempotency_key=key)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(report, status_code=200 if replayed else 201, headers=headers)

    @post(
        "/possible-duplicates",
        status_code=HTTP_200_OK,
        summary='Possible duplicates of a report before it is sent (to offer "me too")',
    )
    async def possible_duplicates(
        self, member: CurrentMember, data: JSONBody[DuplicateCheck]
    ) -> list[DuplicateRead]:
        return await services.check_duplicates(data=data, actor=_actor(member))

    @get("", summary="Cases the caller may see, filtered and paginated")
    async def list_reports(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        status: FromQuery[list[Status] | None] = None,
        category: Annotated[str | None, QueryParameter(max_length=32, pattern=LINE_PATTERN)] = None,
        level: FromQuery[Literal["general", "major"] | None] = None,
        area_id: QueryId = None,
        assignee_id: QueryId = None,
        overdue: FromQuery[bool | None] = None,
        urgent: FromQuery[bool | None] = None,
        created_from: FromQuery[datetime | None] = None,
        created_to: FromQuery[datetime | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=100, pattern=LINE_PATTERN)] = None,
        due_on: Annotated[
            date | None, QueryParameter(description="deadline on this local day (GRID_TIMEZONE)")
        ] = None,
        dispatched_by: Annotated[
            Literal["me"] | None, QueryParameter(description="cases the caller dispatched")
        ] = None,
        sort: Annotated[
            Literal["newest", "oldest", "due", "urgent"],
            QueryParameter(
                description="newest first, oldest first, nearest deadline first, or urgent"
                " cases first and then by nearest deadline"
            ),
        ] = "newest",
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> ReportPage:
        in_window("created_from", created_from)
        in_window("created_to", created_to)
        in_window("due_on", due_on)
        actor = _actor(member)
        area_path = await area_path_of(area_id)
        return await services.list_reports(
            actor=actor,
            status=status,
            category=category,
            level=level,
            area_path=area_path,
            assignee_id=assignee_id,
            is_overdue=overdue,
            urgent=urgent,
            created_from=created_from,
            created_to=created_to,
            text=q,
            due_on=due_on,
            dispatched_by=member.account_id if dispatched_by == "me" else None,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )

    @get("/{report_id:int}", summary="One case with photos, timeline and the caller's actions")
    async def read(
        self, member: CurrentMember, request: Request[Any, Any, Any], report_id: PathId
    ) -> ReportRead:
        return await services.read_report(report_id=report_id, actor=_actor(member))

    @post("/{report_id:int}/actions", status_code=HTTP_200_OK, summary="Take a workflow action")
    async def act(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        report_id: PathId,
        data: JSONBody[ActionIn],
    ) -> ReportRead:
        return await case_flow.act(report_id=report_id, data=data, actor=_actor(member))

    @post(
        "/{report_id:int}/support",
        status_code=HTTP_200_OK,
        summary='Say "me too" on an open case instead of reporting it again',
    )
    async def support(self, member: CurrentMember, report_id: PathId) -> dict[str, int]:
        count = await services.support(report_id=report_id, actor=_actor(member))
        return {"report_id": report_id, "supporters": count}


async def _limited_body(request: Request[Any, Any, Any]) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise DomainError("payload_too_large", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


class MyCasesController(Controller):
    path = "/api/v1/me"
    tags = ["hazards"]

    @get("/reports", summary="The caller's own reports, in plain language")
    async def my_reports(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> ReportPage:
        return await services.list_reports(
            actor=_actor(member),
            mine=True,
            limit=limit,
            cursor=cursor,
        )

    @get("/points", summary="Reward points: balance and entries")
    async def my_points(
        self, caller: CurrentCaller, limit: Limit = 50, cursor: Cursor = None
    ) -> PointsRead:
        return await rewards.statement(account_id=caller.account_id, limit=limit, cursor=cursor)


class SlaController(Controller):
    path = "/api/v1/sla-rules"
    tags = ["hazards"]

    @get("", summary="Deadlines by category and level")
    async def list_rules(self, caller: CurrentCaller) -> list[SlaRuleRead]:
        rows = await SlaRule.select().order_by(SlaRule.category).order_by(SlaRule.level).run()
        return [
            SlaRuleRead(
                category=r["category"],
                level=r["level"],
                triage_minutes=r["triage_minutes"],
                acknowledge_minutes=r["acknowledge_minutes"],
                rectify_minutes=r["rectify_minutes"],
            )
            for r in rows
        ]

    @put("", summary="Set the deadlines of a category and level (admins)")
    async def set_rule(self, member: CurrentMember, data: JSONBody[SlaRuleWrite]) -> SlaRuleRead:
        grants = member.grants
        city = await Area.select(Area.path).where(Area.level == "city").first().run()
        policy.require(grants, "sla.write", city["path"] if city else "\x00")
        if data.category:
            await services._category(data.category)
        values: dict[Column | str, Any] = {
            SlaRule.triage_minutes: data.triage_minutes,
            SlaRule.acknowledge_minutes: data.acknowledge_minutes,
            SlaRule.rectify_minutes: data.rectify_minutes,
        }
        async with write_transaction():
            where = (SlaRule.category == data.category) & (SlaRule.level == data.level)
            if await SlaRule.exists().where(where).run():
                await SlaRule.update(values).where(where).run()
            else:
                await SlaRule.insert(
                    SlaRule(
                        category=data.category,
                        level=data.level,
                        triage_minutes=data.triage_minutes,
                        acknowledge_minutes=data.acknowledge_minutes,
                        rectify_minutes=data.rectify_minutes,
                    )
                ).run()
            await audit.record(
                actor_id=member.account_id,
                action="sla.set",
                object_type="sla_rule",
                object_id=f"{data.category or '*'}:{data.level}",
                detail=msgspec.to_builtins(data),
            )
        return SlaRuleRead(**msgspec.to_builtins(data))


class SignupController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/register/code",
        status_code=HTTP_202_ACCEPTED,
        summary="Text a registration code to a phone (the same answer for every number)",
    )
    async def register_code(
        self, data: JSONBody[CodeRequestIn], request: Request[Any, Any, Any]
    ) -> CodeSent:
        return await signup_flow.request_code(phone=data.phone, address=client_address(request))
