"""The photo pipeline against real files: what it accepts, what it refuses, what it derives."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import subprocess
import sys
import warnings
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageFile, ImageStat, TiffImagePlugin

from grid_backend.media.pipeline import (
    PhotoRejected,
    ProcessedPhoto,
    dhash_distance,
    process_photo,
    sniff_type,
)

IMAGES = Path(__file__).parent / "images"
PROJECT_ROOT = Path(__file__).parents[2]
MAX_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 60_000_000


def process(path: Path | str, **limits: int) -> ProcessedPhoto:
    return process_photo(
        path,
        max_bytes=limits.get("max_bytes", MAX_BYTES),
        max_pixels=limits.get("max_pixels", MAX_PIXELS),
    )


def rejection(path: Path | str, **limits: int) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as caught:
        process(path, **limits)
    assert caught.value.detail
    assert caught.value.detail_zh
    return caught.value


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def corpus(name: str) -> Image.Image:
    """A corpus file decoded by Pillow as it is (no pipeline), file closed."""
    return decoded((IMAGES / name).read_bytes())


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming this size, with a token IDAT: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, a baseline SOF0 claiming this size and a start of scan, with no real data."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3)
    sof += b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 100 + b"\xff\xd9"


def jpeg_with_exif(path: Path, exif: Image.Exif, size: tuple[int, int] = (64, 48)) -> Path:
    return write(path, encode(Image.new("RGB", size, (90, 140, 60)), "JPEG", exif=exif))


# --- the corpus, file by file -----------------------------------------------------------------

ACCEPTED = {
    # file: (mime, upright width, height, orientation applied, EXIF capture time)
    "arrow.heic": ("image/heic", 3024, 4032, 6, datetime(2018, 7, 31, 14, 52, 7, 557000)),
    "exif_gps.jpg": ("image/jpeg", 8, 8, None, datetime(2099, 9, 29, 10, 10, 10)),
    "flower.jpg": ("image/jpeg", 480, 360, 1, datetime(2003, 12, 14, 12, 1, 44)),
    "hopper.jpg": ("image/jpeg", 128, 128, None, None),
    "hopper_bad_exif.jpg": ("image/jpeg", 500, 500, 1, None),
    "hopper_orientation_6.jpg": ("image/jpeg", 128, 128, 6, None),
    "pil_sample_cmyk.jpg": ("image/jpeg", 100, 100, 1, None),
}
REJECTED = {
    "README.md": "photo_type_unsupported",  # a text file
    "corrupted.heic": "photo_corrupt",
    "decompression_bomb.gif": "photo_type_unsupported",  # GIF is not taken, whatever its size
    "png_decompression_dos.png": "photo_corrupt",  # text chunk inflates past Pillow's 1 MB cap
    "truncated_jpeg.jpg": "photo_truncated",
}


def test_corpus_is_complete() -> None:
    assert {p.name for p in IMAGES.iterdir()} == set(ACCEPTED) | set(REJECTED)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_corpus_photo_is_accepted(name: str) -> None:
    mime, width, height, orientation, captured_at = ACCEPTED[name]
    path = IMAGES / name
    photo = process(path)
    assert photo.mime == mime
    assert (photo.width, photo.height) == (width, height)
    assert photo.orientation == orientation
    assert photo.captured_at == captured_at
    assert photo.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert photo.size_bytes == path.stat().st_size
    assert len(photo.dhash) == 16
    assert set(photo.dhash) <= set("0123456789abcdef")
    for data, size, limit in (
        (photo.display, photo.display_size, 2048),
        (photo.thumbnail, photo.thumbnail_size, 320),
    ):
        im = decoded(data)
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", size)
        assert max(size) <= limit
        # never upscaled; aspect ratio kept to the pixel
        assert max(size) <= max(width, height)
        assert abs(size[0] / size[1] - width / height) < 2 / min(size)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_corpus_file_is_refused(name: str) -> None:
    assert rejection(IMAGES / name).code == REJECTED[name]


# --- type sniffing: bytes, never names --------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"\xff\xd8\xff\xe1\x00\x10Exif\x00", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1miaf", "image/heif"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", None),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", None),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", None),  # a video
        (b"GIF89a\x20\x00\x20\x00", None),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", None),
        (b"BM\x36\x00\x0c\x00\x00\x00", None),
        (b"II*\x00\x08\x00\x00\x00", None),  # TIFF
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"\xff\xd8", None),
        (b"hello, this is a photo", None),
        (b"", None),
    ],
)
def test_sniff_type(head: bytes, mime: str | None) -> None:
    assert sniff_type(head) == mime


def test_png_named_jpg_is_png(tmp_path: Path) -> None:
    png = encode(corpus("hopper.jpg"), "PNG")
    assert process(write(tmp_path / "photo.jpg", png)).mime == "image/png"


def test_jpeg_named_png_is_jpeg(tmp_path: Path) -> None:
    path = write(tmp_path / "photo.png", (IMAGES / "hopper.jpg").read_bytes())
    assert process(path).mime == "image/jpeg"


@pytest.mark.parametrize(
    "content",
    [
        b"Not a photo at all, just text.\n" * 20,
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
        (IMAGES / "decompression_bomb.gif").read_bytes(),
        b"",
    ],
    ids=["text", "pdf", "gif", "empty"],
)
def test_non_photos_named_jpg_are_refused(tmp_path: Path, content: bytes) -> None:
    refused = rejection(write(tmp_path / "photo.jpg", content))
    assert refused.code == "photo_type_unsupported"
    if not content:
        assert "empty" in refused.detail


def test_webp_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "photo.bin", encode(corpus("flower.jpg"), "WEBP"))
    photo = process(path)
    assert (photo.mime, photo.width, photo.height) == ("image/webp", 480, 360)


# --- size and pixel limits --------------------------------------------------------------------


def test_size_limit_is_checked_before_anything_else(tmp_path: Path) -> None:
    path = IMAGES / "hopper.jpg"
    size = path.stat().st_size
    assert process(path, max_bytes=size).size_bytes == size
    refused = rejection(path, max_bytes=size - 1)
    assert refused.code == "photo_too_large"
    # even garbage is refused for its size first: nothing is read before the stat
    assert rejection(write(tmp_path / "x", b"x" * 2048), max_bytes=1024).code == "photo_too_large"


def test_pixel_limit_is_the_one_given(tmp_path: Path) -> None:
    path = IMAGES / "hopper.jpg"  # 128 x 128 = 16384 pixels
    assert process(path, max_pixels=16384).width == 128
    refused = rejection(path, max_pixels=16383)
    assert refused.code == "photo_too_many_pixels"
    assert "128 x 128" in refused.detail


@pytest.mark.parametrize(
    ("name", "data"),
    [
        # far beyond Pillow's own limit: refused by Image.open from the header
        ("png_100000x100000.png", png_header(100_000, 100_000)),
        ("jpeg_65000x65000.jpg", jpeg_header(65_000, 65_000)),
        # in Pillow's warning band (89-179 MP): the warning is turned into a refusal
        ("png_10000x10000.png", png_header(10_000, 10_000)),
        # above our 60 MP but below Pillow's limit: our own header check
        ("png_9000x7000.png", png_header(9_000, 7_000)),
        ("jpeg_9000x7000.jpg", jpeg_header(9_000, 7_000)),
    ],
)
def test_crafted_headers_claiming_too_many_pixels(tmp_path: Path, name: str, data: bytes) -> None:
    assert rejection(write(tmp_path / name, data)).code == "photo_too_many_pixels"


# --- truncated and corrupt files --------------------------------------------------------------


def _samples() -> dict[str, bytes]:
    flower = corpus("flower.jpg")
    return {
        "jpeg": (IMAGES / "flower.jpg").read_bytes(),
        "png": encode(flower, "PNG"),
        "webp": encode(flower, "WEBP"),
        "heic": (IMAGES / "arrow.heic").read_bytes(),
    }


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp", "heic"])
@pytest.mark.parametrize("kept", [0.05, 0.5, 0.95])
def test_cut_short_uploads_are_truncated(tmp_path: Path, kind: str, kept: float) -> None:
    data = _samples()[kind]
    path = write(tmp_path / "cut", data[: int(len(data) * kept)])
    assert rejection(path).code == "photo_truncated"


@pytest.mark.parametrize(
    "magic",
    [
        b"\xff\xd8\xff",
        b"\x89PNG\r\n\x1a\n",
        b"RIFF\x00\x10\x00\x00WEBP",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    ],
    ids=["jpeg", "png", "webp", "heic"],
)
def test_garbage_after_a_valid_magic_number_is_corrupt(tmp_path: Path, magic: bytes) -> None:
    garbage = bytes((i * 7919 + 13) % 251 for i in range(4096))
    assert rejection(write(tmp_path / "photo", magic + garbage)).code == "photo_corrupt"


# --- orientation ------------------------------------------------------------------------------


def test_orientation_6_comes_out_upright() -> None:
    raw = corpus("hopper_orientation_6.jpg")
    assert raw.getexif()[ExifTags.Base.Orientation] == 6
    display = decoded(process(IMAGES / "hopper_orientation_6.jpg").display)
    # the picture is square, so compare pixels: upright is the stored one turned 90° clockwise
    assert mean_difference(display, raw.transpose(Image.Transpose.ROTATE_270)) < 4
    assert mean_difference(display, raw) > 20
    # and it is the same picture as the plain hopper.jpg
    assert mean_difference(display, corpus("hopper.jpg")) < 8


# stored = upright turned by the inverse of what orientation N asks the viewer to do
_STORED_FOR = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(_STORED_FOR))
def test_every_orientation_comes_out_upright(tmp_path: Path, orientation: int) -> None:
    upright = Image.new("RGB", (60, 40), (128, 128, 128))
    upright.paste((230, 20, 20), (0, 0, 20, 20))  # red top-left
    upright.paste((20, 20, 230), (40, 20, 60, 40))  # blue bottom-right
    turn = _STORED_FOR[orientation]
    stored = upright if turn is None else upright.transpose(turn)  # FLIP_LEFT_RIGHT is 0: falsy
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    photo = process(write(tmp_path / "o.jpg", encode(stored, "JPEG", exif=exif, quality=95)))
    assert (photo.width, photo.height, photo.orientation) == (60, 40, orientation)
    display = decoded(photo.display)
    assert display.size == (60, 40)
    assert mean_difference(display, upright) < 6


# --- a 12 MP phone photo ----------------------------------------------------------------------

PHONE_GPS = (29.5651, 106.55)  # 29°33'54.36"N 106°33'0"E, Chongqing


@pytest.fixture(scope="module")
def phone_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4000 x 3000 JPEG stored sideways (orientation 6) with GPS and capture time, as phones do."""
    stored = corpus("flower.jpg").resize((4000, 3000), Image.Resampling.BILINEAR)
    stored.paste((230, 20, 20), (0, 0, 600, 600))  # red top-left as stored: top-right upright
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "Phone"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (29.0, 33.0, 54.36),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (106.0, 33.0, 0.0),
    }
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.DateTimeOriginal: "2026:03:14 09:26:53",
        ExifTags.Base.OffsetTimeOriginal: "+08:00",
    }
    path = tmp_path_factory.mktemp("phone") / "IMG_0001.JPG"
    stored.save(path, "JPEG", quality=90, exif=exif)
    return path


def test_phone_photo_is_upright_small_and_located(phone_photo: Path) -> None:
    photo = process(phone_photo)
    assert (photo.mime, photo.width, photo.height, photo.orientation) == (
        "image/jpeg",
        3000,
        4000,
        6,
    )
    # decoded at half scale by libjpeg: 2000 px on the long side, no resampling pass
    assert photo.display_size == (1500, 2000)
    assert photo.thumbnail_size == (240, 320)
    display = decoded(photo.display)
    assert display.size == (1500, 2000)
    red = display.getpixel((1500 - 100, 100))
    assert red[0] > 180 and red[1] < 80 and red[2] < 80  # type: ignore[index]
    assert photo.gps_lat == pytest.approx(PHONE_GPS[0], abs=1e-6)
    assert photo.gps_lng == pytest.approx(PHONE_GPS[1], abs=1e-6)
    assert photo.captured_at == datetime(2026, 3, 14, 1, 26, 53, tzinfo=UTC)
    for data in (photo.display, photo.thumbnail):
        assert_no_metadata(data)


def test_phone_photo_size_limit(phone_photo: Path) -> None:
    size = phone_photo.stat().st_size
    assert rejection(phone_photo, max_bytes=size - 1).code == "photo_too_large"
    assert rejection(phone_photo, max_pixels=11_999_999).code == "photo_too_many_pixels"
    assert process(phone_photo, max_bytes=size, max_pixels=12_000_000).size_bytes == size


@pytest.mark.parametrize(
    ("size", "display_long_side"),
    [
        ((1600, 1200), 1600),  # small enough: as it is
        ((2600, 1000), 2048),  # halving would go below 1536: resampled to 2048
        ((3500, 1000), 1750),  # halved (box filter) and within 2048
        ((1000, 7000), 1750),  # quartered, portrait
    ],
)
def test_display_size_for_other_formats(
    tmp_path: Path, size: tuple[int, int], display_long_side: int
) -> None:
    path = write(tmp_path / "big.png", encode(Image.new("RGB", size, (10, 120, 200)), "PNG"))
    photo = process(path)
    assert max(photo.display_size) == display_long_side
    assert max(photo.thumbnail_size) == 320


# --- metadata: read it, never pass it on ------------------------------------------------------


def assert_no_metadata(data: bytes) -> None:
    im = decoded(data)
    assert not im.getexif()
    assert not {"exif", "icc_profile", "xmp", "photoshop", "adobe"} & set(im.info)
    for marker in (b"Exif", b"ICC_PROFILE", b"http://ns.adobe.com/xap", b"Photoshop"):
        assert marker not in data


@pytest.mark.parametrize(
    "name",
    ["exif_gps.jpg", "flower.jpg", "arrow.heic", "pil_sample_cmyk.jpg", "hopper_bad_exif.jpg"],
)
def test_derivatives_carry_no_metadata(name: str) -> None:
    photo = process(IMAGES / name)
    assert_no_metadata(photo.display)
    assert_no_metadata(photo.thumbnail)


def _gps_ifd_read_by_hand(jpeg: bytes) -> dict[int, object]:
    """The GPS IFD entries of a JPEG's EXIF block, parsed without Pillow: {tag: value}."""
    tiff = jpeg[jpeg.index(b"Exif\x00\x00") + 6 :]
    order = ">" if tiff[:2] == b"MM" else "<"

    def entries(offset: int) -> list[tuple[int, int, int, bytes]]:
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        return [
            struct.unpack_from(order + "HHI4s", tiff, offset + 2 + 12 * i) for i in range(count)
        ]

    (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
    (gps_offset,) = next(
        struct.unpack(order + "I", v) for t, _, _, v in entries(ifd0) if t == 0x8825
    )
    values: dict[int, object] = {}
    for tag, kind, count, raw in entries(gps_offset):
        if kind == 5:  # RATIONAL: count pairs of uint32 at an offset
            (at,) = struct.unpack(order + "I", raw)
            numbers = struct.unpack_from(order + f"{2 * count}I", tiff, at)
            values[tag] = list(zip(numbers[::2], numbers[1::2], strict=True))
        else:
            values[tag] = raw
    return values


def test_exif_gps_file_has_a_gps_block_but_no_usable_position() -> None:
    """exif_gps.jpg (from Pillow's tests) has a GPS IFD whose only coordinate is nonsense."""
    gps = _gps_ifd_read_by_hand((IMAGES / "exif_gps.jpg").read_bytes())
    assert set(gps) == {0, 2, 5, 29, 30}  # version, latitude, altitude ref, date, differential
    assert gps[2] == [(4294967295, 1)]  # latitude 4294967295°, no N/S, and no longitude at all
    photo = process(IMAGES / "exif_gps.jpg")
    assert (photo.gps_lat, photo.gps_lng) == (None, None)


def _rational(n: int, d: int) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(n, d)


@pytest.mark.parametrize(
    ("gps", "expected"),
    [
        ({1: "N", 2: (29.0, 33.0, 54.36), 3: "E", 4: (106.0, 33.0, 0.0)}, PHONE_GPS),
        ({1: "S", 2: (33.0, 52.0, 4.8), 3: "W", 4: (151.0, 12.0, 36.0)}, (-33.868, -151.21)),
        ({1: "n", 2: (29.5651,), 3: "e", 4: (106.55,)}, PHONE_GPS),  # decimal degrees
        (
            {1: "N", 2: (_rational(59, 2), _rational(0, 1), _rational(0, 1)), 3: "E", 4: (1.0,)},
            (29.5, 1.0),
        ),
        ({2: (29.0, 33.0, 54.36), 3: "E", 4: (106.0, 33.0, 0.0)}, (None, None)),  # no N/S
        ({1: "N", 2: (29.0, 33.0, 54.36)}, (None, None)),  # no longitude
        ({1: "X", 2: (29.0, 0.0, 0.0), 3: "E", 4: (106.0, 0.0, 0.0)}, (None, None)),
        ({1: "N", 2: (_rational(29, 0), 0.0, 0.0), 3: "E", 4: (106.0,)}, (None, None)),  # x/0
        ({1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (106.0, 0.0, 0.0)}, (None, None)),
        ({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}, (None, None)),  # no fix
        ({1: "N", 2: (1.0, 2.0, 3.0, 4.0), 3: "E", 4: (106.0,)}, (None, None)),
    ],
)
def test_gps(
    tmp_path: Path, gps: dict[int, object], expected: tuple[float | None, float | None]
) -> None:
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = gps
    photo = process(jpeg_with_exif(tmp_path / "gps.jpg", exif))
    assert photo.gps_lat == pytest.approx(expected[0], abs=1e-4)
    assert photo.gps_lng == pytest.approx(expected[1], abs=1e-4)
    assert_no_metadata(photo.display)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            {0x9003: "2024:05:01 10:20:30", 0x9011: "+08:00"},
            datetime(2024, 5, 1, 2, 20, 30, tzinfo=UTC),
        ),
        (
            {0x9003: "2024:05:01 10:20:30", 0x9011: "-03:30"},
            datetime(2024, 5, 1, 13, 50, 30, tzinfo=UTC),
        ),
        ({0x9003: "2024:05:01 10:20:30", 0x9291: "25"}, datetime(2024, 5, 1, 10, 20, 30, 250000)),
        ({0x9003: "2024:05:01 10:20:30"}, datetime(2024, 5, 1, 10, 20, 30)),  # device local time
        ({0x9003: "2024:05:01 10:20:30", 0x9011: "+8"}, datetime(2024, 5, 1, 10, 20, 30)),
        ({0x9003: "0000:00:00 00:00:00"}, None),
        ({0x9003: "    :  :     :  :  "}, None),
        ({0x9003: "2024:13:01 10:20:30"}, None),
        ({0x9004: "2024:05:01 10:20:30"}, None),  # digitised is not taken
    ],
)
def test_captured_at(tmp_path: Path, tags: dict[int, str], expected: datetime | None) -> None:
    exif = Image.Exif()
    exif[ExifTags.IFD.Exif] = tags
    photo = process(jpeg_with_exif(tmp_path / "t.jpg", exif))
    assert photo.captured_at == expected
    # naive stays naive (device local time), aware is UTC
    assert getattr(photo.captured_at, "tzinfo", None) == getattr(expected, "tzinfo", None)


def test_bad_exif_does_not_fail_the_photo() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(IMAGES / "hopper_bad_exif.jpg") as im:
            assert "exif" in im.info  # the block is there, and Pillow finds it corrupt
    photo = process(IMAGES / "hopper_bad_exif.jpg")
    assert (photo.gps_lat, photo.captured_at, photo.orientation) == (None, None, 1)


# --- colour -----------------------------------------------------------------------------------


def test_cmyk_becomes_rgb() -> None:
    raw = corpus("pil_sample_cmyk.jpg")
    assert raw.mode == "CMYK"
    display = decoded(process(IMAGES / "pil_sample_cmyk.jpg").display)
    assert display.mode == "RGB"
    # Pillow's own conversion, up to JPEG re-encoding noise (6.4 for this picture at quality 82);
    # an Adobe CMYK file read without inversion would be a negative, about 100 away
    assert mean_difference(display, raw.convert("RGB")) < 9


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_flattened_on_white(tmp_path: Path, fmt: str, mode: str) -> None:
    im = Image.new("RGBA", (64, 32), (0, 0, 0, 0))
    im.paste((200, 30, 30, 255), (0, 0, 32, 32))  # left half opaque, right half transparent
    if mode == "LA":
        im = im.convert("LA")
    elif mode == "P":
        im = im.convert("P")  # palette with a transparent entry
        if fmt == "WEBP":
            im = im.convert("RGBA")
    display = decoded(process(write(tmp_path / "t", encode(im, fmt, lossless=True))).display)
    assert display.mode == "RGB"
    assert min(display.getpixel((56, 16))) > 245  # type: ignore[arg-type]
    assert max(display.getpixel((8, 16))) < 210  # type: ignore[arg-type]


def test_sixteen_bit_greyscale_png_is_not_clipped(tmp_path: Path) -> None:
    im = Image.new("I;16", (32, 32), 32768)
    display = decoded(process(write(tmp_path / "g16.png", encode(im, "PNG"))).display)
    assert abs(display.getpixel((16, 16))[0] - 128) <= 3  # type: ignore[index]


def test_colour_profiles_are_applied_not_just_dropped(tmp_path: Path) -> None:
    with Image.open(IMAGES / "arrow.heic") as heic:
        display_p3 = heic.info["icc_profile"]
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    colour = (60, 170, 60)
    results = {}
    for name, profile in (("p3", display_p3), ("srgb", srgb)):
        im = Image.new("RGB", (32, 32), colour)
        path = write(tmp_path / f"{name}.jpg", encode(im, "JPEG", icc_profile=profile, quality=100))
        photo = process(path)
        assert_no_metadata(photo.display)
        results[name] = decoded(photo.display).getpixel((16, 16))
    assert max(abs(a - b) for a, b in zip(results["srgb"], colour, strict=True)) <= 3  # type: ignore[arg-type]
    # the same numbers mean a more saturated green in Display P3: about (0, 173, 35) in sRGB
    p3_red, _, p3_blue = results["p3"]  # type: ignore[misc]
    assert p3_red < 20
    assert p3_blue < 50


# --- dhash ------------------------------------------------------------------------------------


def test_dhash_is_stable_for_a_reencoded_copy(tmp_path: Path) -> None:
    original = corpus("flower.jpg")
    half = original.resize((original.width // 2, original.height // 2), Image.Resampling.BICUBIC)
    copy = write(tmp_path / "copy.jpg", encode(half, "JPEG", quality=70))
    a, b = process(IMAGES / "flower.jpg").dhash, process(copy).dhash
    assert dhash_distance(a, b) <= 6


@pytest.mark.parametrize("other", ["hopper.jpg", "arrow.heic", "pil_sample_cmyk.jpg"])
def test_dhash_is_far_for_a_different_photo(other: str) -> None:
    assert dhash_distance(process(IMAGES / "flower.jpg").dhash, process(IMAGES / other).dhash) > 20


def test_dhash_distance() -> None:
    assert dhash_distance("0" * 16, "f" * 16) == 64
    assert dhash_distance("8e49890e29ccce6b", "8e49890e29ccce6b") == 0
    assert dhash_distance("0000000000000001", "0000000000000003") == 1


def test_same_picture_rotated_by_exif_has_the_same_dhash() -> None:
    plain = process(IMAGES / "hopper.jpg").dhash
    assert dhash_distance(plain, process(IMAGES / "hopper_orientation_6.jpg").dhash) <= 6


# --- resources and global state ---------------------------------------------------------------

_MEMORY_PROBE = """
import resource, sys
from grid_backend.media.pipeline import PhotoRejected, process_photo

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

process_photo(sys.argv[1], max_bytes=15 * 2**20, max_pixels=60_000_000)  # load the plugins
before = peak_mb()
codes = []
for path in sys.argv[2:]:
    try:
        process_photo(path, max_bytes=15 * 2**20, max_pixels=60_000_000)
        codes.append("accepted")
    except PhotoRejected as exc:
        codes.append(exc.code)
print(peak_mb() - before, *codes)
"""


def test_bombs_do_not_grow_memory(tmp_path: Path) -> None:
    """In a fresh interpreter, so that the peak RSS is this test's and no earlier one's."""
    bombs = {
        IMAGES / "png_decompression_dos.png": "photo_corrupt",
        IMAGES / "decompression_bomb.gif": "photo_type_unsupported",
        write(tmp_path / "a.png", png_header(100_000, 100_000)): "photo_too_many_pixels",
        write(tmp_path / "b.png", png_header(10_000, 10_000)): "photo_too_many_pixels",
        write(tmp_path / "c.png", png_header(9_000, 7_000)): "photo_too_many_pixels",
        write(tmp_path / "d.jpg", jpeg_header(65_000, 65_000)): "photo_too_many_pixels",
        write(tmp_path / "e.jpg", jpeg_header(9_000, 7_000)): "photo_too_many_pixels",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            _MEMORY_PROBE,
            str(IMAGES / "hopper.jpg"),
            *map(str, bombs),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        timeout=60,
    )
    growth, *codes = result.stdout.split()
    assert codes == list(bombs.values())
    assert float(growth) < 50


def test_pillow_global_state_is_left_alone(tmp_path: Path) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    for name in [
        "hopper_bad_exif.jpg",
        "truncated_jpeg.jpg",
        "png_decompression_dos.png",
        "arrow.heic",
    ]:
        with contextlib.suppress(PhotoRejected):
            process(IMAGES / name)
    with pytest.raises(PhotoRejected):
        process(write(tmp_path / "b.png", png_header(10_000, 10_000)))
    after = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    assert after == before
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_heif_opener_never_decodes_embedded_thumbnails() -> None:
    assert "HEIF" in Image.OPEN
    assert pillow_heif.options.THUMBNAILS is False  # draft() can never swap in a thumbnail
