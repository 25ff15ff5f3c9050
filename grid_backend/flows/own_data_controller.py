"""A resident's own data (docs/privacy.md): the copy as a ZIP and the deletion of the account;
in the flows layer, since both span people, hazards, media, notify and evacuation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK

from grid_backend.core.auth import CurrentCaller, SignedCaller
from grid_backend.core.errors import invalid
from grid_backend.flows import own_data
from grid_backend.people.controllers import client_address
from grid_backend.people.schemas import DeletionIn, DeletionRead


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    try:
        async with await anyio.open_file(path, "rb") as handle:
            while chunk := await handle.read(64 * 1024):
                yield chunk
    finally:
        await anyio.Path(path).unlink(missing_ok=True)


class OwnDataController(Controller):
    path = "/api/v1/me"
    tags = ["people"]

    @get(
        "/data-export",
        summary="A copy of everything held about the caller, as a ZIP of JSON files and photos",
        description="Account, own reports with their public timeline and the photos the caller"
        " attached (display copies), points, notifications, supports, notification settings,"
        " sessions and evacuation answers; nothing of anyone else and no staff notes. Audited."
        f" At most {own_data.EXPORTS_PER_HOUR} an hour per account: beyond, 429"
        " `export_rate_limited` with Retry-After.",
    )
    async def data_export(self, caller: CurrentCaller) -> Stream:
        path, counts = await own_data.export(account_id=caller.account_id)
        stamp = f"{caller.account_id}"
        return Stream(
            _chunks(path),
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="my-data-{stamp}.zip"',
                "Content-Length": str(counts["bytes"]),
                "X-Report-Count": str(counts["reports"]),
                "X-Photo-Count": str(counts["photos"]),
                "Cache-Control": "no-store",
            },
        )

    @post(
        "/deletion",
        status_code=HTTP_200_OK,
        summary="Delete the caller's account (residents; the password again)",
        description="Erases the name, phone, password, sessions, notifications, settings and"
        " household link; the caller's reports stay as the office's cases under an anonymous"
        " reporter (docs/privacy.md). Every access and refresh token stops working. Takes an"
        " `Idempotency-Key` header; a retry (or a second request) with the old token answers"
        " the same result. 403 `password_wrong`; 403 `staff_account_not_deletable` for an"
        " account that has held a duty (an administrator deactivates those).",
    )
    async def delete_account(
        self,
        signed_caller: SignedCaller,
        request: Request[Any, Any, Any],
        data: JSONBody[DeletionIn],
    ) -> Response[DeletionRead]:
        key = request.headers.get("idempotency-key")
        if key is not None and not 8 <= len(key) <= 100:
            raise invalid("Idempotency-Key", "8 to 100 characters")
        answer = await own_data.delete_account(
            account_id=signed_caller.account_id,
            password=data.password,
            address=client_address(request),
            idempotency_key=key,
        )
        return Response(answer, status_code=200)
