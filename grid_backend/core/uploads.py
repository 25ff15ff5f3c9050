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
        detail=f"a photo may be at most {mb:g} MB",
        detail_zh=f"单张照片不能超过 {mb:g} MB",
    )


def _boundary(request: Request[Any, Any, Any], *, max_file_bytes: int, max_files: int) -> str:
    """The body's boundary, once its type and declared length are acceptable."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        raise invalid(
            "body",
            "expected multipart/form-data with a boundary",
            detail_zh="请以 multipart/form-data 格式上传",
        )
    declared = request.headers.get("content-length")
    limit = max_files * (max_file_bytes + 64 * 1024) + 256 * 1024
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(max_file_bytes)
    return boundary


class _Parts:
    """The parser's events, one part after another: field values into the form, files of
    the file fields into temporary files."""

    def __init__(
        self,
        form: MultipartForm,
        *,
        spool_dir: Path,
        file_fields: frozenset[str],
        max_file_bytes: int,
        max_files: int,
    ) -> None:
        self.form = form
        self.spool_dir = spool_dir
        self.file_fields = file_fields
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.current: Any = None
        self.sink: Any = None
        self.buffer = bytearray()

    def feed(self, event: Any) -> None:
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

    def _data(self, data: bytes | bytearray | memoryview) -> None:
        if self.sink is not None:
            if self.current.bytes_received > self.max_file_bytes:
                raise _too_large(self.max_file_bytes)
            self.sink.write(data)
        else:
            self.buffer.extend(data)
            if len(self.buffer) > MAX_FIELD_BYTES:
                raise invalid(self.current.name, "field value too long", detail_zh="字段内容过长")

    def _start(self, event: Any) -> None:
        self.current = event
        if event.filename is None and event.name not in self.file_fields:
            return
        if event.name not in self.file_fields:
            raise invalid(event.name, "unexpected file field", detail_zh="不支持的文件字段")
        if len(self.form.files) >= self.max_files:
            raise invalid(
                event.name,
                f"at most {self.max_files} photos",
                code="photo_count_exceeded",
                detail_zh=f"最多上传 {self.max_files} 张照片",
            )
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix="upload-")
        self.sink = os.fdopen(fd, "wb")
        self.form.files.append(UploadedFile(event.name, event.filename, Path(name), 0))

    def close(self) -> None:
        """Close the open part: an unclosed file leaks its descriptor until GC."""
        if self.sink is not None:
            self.sink.close()


def _parser_error(exc: BaseException, *, max_parts: int, max_file_bytes: int) -> Exception | None:
    """The answer to a parser's complaint about the body; None for any other exception."""
    if isinstance(exc, ParserLimitReached):
        if "segment count" in str(exc):
            return DomainError(
                "too_many_parts",
                status=413,
                detail=f"at most {max_parts} parts in one upload",
                detail_zh=f"一次上传最多 {max_parts} 个字段",
            )
        return _too_large(max_file_bytes)
    if isinstance(exc, MultipartError):
        return invalid("body", f"malformed multipart body: {exc}", detail_zh="上传内容格式不正确")
    return None


async def read_multipart(
    request: Request[Any, Any, Any],
    *,
    spool_dir: Path,
    file_fields: frozenset[str],
    max_file_bytes: int,
    max_files: int,
) -> MultipartForm:
    """Parse a multipart/form-data body; files of `file_fields` go to `spool_dir`."""
    boundary = _boundary(request, max_file_bytes=max_file_bytes, max_files=max_files)
    max_parts = max_files + 32  # the files and every field a form may carry
    spool_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one mkdir, microseconds
    form = MultipartForm()
    parts = _Parts(
        form,
        spool_dir=spool_dir,
        file_fields=file_fields,
        max_file_bytes=max_file_bytes,
        max_files=max_files,
    )
    try:
        with PushMultipartParser(
            boundary, max_segment_count=max_parts, max_segment_size=max_file_bytes + 1
        ) as parser:
            async for chunk in request.stream():
                if not chunk:
                    continue
                for event in parser.parse(chunk):
                    parts.feed(event)
            parser.close()
    except BaseException as exc:
        parts.close()
        form.discard()
        answer = _parser_error(exc, max_parts=max_parts, max_file_bytes=max_file_bytes)
        if answer is None:
            raise
        raise answer from None
    for f in form.files:
        f.size = f.path.stat().st_size
    return form
