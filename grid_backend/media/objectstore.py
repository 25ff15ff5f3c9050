"""Photos in an S3-compatible object store (MinIO, AWS, Aliyun OSS, Huawei OBS, Tencent COS)
through obstore (Rust's object_store: asynchronous on its own threads, so neither uploads nor
downloads hold the event loop). Keys are media/storage.py's under GRID_S3_PREFIX; each object
carries the SHA-256 of its bytes as user metadata (`x-amz-meta-sha256`), which the migrate
command compares to resume. Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import obstore
import obstore.store
from obstore.exceptions import AlreadyExistsError, BaseError

from grid_backend.media.storage import ObjectMissing, ObjectStream, StoreUnavailable, key_of
from grid_backend.settings import Settings

if TYPE_CHECKING:
    from obstore import Attributes, GetResult
    from obstore.store import ClientConfig, RetryConfig, S3Config

    from grid_backend.media.storage import Variant

CHUNK = 256 * 1024  # bytes per piece of a streamed response
PART = 5 * 1024 * 1024  # multipart part size (S3's smallest): above it an upload goes in parts
PARTS_IN_FLIGHT = 2  # so one upload holds at most 10 MiB of its original in memory
_CONTENT_TYPES = {"original": "application/octet-stream", "display": "image/jpeg"}


class S3Store:
    """A bucket (and key prefix) of an S3-compatible object store."""

    name = "s3"

    def __init__(self, *, bucket: str, endpoint_url: str = "", region: str = "", prefix: str = ""):
        config: S3Config = {}
        if endpoint_url:
            config["endpoint"] = endpoint_url.rstrip("/")
        if region:
            config["region"] = region
        client: ClientConfig = {
            "allow_http": endpoint_url.startswith("http://"),
            "connect_timeout": "5s",
            "timeout": "60s",  # one request, a part upload or a whole 15 MB download
        }
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        # a few quick retries, then the caller's 503: a phone retries its upload itself
        retry: RetryConfig = {
            "max_retries": 3,
            "retry_timeout": timedelta(seconds=10),
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=2),
            },
        }
        self.client = obstore.store.S3Store(
            bucket,
            prefix=self.prefix or None,
            config=config,
            client_options=client,
            retry_config=retry,
        )

    @classmethod
    def from_settings(cls, s: Settings) -> S3Store:
        return cls(
            bucket=s.s3_bucket,
            endpoint_url=s.s3_endpoint_url,
            region=s.s3_region,
            prefix=s.s3_prefix,
        )

    # --- single objects ---------------------------------------------------------------------

    async def sha256_at(self, key: str) -> str | None:
        """The SHA-256 recorded on the object at key ("" if it has none), None if absent."""
        try:
            head = await obstore.get_async(self.client, key, options={"head": True})
        except FileNotFoundError:
            return None
        except BaseError as exc:
            raise StoreUnavailable(_reason(exc)) from exc
        return str(head.attributes.get("sha256", ""))

    async def put_file(self, key: str, path: Path, *, sha256: str, content_type: str) -> None:
        """Upload a local file in parts (whole object or none: an unfinished multipart upload
        is never visible)."""
        try:
            await obstore.put_async(
                self.client,
                key,
                path,
                attributes=_attributes(sha256, content_type),
                chunk_size=PART,
                max_concurrency=PARTS_IN_FLIGHT,
            )
        except BaseError as exc:
            raise StoreUnavailable(_reason(exc)) from exc

    async def put_new(self, key: str, data: bytes, *, content_type: str) -> None:
        """One PUT that creates the object unless it exists (If-None-Match: *)."""
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            await obstore.put_async(
                self.client,
                key,
                data,
                attributes=_attributes(sha256, content_type),
                mode="create",
            )
        except AlreadyExistsError:
            return
        except BaseError as exc:
            raise StoreUnavailable(_reason(exc)) from exc

    async def delete(self, key: str) -> None:
        try:
            await obstore.delete_async(self.client, key)
        except BaseError as exc:
            raise StoreUnavailable(_reason(exc)) from exc

    async def stream(self, key: str) -> ObjectStream:
        try:
            result = await obstore.get_async(self.client, key)
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        except BaseError as exc:
            raise StoreUnavailable(_reason(exc)) from exc
        meta = result.meta
        return ObjectStream(
            size=meta["size"], chunks=_chunks(result, key), last_modified=meta["last_modified"]
        )

    async def sha256_of(self, key: str) -> str:
        """The SHA-256 of the bytes the store holds at key, read back in full."""
        digest = hashlib.sha256()
        async for chunk in (await self.stream(key)).chunks:
            digest.update(chunk)
        return digest.hexdigest()

    # --- the PhotoStore interface -----------------------------------------------------------

    async def keep(self, sha256: str, upload: Path, display: bytes, thumbnail: bytes) -> None:
        # the three at once; each is skipped when its key exists (the same bytes were kept
        # before), and a parallel upload of the same bytes writes the same object
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_original, sha256, upload)
                tg.start_soon(self._keep_bytes, key_of(sha256, "display"), display)
                tg.start_soon(self._keep_bytes, key_of(sha256, "thumbnail"), thumbnail)
        except ExceptionGroup as group:  # the store's failure, not a group, for the caller
            unavailable, _rest = group.split(StoreUnavailable)
            if unavailable is None:
                raise
            raise _first(unavailable) from group
        upload.unlink(missing_ok=True)  # noqa: ASYNC240 - an unlink, microseconds

    async def _keep_original(self, sha256: str, upload: Path) -> None:
        key = key_of(sha256, "original")
        if await self.sha256_at(key) is None:  # streamed from the spooled file
            await self.put_file(key, upload, sha256=sha256, content_type=_CONTENT_TYPES["original"])

    async def _keep_bytes(self, key: str, data: bytes) -> None:
        if await self.sha256_at(key) is None:
            await self.put_new(key, data, content_type="image/jpeg")

    async def open(self, sha256: str, variant: Variant) -> Path | ObjectStream:
        return await self.stream(key_of(sha256, variant))

    async def check(self) -> None:
        try:
            # one small request that fails for a missing bucket or refused credentials
            await obstore.list_with_delimiter_async(self.client, "readyz/")
        except BaseError as exc:
            raise StoreUnavailable(_reason(exc)) from exc
        except FileNotFoundError as exc:  # NoSuchBucket
            raise StoreUnavailable(f"bucket {self.bucket!r} not found") from exc


async def _chunks(result: GetResult, key: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in result.stream(min_chunk_size=CHUNK):
            yield chunk
    except BaseError as exc:
        raise StoreUnavailable(f"{key}: {_reason(exc)}") from exc


def _first(group: BaseExceptionGroup) -> BaseException:
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _attributes(sha256: str, content_type: str) -> Attributes:
    return {"sha256": sha256, "Content-Type": content_type}


def _reason(exc: BaseException) -> str:
    """The first line of obstore's message (the rest is a debug dump of the request)."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
