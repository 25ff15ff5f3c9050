"""Photos for the benchmarks: distinct bytes per upload from one generated photo, and the copy
the field app sends (grid_ui/static/field/js/photos.js shrinks before the upload)."""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

from PIL import Image

# the field app's shrinking (photos.js): the longest side to MAX_SIDE, the first quality whose
# JPEG fits MAX_BYTES
MAX_SIDE = 2048
MAX_BYTES = 800 * 1024
QUALITIES = (85, 78, 70)


def shrink_like_phone(original: Path, out: Path) -> Path:
    """The copy the field app uploads: at most 2048 px, JPEG without EXIF, <= 800 KB if it can."""
    with Image.open(original) as im:
        scale = min(1.0, MAX_SIDE / max(im.size))
        size = (round(im.width * scale), round(im.height * scale))
        small = im.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    data = b""
    for quality in QUALITIES:
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=quality)
        data = buffer.getvalue()
        if len(data) <= MAX_BYTES:
            break
    out.write_bytes(data)
    return out


class Variants:
    """Per-submission photo bytes: the photo with one unique segment inserted (a JPEG COM
    segment after the APPn segments, a trailing top-level `free` box in a HEIF). Heads, tails
    and segments are prepared before the timed section; a request joins them (~1 ms)."""

    def __init__(self, path: Path, mime: str, count: int, tag: str) -> None:
        data = path.read_bytes()
        self.mime = mime
        self.filename = path.name
        cut = self._cut(data)
        self.head, self.tail = data[:cut], data[cut:]
        self.segments = [self._segment(f"grid-bench {tag} #{n:06d}".encode()) for n in range(count)]

    @functools.cached_property
    def distinct(self) -> int:
        """How many different SHA-256 the variants have (all of them, or the store dedupes)."""
        digests = set()
        for segment in self.segments:
            h = hashlib.sha256(self.head)
            h.update(segment)
            h.update(self.tail)
            digests.add(h.hexdigest())
        return len(digests)

    def _cut(self, data: bytes) -> int:
        if self.mime != "image/jpeg":
            return len(data)
        offset = 2  # after SOI
        while data[offset] == 0xFF and 0xE0 <= data[offset + 1] <= 0xEF:
            offset += 2 + int.from_bytes(data[offset + 2 : offset + 4], "big")
        return offset

    def _segment(self, text: bytes) -> bytes:
        if self.mime == "image/jpeg":
            return b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
        return (len(text) + 8).to_bytes(4, "big") + b"free" + text

    def photo(self, n: int) -> bytes:
        return b"".join((self.head, self.segments[n], self.tail))
