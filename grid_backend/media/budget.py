"""Decoding memory budgeted across threads (DecodeBudget): the cost of a photo estimated from its
header and held while it is decoded, with freed heap memory handed back after a large decode
(docs/security.md)."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from grid_backend.media.rejections import _too_big_to_decode


class DecoderBusy(Exception):
    """The decoding memory budget stayed spent for longer than a request may wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"decoding memory busy; retry after {retry_after} s")
        self.retry_after = retry_after


# Bytes Pillow holds per pixel of a decoded image: "1", "L" and "P" take one, 16-bit greyscale
# two, every other mode (RGB included: it is stored as RGBX) four.
def _bytes_per_pixel(mode: str) -> int:
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


# What a photo costs besides its decoded pixels: the smaller copies (reduced, upright, display,
# thumbnail) and the encoders' buffers.
_DERIVATIVES_BYTES = 24 * 2**20
# A decode at least this big is followed by malloc_trim (see _give_back_memory).
TRIM_AFTER_BYTES = 64 * 2**20


def decode_cost(im: Image.Image, *, heif: bool = False) -> int:
    """The most memory processing this opened image will hold, in bytes, from its header alone
    (a JPEG after draft(), which sets the reduced size it will decode at)."""
    width, height = im.size
    per_pixel = _bytes_per_pixel(im.mode)
    if im.mode in ("RGB", "CMYK", "L") and "transparency" not in im.info:
        extra = 0  # _flatten keeps it as it is
    elif im.mode.startswith("I"):
        extra = 8  # 32-bit copy, its scaled copy, then 8 bits
    elif im.mode in ("RGBA", "LA", "PA", "RGBa", "La", "P") or "transparency" in im.info:
        extra = 9  # RGBA copy, its alpha band, the white RGB it is pasted on
    else:
        extra = 4  # an RGB copy
    if heif:
        extra += 3  # libheif's own decoded RGB buffer, copied into Pillow's
    return width * height * (per_pixel + extra) + _DERIVATIVES_BYTES


class DecodeBudget:
    """Memory for decoding, shared by every thread of the process: a photo holds its estimated
    cost while it is decoded and derived. A photo waits up to `wait_seconds` for its share
    (DecoderBusy after that); one whose cost exceeds the whole budget is refused at once."""

    def __init__(self, total_bytes: int, *, wait_seconds: float, retry_after: int = 5) -> None:
        self.total = total_bytes
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, cost: int, size: tuple[int, int]) -> Iterator[None]:
        if cost > self.total:
            raise _too_big_to_decode(size, cost, self.total)
        deadline = time.monotonic() + self.wait_seconds
        with self._cond:
            while self.used + cost > self.total:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DecoderBusy(self.retry_after)
                self._cond.wait(left)
            self.used += cost
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            with self._cond:
                self.used -= cost
                self._cond.notify_all()
            if cost >= TRIM_AFTER_BYTES:
                _give_back_memory()


def _load_malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]  # ctypes' private function-pointer type, not in typeshed
    """glibc's malloc_trim, or None elsewhere (musl, macOS, Windows have none)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def _give_back_memory() -> None:
    """Return freed heap pages to the system. glibc keeps what a large decode freed in its heaps
    (Pillow's 16 MB blocks fall below the mmap threshold once it has grown), so a process that
    decoded a few huge photos stays hundreds of MB larger for good; malloc_trim(0) releases it
    (benchmarks/decode_memory.py measures it). A no-op without glibc."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
