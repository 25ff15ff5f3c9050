"""QR codes at risk points and grids (扫码报灾): issue, reissue, revoke, list, the pictures and
the printable sheet. The scan itself is a public page (web/qr.py, GET /q/{token})."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import MAX_ID, PathId
from grid_backend.evacuation import qrcodes, qrsheet
from grid_backend.evacuation.qrcodes import IssuedAll, QrCodePage, QrCodeRead, QrIssue, QrIssueAll
from grid_backend.people.caller import CurrentMember

AreaId = Annotated[int, QueryParameter(ge=1, le=MAX_ID, description="a community or a grid")]


def _base(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url)


def _file(content: bytes, media_type: str, name: str) -> Response[bytes]:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f"inline; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )


class QrCodeController(Controller):
    """QR codes (扫码报灾) of risk points and grids, kept by those who keep the risk points."""

    path = "/api/v1/qr-codes"
    tags = ["evacuation"]

    @get("", summary="The QR codes of a community or grid")
    async def list_codes(
        self,
        request: Request[Any, Any, Any],
        member: CurrentMember,
        area_id: AreaId,
        revoked: FromQuery[bool] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> QrCodePage:
        return await qrcodes.list_codes(
            area_id=area_id,
            grants=member.grants,
            revoked=revoked,
            limit=limit,
            cursor=cursor,
            base_url=_base(request),
        )

    @post("", summary="Issue a QR code for a risk point or grid (revokes the one it had)")
    async def issue(
        self, request: Request[Any, Any, Any], member: CurrentMember, data: JSONBody[QrIssue]
    ) -> QrCodeRead:
        return await qrcodes.issue(
            data=data, account_id=member.account_id, grants=member.grants, base_url=_base(request)
        )

    @post("/issue-all", status_code=HTTP_200_OK, summary="A QR code for every place that has none")
    async def issue_all(self, member: CurrentMember, data: JSONBody[QrIssueAll]) -> IssuedAll:
        return await qrcodes.issue_all(
            data=data, account_id=member.account_id, grants=member.grants
        )

    @get("/sheet.pdf", summary="The printable A4 sheet of a community's QR codes")
    async def sheet(
        self, request: Request[Any, Any, Any], member: CurrentMember, area_id: AreaId
    ) -> Response[bytes]:
        content = await qrsheet.sheet(
            area_id=area_id, grants=member.grants, base_url=_base(request)
        )
        return _file(content, "application/pdf", f"qr-codes-{area_id}.pdf")

    @get("/{code_id:int}", summary="One QR code")
    async def read(
        self, request: Request[Any, Any, Any], member: CurrentMember, code_id: PathId
    ) -> QrCodeRead:
        return await qrcodes.read_code(
            code_id=code_id, grants=member.grants, base_url=_base(request)
        )

    @get("/{code_id:int}/code.svg", summary="The QR code as SVG")
    async def svg(
        self, request: Request[Any, Any, Any], member: CurrentMember, code_id: PathId
    ) -> Response[bytes]:
        return _file(
            *await qrcodes.picture(
                code_id=code_id, kind="svg", grants=member.grants, base_url=_base(request)
            )
        )

    @get("/{code_id:int}/code.png", summary="The QR code as PNG")
    async def png(
        self, request: Request[Any, Any, Any], member: CurrentMember, code_id: PathId
    ) -> Response[bytes]:
        return _file(
            *await qrcodes.picture(
                code_id=code_id, kind="png", grants=member.grants, base_url=_base(request)
            )
        )

    @delete("/{code_id:int}", status_code=HTTP_200_OK, summary="Revoke a QR code")
    async def revoke(
        self, request: Request[Any, Any, Any], member: CurrentMember, code_id: PathId
    ) -> QrCodeRead:
        return await qrcodes.revoke(
            code_id=code_id,
            account_id=member.account_id,
            grants=member.grants,
            base_url=_base(request),
        )
