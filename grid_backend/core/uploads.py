"""Multipart uploads streamed to disk as they arrive, never whole in memory.

Litestar's form parser reads the whole body first; a phone's 15 MB photo times a few clients
would sit in memory. This reads the body chunk by chunk through multipart's push parser and
writes each file part straight to a temporary file, enforcing the limits as it goes."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Request
from multipart import MultipartError, ParserLimitReached, PushMultipartParser, parse_options_header

from grid_backend.core.errors import DomainError, invalid

MAX_FIELD_BYTES = 64 * 1024


@dataclass
class UploadedFile:
    field: str
    filename: str | None
    path: Path
    size: int


@dataclass
class MultipartForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def value(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None

    def discard(self) -> None:
        """Remove the temporary files (after processing, or when the request fails)."""
        for f in self.files:
            f.path.unlink(missing_ok=True)


def _too_large(max_file_bytes: int) -> DomainError:
    mb = max_file_bytes / 1024 / 1024
    return DomainError(
        "photo_too_large",
        status=413,
        detail="a photo may be at most %(mb)g MB",
        params={"mb": mb},
    )


async def read_multipart(
    request: Request[Any, Any, Any],
    *,
    spool_dir: Path,
    file_fields: frozenset[str],
    max_file_bytes: int,
    max_files: int,
) -> MultipartForm:
    """Parse a multipart/form-data body; files of `file_fields` go to `spool_dir`."""
    boundary = _boundary(request, max_files=max_files, max_file_bytes=max_file_bytes)
    max_parts = max_files + 32  # the files and every field a form may carry
    spool_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one mkdir, microseconds
    reader = _PartReader(spool_dir, file_fields, max_file_bytes, max_files)
    try:
        with PushMultipartParser(
            boundary, max_segment_count=max_parts, max_segment_size=max_file_bytes + 1
        ) as parser:
            async for chunk in request.stream():
                if not chunk:
                    continue
                for event in parser.parse(chunk):
                    reader.take(event)
            parser.close()
    except BaseException as exc:
        reader.discard()
        _raise_for(exc, max_parts=max_parts, max_file_bytes=max_file_bytes)
        raise
    form = reader.form
    for f in form.files:
        f.size = f.path.stat().st_size
    return form


def multipart_body_limit(*, max_files: int, max_file_bytes: int) -> int:
    """The largest multipart body accepted: the files, their part headers and the form's fields
    (a reverse proxy in front sets the same limit: docker/nginx.conf)."""
    return max_files * (max_file_bytes + 64 * 1024) + 256 * 1024


def _boundary(request: Request[Any, Any, Any], *, max_files: int, max_file_bytes: int) -> str:
    """The body's multipart boundary, once its type and declared length are acceptable."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        raise invalid(
            "body",
            "expected multipart/form-data with a boundary",
        )
    declared = request.headers.get("content-length")
    limit = multipart_body_limit(max_files=max_files, max_file_bytes=max_file_bytes)
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(max_file_bytes)
    return boundary


class _PartReader:
    """The parser's events into a form: field values in memory, files spooled to disk."""

    def __init__(
        self, spool_dir: Path, file_fields: frozenset[str], max_file_bytes: int, max_files: int
    ) -> None:
        self.spool_dir, self.file_fields = spool_dir, file_fields
        self.max_file_bytes, self.max_files = max_file_bytes, max_files
        self.form = MultipartForm()
        self.current: Any = None
        self.sink: Any = None
        self.buffer = bytearray()

    def take(self, event: Any) -> None:
        if event is None:  # end of a part
            self._end()
        elif isinstance(event, bytes | bytearray | memoryview):
            self._data(event)
        else:
            self._start(event)

    def _end(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        elif self.current is not None:
            self.form.fields.setdefault(self.current.name, []).append(
                self.buffer.decode("utf-8", "replace")
            )
            self.buffer.clear()
        self.current = None

    def _data(self, event: bytes | bytearray | memoryview) -> None:
        if self.sink is not None:
            if self.current.bytes_received > self.max_file_bytes:
                raise _too_large(self.max_file_bytes)
            self.sink.write(event)
        else:
            self.buffer.extend(event)
            if len(self.buffer) > MAX_FIELD_BYTES:
                raise invalid(self.current.name, "field value too long")

    def _start(self, event: Any) -> None:
        self.current = event
        if event.filename is None and event.name not in self.file_fields:
            return
        if event.name not in self.file_fields:
            raise invalid(event.name, "unexpected file field")
        if len(self.form.files) >= self.max_files:
            raise invalid(
                event.name,
                "at most %(max_files)s photos",  # its own msgid: zh-CN says 最多上传 here
                code="photo_count_exceeded",
                params={"max_files": self.max_files},
            )
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix="upload-")
        self.sink = os.fdopen(fd, "wb")
        self.form.files.append(UploadedFile(event.name, event.filename, Path(name), 0))

    def discard(self) -> None:
        # close the open part first: an unclosed file leaks its descriptor until GC
        if self.sink is not None:
            self.sink.close()
        self.form.discard()


def _raise_for(exc: BaseException, *, max_parts: int, max_file_bytes: int) -> None:
    """The client's error for a parser's complaint (other exceptions pass on unchanged)."""
    if isinstance(exc, ParserLimitReached):
        if "segment count" in str(exc):
            raise DomainError(
                "too_many_parts",
                status=413,
                detail="at most %(max_parts)s parts in one upload",
                params={"max_parts": max_parts},
            ) from None
        raise _too_large(max_file_bytes) from None
    if isinstance(exc, MultipartError):
        raise invalid(
            "body", "malformed multipart body: %(error)s", params={"error": exc}
        ) from None
