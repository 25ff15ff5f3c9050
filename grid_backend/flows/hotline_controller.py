"""The hotline intake API (docs/api.md, "Hotline intake"): in the flows layer, since filing a
call runs the report-and-alert flow across hazards, response and notify."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, QueryParameter

from grid_backend.core.errors import invalid
from grid_backend.core.pagination import Cursor
from grid_backend.core.types import LINE_PATTERN, DatumParam
from grid_backend.flows import hotline
from grid_backend.hazards.schemas import HotlineCreate, HotlineRead, PlacePage
from grid_backend.hazards.services import Actor
from grid_backend.people.caller import CurrentMember, Member

PlaceLimit = Annotated[int, QueryParameter(ge=1, le=20, description="page size, 1–20")]


def _actor(member: Member) -> Actor:
    return Actor(member.account_id, member.grants)


class HotlineController(Controller):
    path = "/api/v1/hotline-reports"
    tags = ["hazards"]

    @post(
        "",
        summary="File a case for a caller (12345/12350 hotline, staff), or attach the call to one",
        description="For the command centre and grid leaders, at places they cover (else 403"
        " `place_outside_your_areas`). The place is `location` (any datum), `area_id` (a"
        " community, grid or micro-grid) or `address` (matched to one by name; else 422"
        " `address_not_matched`); `attach_to` an open case instead adds the call to it. A"
        " registered caller owns the case; any other is texted the case number. Takes an"
        " `Idempotency-Key` header (or `client_id`): a retry answers the first call (200,"
        " `Idempotent-Replayed: true`).",
    )
    async def take_call(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        data: JSONBody[HotlineCreate],
    ) -> Response[HotlineRead]:
        key = request.headers.get("idempotency-key")
        if key is not None and not 8 <= len(key) <= 100:
            raise invalid("Idempotency-Key", "8 to 100 characters")
        answer, replayed = await hotline.take_call(
            data=data, actor=_actor(member), idempotency_key=key
        )
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(answer, status_code=200 if replayed else 201, headers=headers)

    @get("/places", summary="Communities and grids the caller covers, by name (the form's search)")
    async def places(
        self,
        member: CurrentMember,
        q: Annotated[str, QueryParameter(max_length=50, pattern=LINE_PATTERN)] = "",
        datum: DatumParam = "wgs84",
        limit: PlaceLimit = 10,
        cursor: Cursor = None,
    ) -> PlacePage:
        return await hotline.search_places(
            actor=_actor(member), text=q, datum=datum, limit=limit, cursor=cursor
        )
