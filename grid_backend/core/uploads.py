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


async def read_multipart(
    request: Request[Any, Any, Any],
    *,
    spool_dir: Path,
    file_fields: frozenset[str],
    max_file_bytes: int,
    max_files: int,
) -> MultipartForm:
    """Parse a multipart/form-data body; files of `file_fields` go to `spool_dir`."""
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
    max_parts = max_files + 32  # the files and every field a form may carry
    spool_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one mkdir, microseconds
    form = MultipartForm()
    current: Any = None
    sink: Any = None
    buffer = bytearray()
    try:
        with PushMultipartParser(
            boundary, max_segment_count=max_parts, max_segment_size=max_file_bytes + 1
        ) as parser:
            async for chunk in request.stream():
                if not chunk:
                    continue
                for event in parser.parse(chunk):
                    if event is None:  # end of a part
                        if sink is not None:
                            sink.close()
                            sink = None
                        elif current is not None:
                            form.fields.setdefault(current.name, []).append(
                                buffer.decode("utf-8", "replace")
                            )
                            buffer.clear()
                        current = None
                    elif isinstance(event, bytes | bytearray | memoryview):
                        if sink is not None:
                            if current.bytes_received > max_file_bytes:
                                raise _too_large(max_file_bytes)
                            sink.write(event)
                        else:
                            buffer.extend(event)
                            if len(buffer) > MAX_FIELD_BYTES:
                                raise invalid(
                                    current.name, "field value too long", detail_zh="字段内容过长"
                                )
                    else:
                        current = event
                        if event.filename is not None or event.name in file_fields:
                            if event.name not in file_fields:
                                raise invalid(
                                    event.name,
                                    "unexpected file field",
                                    detail_zh="不支持的文件字段",
                                )
                            if len(form.files) >= max_files:
                                raise invalid(
                                    event.name,
                                    f"at most {max_files} photos",
                                    code="photo_count_exceeded",
                                    detail_zh=f"最多上传 {max_files} 张照片",
                                )
                            fd, name = tempfile.mkstemp(dir=spool_dir, prefix="upload-")
                            sink = os.fdopen(fd, "wb")
                            form.files.append(
                                UploadedFile(event.name, event.filename, Path(name), 0)
                            )
            parser.close()
    except BaseException as exc:
        # close the open part first: an unclosed file leaks its descriptor until GC
        if sink is not None:
            sink.close()
        form.discard()
        if isinstance(exc, ParserLimitReached):
            if "segment count" in str(exc):
                raise DomainError(
                    "too_many_parts",
                    status=413,
                    detail=f"at most {max_parts} parts in one upload",
                    detail_zh=f"一次上传最多 {max_parts} 个字段",
                ) from None
            raise _too_large(max_file_bytes) from None
        if isinstance(exc, MultipartError):
            raise invalid(
                "body", f"malformed multipart body: {exc}", detail_zh="上传内容格式不正确"
            ) from None
        raise
    for f in form.files:
        f.size = f.path.stat().st_size
    return form
