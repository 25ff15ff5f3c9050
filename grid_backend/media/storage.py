"""Content-addressed photo objects, on local disk under GRID_MEDIA_ROOT or in an S3-compatible
object store (GRID_MEDIA_STORE=s3, media/objectstore.py), under the same keys:

    originals/ab/<sha256>     the bytes as uploaded: evidence, served only to staff
    display/ab/<sha256>.jpg   upright, ≤ 2048 px, no metadata
    thumbs/ab/<sha256>.jpg    ≤ 320 px
Either store shows an object whole or not at all (a local file is written to a temporary name
and renamed; an S3 PUT or multipart upload appears when complete), and keeps the first copy
of identical bytes. Uploads spool to local disk (spool_dir) whichever store keeps them."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import anyio.to_thread

from grid_backend.settings import get_settings

logger = logging.getLogger("grid_backend.media")

Variant = Literal["original", "display", "thumbnail"]
VARIANTS: tuple[Variant, ...] = ("original", "display", "thumbnail")
_FOLDERS = {
    "original": ("originals", ""),
    "display": ("display", ".jpg"),
    "thumbnail": ("thumbs", ".jpg"),
}


class StoreUnavailable(Exception):
    """The object store did not answer, or refused (credentials, bucket)."""


class ObjectMissing(Exception):
    """A photo row whose object is not in the store."""


@dataclass(frozen=True)
class ObjectStream:
    """An object's bytes as they arrive from the store, in chunks."""

    size: int
    chunks: AsyncIterator[bytes]
    last_modified: datetime | None = None


class PhotoStore(Protocol):
    name: str

    async def keep(self, sha256: str, upload: Path, display: bytes, thumbnail: bytes) -> None:
        """Store a processed upload (the spooled original is consumed); objects already there
        are kept as they are."""

    async def open(self, sha256: str, variant: Variant) -> Path | ObjectStream:
        """A local file to send, or the object's bytes as a stream (ObjectMissing if absent)."""

    async def check(self) -> None:
        """Raise StoreUnavailable unless the store answers."""


def root() -> Path:
    return get_settings().media_root


def spool_dir() -> Path:
    """Where uploads stream to: local, and on the same file system as the local store, so
    keeping one there is a rename."""
    return root() / "incoming"


def key_of(sha256: str, variant: Variant) -> str:
    folder, suffix = _FOLDERS[variant]
    return f"{folder}/{sha256[:2]}/{sha256}{suffix}"


def path_of(sha256: str, variant: Variant) -> Path:
    return root() / key_of(sha256, variant)


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def keep(sha256: str, upload: Path, display: bytes, thumbnail: bytes) -> None:
    """Store a processed upload on local disk (blocking; run in a worker thread). An identical
    photo stored before is kept as it is and the upload is dropped."""
    original = path_of(sha256, "original")
    if original.exists():
        upload.unlink(missing_ok=True)
    else:
        original.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(upload, 0o600)  # evidence: not world-readable
        os.replace(upload, original)
    for variant, data in (("display", display), ("thumbnail", thumbnail)):
        target = path_of(sha256, variant)  # type: ignore[arg-type]  # both names are variants
        if not target.exists():
            _write_atomic(target, data)


class LocalStore:
    """Files under GRID_MEDIA_ROOT: every replica needs the same volume."""

    name = "local"

    async def keep(self, sha256: str, upload: Path, display: bytes, thumbnail: bytes) -> None:
        await anyio.to_thread.run_sync(keep, sha256, upload, display, thumbnail)

    async def open(self, sha256: str, variant: Variant) -> Path | ObjectStream:
        return path_of(sha256, variant)

    async def check(self) -> None:
        return None


_store: PhotoStore | None = None


def current() -> PhotoStore:
    """The store GRID_MEDIA_STORE names, made once per process."""
    global _store
    if _store is None:
        s = get_settings()
        if s.media_store == "s3":
            from grid_backend.media.objectstore import S3Store

            _store = S3Store.from_settings(s)
        else:
            _store = LocalStore()
    return _store


def set_store(store: PhotoStore | None) -> None:
    """Use this store (tests); None: the one the settings name, made anew."""
    global _store, _checked
    _store, _checked = store, (0.0, None)


READY_CACHE_SECONDS = 5.0
_checked: tuple[float, str | None] = (0.0, None)  # (monotonic time, problem or None)


async def readiness() -> str | None:
    """Why the store cannot be used, or None; asked at most every few seconds (/readyz)."""
    global _checked
    at, problem = _checked
    if at and time.monotonic() - at < READY_CACHE_SECONDS:
        return problem
    try:
        await current().check()
        problem = None
    except StoreUnavailable as exc:
        logger.warning("photo store not ready: %s", exc)
        problem = type(exc.__cause__ or exc).__name__  # /readyz is public: no endpoint or bucket
    _checked = (time.monotonic(), problem)
    return problem
