from __future__ import annotations

from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import File, Stream

from grid_backend.core import clock
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.errors import invalid
from grid_backend.core.openapi import binary, body_operation, text
from grid_backend.core.types import PathId
from grid_backend.core.uploads import read_multipart
from grid_backend.media import claims, services, storage
from grid_backend.media.schemas import PhotoRead
from grid_backend.people.caller import CurrentMember
from grid_backend.settings import get_settings

_MEDIA_TYPES = {"display": "image/jpeg", "thumbnail": "image/jpeg"}


def _matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match may list several tags, weak ones (W/) included, or be "*" (RFC 9110)."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


class MediaController(Controller):
    path = "/api/v1/media"
    tags = ["media"]

    @post(
        "",
        summary="Upload one photo (multipart field `file`)",
        description=(
            "Optional fields `phone_gps_lat`, `phone_gps_lng` (WGS-84 degrees) and"
            " `phone_captured_at` (ISO 8601, offset optional): what the phone read from the"
            " photo's EXIF before shrinking it. Used only when the file itself has none, and"
            " then marked as read on the phone (`gps_source`, `captured_source`: `phone`)."
        ),
        request_max_body_size=None,
        operation_class=body_operation(
            None,
            multipart={
                "file": binary("a JPEG, PNG, WebP or HEIC photo"),
                claims.LAT: text("latitude (WGS-84) the phone read from the photo"),
                claims.LNG: text("longitude (WGS-84) the phone read from the photo"),
                claims.TAKEN_AT: text("capture time the phone read: 2026-05-01T09:30:00+08:00"),
            },
        ),
    )
    async def upload(self, caller: CurrentCaller, request: Request[Any, Any, Any]) -> PhotoRead:
        s = get_settings()
        form = await read_multipart(
            request,
            spool_dir=storage.spool_dir(),
            file_fields=frozenset({"file"}),
            max_file_bytes=s.media_max_bytes,
            max_files=1,
        )
        try:
            if not form.files:
                raise invalid(
                    "file",
                    "attach the photo as the multipart field `file`",
                    code="validation_failed",
                )
            phone = claims.phone_claims(
                {name: form.value(name) for name in claims.FIELDS}, now=clock.now()
            )
            return await services.ingest(
                upload=form.files[0].path, account_id=caller.account_id, claims=phone
            )
        finally:
            form.discard()

    @get("/{photo_id:int}/{variant:str}", summary="A photo: display, thumbnail or original")
    async def read(
        self,
        member: CurrentMember,
        request: Request[Any, Any, Any],
        photo_id: PathId,
        variant: FromPath[Literal["display", "thumbnail", "original"]],
    ) -> Response[Any]:
        grants = member.grants
        row = await services.check_access(
            photo_id=photo_id,
            account_id=member.account_id,
            grants=grants,
            original=variant == "original",
        )
        etag = f'"{row["sha256"][:32]}-{variant}"'
        # content-addressed: a photo's bytes never change, but access may: the browser keeps a
        # private copy and asks every time (an ETag match answers 304 after the access check)
        headers = {
            "ETag": etag,
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(content=b"", status_code=304, headers=headers)
        media_type = _MEDIA_TYPES.get(variant, row["mime"])
        disposition: Literal["attachment", "inline"] = (
            "attachment" if variant == "original" else "inline"
        )
        filename = f"{row['sha256'][:16]}{'.jpg' if variant != 'original' else ''}"
        source = await services.open_variant(sha256=row["sha256"], variant=variant)
        if isinstance(source, Path):
            return File(
                path=source,
                media_type=media_type,
                content_disposition_type=disposition,
                filename=filename,
                headers=headers,
                etag=None,
            )
        # from the object store: through the app (the access check above), never a redirect
        # to the bucket (the pages' CSP allows img-src 'self' only)
        headers["Content-Length"] = str(source.size)
        headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
        if source.last_modified is not None:
            headers["Last-Modified"] = format_datetime(source.last_modified, usegmt=True)
        return Stream(source.chunks, media_type=media_type, headers=headers)
