"""Photo pipeline: check an uploaded file, decode it safely and derive clean JPEGs and metadata.

Pure and synchronous (no database, no HTTP): the caller streams the upload to disk and runs
process_photo in a worker thread. Pillow and libjpeg/libheif release the GIL while decoding,
resizing and encoding, so several photos are processed in parallel.

Decoding memory is budgeted across threads (DecodeBudget): the cost of a photo is estimated from
its header (after draft() picked a JPEG's reduced scale) and held while it is decoded; a photo
that cannot get its share in time is refused as busy, one that could never fit as too big, and
freed heap memory is handed back to the system after a large decode (docs/security.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import IO

import pillow_heif
from PIL import Image, ImageCms, UnidentifiedImageError

# the decoding budget, the metadata reader and the rejections live beside this module; the
# names callers and tests use are re-exported here (the two private ones for tests)
from grid_backend.media.budget import _DERIVATIVES_BYTES as _DERIVATIVES_BYTES
from grid_backend.media.budget import (
    TRIM_AFTER_BYTES,
    DecodeBudget,
    DecoderBusy,
    decode_cost,
)
from grid_backend.media.budget import _give_back_memory as _give_back_memory
from grid_backend.media.exif import _metadata
from grid_backend.media.rejections import (
    REJECTION_CODES,
    PhotoRejected,
    _corrupt,
    _decode_error,
    _too_many_pixels,
    _truncated,
    _unsupported,
)

__all__ = [
    "REJECTION_CODES",
    "TRIM_AFTER_BYTES",
    "DecodeBudget",
    "DecoderBusy",
    "PhotoRejected",
    "ProcessedPhoto",
    "decode_cost",
    "dhash_distance",
    "process_photo",
    "sniff_type",
]

# Registered once, at import. Embedded thumbnails, depth maps and auxiliary images are never used:
# not parsing them saves work, and draft() can then never pick a thumbnail instead of the photo.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

DISPLAY_MAX_SIDE = 2048
# Decoding stops at the smallest power-of-two scale whose long side is still this big: a 12 MP
# photo (4000 px) is decoded straight to 2000 px and needs no resampling pass, which on this
# hardware costs more than the decode itself.
DISPLAY_MIN_SIDE = 1536
THUMBNAIL_MAX_SIDE = 320
JPEG_QUALITY = 82
SNIFF_BYTES = 32
_MAX_TOP_LEVEL_BOXES = 64
_WARNINGS_LOCK = threading.Lock()

_PIL_FORMAT = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
    "image/heif": "HEIF",
}
_HEVC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1"}
# This libheif build has no AV1 decoder, so AVIF must be refused as a type, not reported as corrupt.
_AVIF_BRANDS = {b"avif", b"avis"}

# EXIF orientation -> the transpose that makes the picture upright (the table ImageOps uses).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = {_UPRIGHT[5], _UPRIGHT[6], _UPRIGHT[7], _UPRIGHT[8]}

_SRGB = ImageCms.createProfile("sRGB")
_PROBE_COLOURS = [
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (128, 128, 128),
    (40, 90, 200),
]


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    """What the pipeline derived from one accepted photo."""

    sha256: str
    mime: str
    width: int
    height: int
    size_bytes: int
    display: bytes
    display_size: tuple[int, int]
    thumbnail: bytes
    thumbnail_size: tuple[int, int]
    dhash: str
    gps_lat: float | None
    gps_lng: float | None
    captured_at: datetime | None
    orientation: int | None


def sniff_type(head: bytes) -> str | None:
    """Return the MIME type that the first bytes of a file prove, or None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        major = head[8:12]
        box_end = min(int.from_bytes(head[:4], "big"), len(head))
        compatible = {head[i : i + 4] for i in range(16, box_end - 3, 4)}
        if major in _HEVC_BRANDS:
            return "image/heic"
        if major in _HEIF_BRANDS:
            if compatible & _HEVC_BRANDS:
                return "image/heic"
            if compatible & _AVIF_BRANDS:
                return None
            return "image/heif"
    return None


def dhash_distance(a: str, b: str) -> int:
    """Hamming distance between two dhash hex strings: 0 is the same picture, > 20 another one."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def process_photo(
    path: str | Path, *, max_bytes: int, max_pixels: int, budget: DecodeBudget | None = None
) -> ProcessedPhoto:
    """Check, decode and re-encode the photo at path; raise PhotoRejected for anything unusable
    and DecoderBusy when the budget (if given) stays spent."""
    size_bytes = os.stat(path).st_size
    if size_bytes > max_bytes:
        raise PhotoRejected(
            "photo_too_large",
            "The photo is %(size).1f MB; the limit is %(limit).1f MB.",
            {"size": size_bytes / 2**20, "limit": max_bytes / 2**20},
        )
    with open(path, "rb") as fh:
        mime = sniff_type(fh.read(SNIFF_BYTES))
        if mime is None:
            raise _unsupported(empty=size_bytes == 0)
        if _container_truncated(fh, mime=mime, size_bytes=size_bytes):
            raise _truncated()
        fh.seek(0)
        sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        fh.seek(0)
        with _pillow_warnings():
            im = _open(fh, mime=mime, max_pixels=max_pixels)
        heif = mime in ("image/heic", "image/heif")
        try:
            full_size = im.size
            if mime == "image/jpeg":
                _draft(im)
            cost = decode_cost(im, heif=heif)
            with budget.hold(cost, full_size) if budget else contextlib.nullcontext():
                try:
                    _load(im)
                    return _derive(
                        im,
                        mime=mime,
                        heif=heif,
                        sha256=sha256,
                        size_bytes=size_bytes,
                        size=full_size,
                    )
                finally:
                    im.close()  # the pixels are freed before the budget is given back
        finally:
            im.close()


def _derive(
    im: Image.Image, *, mime: str, heif: bool, sha256: str, size_bytes: int, size: tuple[int, int]
) -> ProcessedPhoto:
    """The derivatives and metadata of a decoded photo (`size`: as stored, before any draft)."""
    full_size = size
    with _pillow_warnings():
        orientation, (gps_lat, gps_lng), captured_at = _metadata(im, heif=heif)
    # libheif has already applied the container's rotation and mirroring.
    transpose = None if heif else _UPRIGHT.get(orientation or 1)
    pixels = _flatten(im)

    # A 12 MP photo never goes through a full-size resampling pass: a JPEG was decoded at reduced
    # scale, other formats are box-reduced by a power of two first (cheap, and a fine filter).
    factor = _reduction(pixels.size)
    if factor > 1:
        pixels = pixels.reduce(factor)
    if transpose is not None:
        pixels = pixels.transpose(transpose)
        full_size = full_size[::-1] if transpose in _SWAPS_AXES else full_size
    # The colour transform runs on at most 2048 px, not on the full image.
    display_img = _to_srgb(_fit(pixels, DISPLAY_MAX_SIDE), im.info.get("icc_profile"))
    # From the display copy, not the original; for a thumbnail the box reduction may take it
    # down to just above its size (2000 -> 333 -> 320 px: 3.7 ms instead of 6 ms).
    thumbnail_img = _fit(display_img, THUMBNAIL_MAX_SIDE, reducing_gap=1.0)
    return ProcessedPhoto(
        sha256=sha256,
        mime=mime,
        width=full_size[0],
        height=full_size[1],
        size_bytes=size_bytes,
        display=_encode_jpeg(display_img),
        display_size=display_img.size,
        thumbnail=_encode_jpeg(thumbnail_img),
        thumbnail_size=thumbnail_img.size,
        dhash=_dhash(thumbnail_img),
        gps_lat=gps_lat,
        gps_lng=gps_lng,
        captured_at=captured_at,
        orientation=orientation,
    )


@contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Pillow's bomb warning becomes an error and its bad-metadata complaints are silenced."""
    # catch_warnings swaps the process-wide filter list on entry and puts it back on exit: two
    # threads interleaving leave one thread's filters installed for good (4 threads did it in a
    # few hundred photos). The lock serialises the swaps; it is held only while Pillow parses
    # headers and metadata (under 2 ms, a 64 MB PNG text bomb aside), never while decoding.
    with _WARNINGS_LOCK, warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make it a refusal too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # "Corrupt EXIF data" and the like: bad metadata is ignored, the pixels decide.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        yield


def _container_truncated(fh: IO[bytes], *, mime: str, size_bytes: int) -> bool:
    """Whether a WebP or HEIF container declares more bytes than the file has.

    libheif decodes a HEIC cut short without complaint (missing tiles come out grey), and
    libwebp calls a cut file merely invalid; their container headers state the true length.
    """
    if mime == "image/webp":
        fh.seek(4)
        return int.from_bytes(fh.read(4), "little") + 8 > size_bytes
    if mime not in ("image/heic", "image/heif"):
        return False  # Pillow itself reports truncated JPEG and PNG data
    offset = 0
    for _ in range(_MAX_TOP_LEVEL_BOXES):
        if offset >= size_bytes:
            return offset > size_bytes
        fh.seek(offset)
        header = fh.read(16)
        if len(header) < 8:
            return True  # the file ends inside a box header
        box_size = int.from_bytes(header[:4], "big")
        if box_size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return True
            box_size = int.from_bytes(header[8:16], "big")
        if box_size == 0:  # the last box runs to the end of the file
            return False
        if box_size < 8 or not header[4:8].isalnum():
            # Not a box header at all: damage, not a short file; libheif reports it as corrupt.
            return False
        offset += box_size
    return False  # a real HEIF has a handful of top-level boxes; leave odd ones to libheif


def _open(fh: IO[bytes], *, mime: str, max_pixels: int) -> Image.Image:
    """Parse the header with the decoder of the sniffed type and check its size claim."""
    try:
        # formats=: only the decoder for the sniffed type may parse the file.
        im = Image.open(fh, formats=[_PIL_FORMAT[mime]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(None, max_pixels) from None
    except UnidentifiedImageError:
        raise _corrupt() from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # ValueError includes PNG text chunks that would inflate past MAX_TEXT_CHUNK (1 MB) or
        # MAX_TEXT_MEMORY (64 MB): Pillow stops inflating at the cap, so nothing is expanded.
        raise _decode_error(exc) from None
    width, height = im.size
    if width < 1 or height < 1:
        raise _corrupt()
    # The header's claim, before any pixel is decoded. Pillow's global MAX_IMAGE_PIXELS is left
    # alone (other code shares it) and only backs this per-call limit up.
    if width * height > max_pixels:
        raise _too_many_pixels((width, height), max_pixels)
    return im


def _draft(im: Image.Image) -> None:
    """Have libjpeg decode at a reduced scale (sets the size the decode will have)."""
    factor = _reduction(im.size)
    if factor > 1:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale, staying at least this size; the image is
        # still in stored orientation here, which is what draft() works on.
        im.draft("RGB", (im.width // factor, im.height // factor))


def _load(im: Image.Image) -> None:
    """Decode the pixels (a JPEG at the scale _draft chose); truncated and corrupt data are
    refused."""
    try:
        im.load()
    except (OSError, ValueError, SyntaxError, EOFError, RuntimeError, Warning) as exc:
        # Warning: only where warnings are errors (tests, python -W error) can a decoder's
        # complaint get here, and then it is about damaged data.
        raise _decode_error(exc) from None


def _reduction(size: tuple[int, int]) -> int:
    """The largest power-of-two factor (at most 8) keeping the long side >= DISPLAY_MIN_SIDE."""
    factor = 1
    while factor < 8 and max(size) // (factor * 2) >= DISPLAY_MIN_SIDE:
        factor *= 2
    return factor


def _fit_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size that fits within max_side on the longest side, keeping the aspect ratio."""
    width, height = size
    scale = max_side / max(width, height)
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def _fit(im: Image.Image, max_side: int, reducing_gap: float = 2.0) -> Image.Image:
    """Downscale to fit max_side (never upscale): a box reduction by an integer factor that
    leaves at least reducing_gap times the target size, then Lanczos."""
    size = _fit_size(im.size, max_side)
    if size == im.size:
        return im
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=reducing_gap)


def _flatten(im: Image.Image) -> Image.Image:
    """RGB, CMYK or L pixels: transparency flattened onto white, palettes and 16 bits expanded."""
    if im.mode in ("RGB", "CMYK", "L") and "transparency" not in im.info:
        return im
    if im.mode.startswith("I"):
        # 16-bit greyscale PNG (I;16, or I): a plain convert() clips everything above 255 to white.
        return im.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La", "P") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")


def _to_srgb(im: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """RGB in sRGB: the output carries no profile, so a non-sRGB one is applied to the pixels."""
    transform = _icc_transform(icc_profile, im.mode) if icc_profile else None
    if transform is not None:
        return transform.apply(im)
    return im if im.mode == "RGB" else im.convert("RGB")


@lru_cache(maxsize=32)
def _icc_transform(icc_profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached transform to sRGB for this profile, or None if it is (near) sRGB or unusable."""
    if mode not in ("RGB", "CMYK"):
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        # NOCACHE: lcms keeps a one-pixel cache in the transform, which threads would share.
        transform = ImageCms.buildTransform(
            source, _SRGB, mode, "RGB", flags=ImageCms.Flags.NOCACHE
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile is metadata like any other: ignore it
    if mode == "RGB" and _is_identity(transform):
        return None  # Android phones embed sRGB itself; skip a 3 MP pass that changes nothing
    return transform


def _is_identity(transform: ImageCms.ImageCmsTransform) -> bool:
    """Whether the transform leaves saturated and neutral test colours within 2 levels."""
    probe = Image.new("RGB", (len(_PROBE_COLOURS), 1))
    probe.putdata(_PROBE_COLOURS)
    out = transform.apply(probe)
    return all(
        abs(a - b) <= 2
        for x, colour in enumerate(_PROBE_COLOURS)
        for a, b in zip(colour, out.getpixel((x, 0)), strict=True)  # type: ignore[arg-type]  # an RGB image's pixel is a tuple of ints
    )


def _encode_jpeg(im: Image.Image) -> bytes:
    """Encode as a metadata-free JPEG."""
    # Only what is passed to save() is written for JPEG; clearing info keeps it that way even
    # if a later Pillow starts falling back to im.info as it does for PNG and WebP.
    im.info = {}
    buf = io.BytesIO()
    # No optimize=True: optimised Huffman tables save about 6% of the bytes of a display copy
    # and double the encoding time (16 ms instead of 8 ms for 2000 x 1500 px here).
    im.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _dhash(im: Image.Image) -> str:
    """64-bit difference hash: is each pixel brighter than its right neighbour, on a 9x8 grey."""
    small = im.convert("L").resize((9, 8), Image.Resampling.LANCZOS).tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = small[row * 9 + col], small[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:016x}"
