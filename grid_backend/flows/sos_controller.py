"""The one-tap SOS API (docs/evacuation.md, "One-tap SOS"): in the flows layer, since sending
one runs the report-and-alert flow across hazards and response."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from grid_backend.core.errors import invalid
from grid_backend.core.types import PathId
from grid_backend.flows import sos
from grid_backend.hazards.schemas import SosCreate, SosPhotos, SosRead
from grid_backend.hazards.services import Actor
from grid_backend.people.caller import CurrentMember, Member


def _actor(member: Member) -> Actor:
    return Actor(member.account_id, member.grants)


class SosController(Controller):
    path = "/api/v1/sos"
    tags = ["hazards"]

    @post(
        "",
        summary="One-tap SOS: an urgent case at this position, its grid alerted at once",
        description="Takes an `Idempotency-Key` header (or `client_id`): a retry answers the"
        " first call (200, `Idempotent-Replayed: true`). At most GRID_SOS_PER_WINDOW calls per"
        " GRID_SOS_WINDOW_SECONDS per account: beyond, 429 `sos_rate_limited` with Retry-After.",
    )
    async def send(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        data: JSONBody[SosCreate],
    ) -> Response[SosRead]:
        key = request.headers.get("idempotency-key")
        if key is not None and not 8 <= len(key) <= 100:
            raise invalid("Idempotency-Key", "8 to 100 characters")
        answer, replayed = await sos.send(data=data, actor=_actor(member), idempotency_key=key)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(answer, status_code=200 if replayed else 201, headers=headers)

    @get("/{report_id:int}", summary="One SOS (its sender, or staff covering its grid)")
    async def read(self, member: CurrentMember, report_id: PathId) -> SosRead:
        return await sos.read_sos(report_id=report_id, actor=_actor(member))

    @post(
        "/{report_id:int}/cancel",
        status_code=HTTP_200_OK,
        summary="Cancel a false alarm: its sender, within GRID_SOS_CANCEL_SECONDS",
        description="Closes the case, puts `sos_cancel` on its timeline and tells everyone"
        " alerted (`case.urgent_cancelled`). Again: the same answer. Later: 409"
        " `sos_cancel_expired`; anyone else: 403 (staff who see it) or 404.",
    )
    async def cancel(self, member: CurrentMember, report_id: PathId) -> SosRead:
        return await sos.cancel(report_id=report_id, actor=_actor(member))

    @post(
        "/{report_id:int}/photos",
        status_code=HTTP_200_OK,
        summary="Photos after the call: its sender adds what they could take (uploaded first)",
        description="Adds photos uploaded through POST /api/v1/media to the case's evidence,"
        " puts `photo_added` on its timeline and tells the consoles of its area"
        " (`case.photo_added`). Photos already on the case are skipped, so a retry is"
        " harmless. The sender only, while the case is open: 409 `report_not_open` once it is"
        " closed (a cancelled SOS); staff who see it 403; anyone else 404.",
    )
    async def photos(
        self, member: CurrentMember, report_id: PathId, data: JSONBody[SosPhotos]
    ) -> SosRead:
        return await sos.add_photos(
            report_id=report_id, photo_ids=data.photo_ids, actor=_actor(member)
        )
