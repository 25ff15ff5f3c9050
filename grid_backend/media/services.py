"""Photo intake (pipeline off the event loop, content-addressed storage) and who may see what."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from grid_backend.core import audit, policy, sql
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.errors import DomainError, Forbidden, NotFound
from grid_backend.core.metrics import PHOTO_PIPELINE_BUSY, PHOTO_PIPELINE_QUEUE
from grid_backend.media import holders, storage
from grid_backend.media.claims import PhoneClaims
from grid_backend.media.pipeline import (
    DecodeBudget,
    DecoderBusy,
    PhotoRejected,
    ProcessedPhoto,
    process_photo,
)
from grid_backend.media.schemas import PhotoRead, gps_source, photo_urls
from grid_backend.media.tables import Photo, PhotoUpload
from grid_backend.settings import get_settings

logger = logging.getLogger("grid_backend.media")

# too large → 413, not an image we take → 415, damaged → 422
_STATUS = {"photo_too_large": 413, "photo_too_many_pixels": 413, "photo_type_unsupported": 415}


def _rejected(exc: PhotoRejected, field: str) -> DomainError:
    return DomainError(
        exc.code,
        status=_STATUS.get(exc.code, 422),
        detail=exc.message_id,
        params=exc.params,
        errors=[{"field": field, "code": exc.code, "message": exc.detail}],
    )


_limiter: anyio.CapacityLimiter | None = None


def _pipeline_limiter() -> anyio.CapacityLimiter:
    """Decoding is CPU- and memory-bound: run as many at once as there are cores, and queue
    the rest, rather than let 40 threads each hold a decoded 12-megapixel photo."""
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
    return _limiter


_budget: DecodeBudget | None = None


def decode_budget() -> DecodeBudget:
    """The process-wide decoding memory budget (GRID_DECODE_MEMORY_MB): the limiter above counts
    photos, this counts their bytes, so a few huge ones cannot take the memory of many."""
    global _budget
    if _budget is None:
        s = get_settings()
        _budget = DecodeBudget(
            s.decode_memory_mb * 2**20,
            wait_seconds=s.decode_wait_seconds,
            retry_after=max(1, round(s.decode_wait_seconds)),
        )
    return _budget


def _process(upload: Path) -> ProcessedPhoto:
    """Blocking part of intake: decode and derive."""
    s = get_settings()
    return process_photo(
        upload,
        max_bytes=s.media_max_bytes,
        max_pixels=s.media_max_pixels,
        budget=decode_budget(),
    )


_decoding = PHOTO_PIPELINE_BUSY.track_inprogress()(_process)  # holding a pipeline slot


def store_unavailable(exc: storage.StoreUnavailable) -> DomainError:
    """503 with Retry-After for the client; the store's own reason goes to the log."""
    logger.warning("photo store unavailable: %s", exc)
    return DomainError(
        "storage_unavailable",
        status=503,
        detail="photo storage does not answer; send the photo again shortly",
        headers={"Retry-After": "5"},
    )


async def _keep(processed: ProcessedPhoto, upload: Path) -> None:
    """Store the original and its derivatives (GRID_MEDIA_STORE) before the row exists, so a
    row always has its objects."""
    try:
        await storage.current().keep(
            processed.sha256, upload, processed.display, processed.thumbnail
        )
    except storage.StoreUnavailable as exc:
        raise store_unavailable(exc) from exc
    finally:
        upload.unlink(missing_ok=True)  # noqa: ASYNC240 - kept or failed: the spool copy goes


def _read(row: dict[str, Any], already: bool = False) -> PhotoRead:
    display, thumbnail = photo_urls(row["id"])
    return PhotoRead(
        id=row["id"],
        sha256=row["sha256"],
        mime=row["mime"],
        width=row["width"],
        height=row["height"],
        size_bytes=row["size_bytes"],
        display_url=display,
        thumbnail_url=thumbnail,
        gps_lat=row["gps_lat"],
        gps_lng=row["gps_lng"],
        captured_at=row["captured_at"],
        already_stored=already,
        gps_source=gps_source(row),
        captured_source=row.get("captured_source")
        or ("exif" if row["captured_at"] or row.get("captured_local") else None),
    )


def _metadata_columns(processed: ProcessedPhoto, claims: PhoneClaims | None) -> dict[str, Any]:
    """Position and capture time of a new photo: what the file itself says, else what the phone
    read before shrinking it (kept as the phone's claim, with its source)."""
    phone = claims or PhoneClaims()
    columns: dict[str, Any] = {"gps_source": None, "captured_source": None}
    from_file = processed.gps_lat is not None
    lat, lng = (
        (processed.gps_lat, processed.gps_lng) if from_file else (phone.gps_lat, phone.gps_lng)
    )
    if lat is not None:
        columns["gps_source"] = "exif" if from_file else "phone"
    taken = processed.captured_at
    if taken is not None:
        columns["captured_source"] = "exif"
    elif phone.captured_at is not None:
        taken, columns["captured_source"] = phone.captured_at, "phone"
    captured_utc = taken if _aware(taken) else None
    columns.update(
        gps_lat=lat,
        gps_lng=lng,
        captured_at=captured_utc,
        captured_local=taken.isoformat() if taken and not captured_utc else None,
    )
    return columns


async def ingest(
    *, upload: Path, account_id: int, field: str = "file", claims: PhoneClaims | None = None
) -> PhotoRead:
    """Validate, process and store one uploaded photo; the same bytes are stored once (with the
    metadata of their first upload). `claims`: what the phone read from the photo's EXIF."""
    try:
        with PHOTO_PIPELINE_QUEUE.track_inprogress():  # waiting or in the pipeline (/metrics)
            processed = await anyio.to_thread.run_sync(
                _decoding, upload, limiter=_pipeline_limiter()
            )
    except PhotoRejected as exc:
        upload.unlink(missing_ok=True)  # noqa: ASYNC240 - an unlink, microseconds
        raise _rejected(exc, field) from None
    except DecoderBusy as exc:
        upload.unlink(missing_ok=True)  # noqa: ASYNC240 - an unlink, microseconds
        raise DomainError(
            "server_busy",
            status=503,
            detail="the server is decoding other large photos; send this one again shortly",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    await _keep(processed, upload)
    async with write_transaction():
        # One statement for a new photo; DO NOTHING: the same bytes may be stored already, or a
        # parallel upload of them may commit first (PostgreSQL)
        inserted = (
            await Photo.insert(
                Photo(
                    sha256=processed.sha256,
                    mime=processed.mime,
                    width=processed.width,
                    height=processed.height,
                    size_bytes=processed.size_bytes,
                    dhash=processed.dhash,
                    **_metadata_columns(processed, claims),
                )
            )
            .on_conflict(target=Photo.sha256, action="DO NOTHING")
            .returning(*Photo.all_columns())
            .run()
        )
        already = not inserted
        existing = (
            inserted[0]
            if inserted
            else await Photo.select().where(Photo.sha256 == processed.sha256).first().run()
        )
        assert existing is not None  # the row that conflicted: photos are never deleted
        await (
            PhotoUpload.insert(PhotoUpload(photo=existing["id"], account=account_id))
            .on_conflict(target=(PhotoUpload.photo, PhotoUpload.account), action="DO NOTHING")
            .run()
        )
    return _read(existing, already)


async def open_variant(*, sha256: str, variant: storage.Variant) -> Path | storage.ObjectStream:
    """A stored photo's file or byte stream (after the access check)."""
    try:
        return await storage.current().open(sha256, variant)
    except storage.StoreUnavailable as exc:
        raise store_unavailable(exc) from exc
    except storage.ObjectMissing:
        logger.error("photo %s: %s missing from the store", sha256, variant)
        raise NotFound("photo_not_found") from None


def _aware(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is not None


async def get_photo_row(photo_id: int) -> dict[str, Any]:
    row = await Photo.select().where(Photo.id == photo_id).first().run()
    if row is None:
        raise NotFound("photo_not_found")
    return row


async def uploaded_by(photo_ids: list[int], account_id: int) -> set[int]:
    """Which of these photos this account uploaded (only those may be attached by it)."""
    return set(await uploaded_photos(photo_ids, account_id))


async def uploaded_photos(photo_ids: list[int], account_id: int) -> dict[int, dict[str, Any]]:
    """The rows (size, position, dhash) of those of these photos this account uploaded."""
    if not photo_ids:
        return {}
    rows = await fetch(sql.q(_UPLOADED_SQL, account_id, sql.in_("u.photo", photo_ids)))
    return {r["id"]: r for r in rows}


_UPLOADED_SQL = (
    "SELECT p.id, p.width, p.height, p.gps_lat, p.gps_lng, p.gps_source, p.dhash"
    " FROM photo_upload u JOIN photo p ON p.id = u.photo"
    " WHERE u.account = {} AND {}"
)


async def check_access(
    *, photo_id: int, account_id: int, grants: list[policy.Grant], original: bool
) -> dict[str, Any]:
    """The photo row if the caller may see it: its uploader, or anyone who may see a case it
    belongs to; originals only to staff whose area covers such a case (and every read audited)."""
    row = await get_photo_row(photo_id)
    cases = await holders.holders(photo_id)  # the cases it is attached to (hazards.hooks)
    staff_paths = [
        c["area_path"] for c in cases if policy.allows(grants, "report.read", c["area_path"])
    ]
    if original:
        if not staff_paths:
            raise Forbidden()
        await audit.record(
            actor_id=account_id,
            action="photo.original_read",
            object_type="photo",
            object_id=photo_id,
            area_path=staff_paths[0],
            detail={"sha256": row["sha256"]},
        )
        return row
    if staff_paths or any(c["reporter"] == account_id for c in cases):
        return row
    if (
        await PhotoUpload.exists()
        .where((PhotoUpload.photo == photo_id) & (PhotoUpload.account == account_id))
        .run()
    ):
        return row
    raise Forbidden()
