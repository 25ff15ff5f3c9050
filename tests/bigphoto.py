"""A 12-megapixel phone photo made with Pillow (the test photos are all small): a real photo
scaled up, a street sign with text, fine sensor-like grain, saved at a phone's JPEG quality with
EXIF GPS, capture time and its offset, as a phone's camera writes them (about 4.5 MB)."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import ExifTags, Image, ImageDraw, ImageFilter, ImageFont

SOURCE = Path(__file__).resolve().parent / "media" / "images" / "flower.jpg"
SIZE = (4000, 3000)


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return (float(degrees), float(minutes), seconds)


def big_photo(
    path: Path,
    *,
    gps: tuple[float, float] | None,
    taken: str = "2026:05:01 09:30:15",
    offset: str = "+08:00",
    seed: int = 141,
    size: tuple[int, int] = SIZE,
    quality: int = 95,
    orientation: int = 1,
) -> Path:
    """Write the photo to `path` (WGS-84 `gps` as lat, lng in its EXIF) and return the path;
    with `orientation` 6 the pixels are stored on their side, as a phone held upright does."""
    rng = random.Random(seed)
    stored = size
    if orientation == 6:  # the scene is upright; the sensor stores it turned a quarter left
        size = (size[1], size[0])
    base = Image.open(SOURCE).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(base)
    # blocks of texture (walls, pavement) so the scene is not one smooth blur
    for _ in range(120):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(40, 500), rng.randrange(40, 400)
        colour = tuple(rng.randrange(40, 220) for _ in range(3))
        draw.rectangle((x, y, x + w, y + h), outline=colour, width=rng.randrange(2, 9))
    # a sign whose text must stay readable after shrinking
    font = ImageFont.load_default(size=150)
    draw.rectangle((400, 300, 2600, 900), fill=(20, 90, 40), outline=(240, 240, 240), width=14)
    draw.text((470, 360), "DANGER GAS 141", fill=(250, 250, 250), font=font)
    draw.text((470, 600), "No. 12 Jiefangbei", fill=(250, 250, 250), font=font)
    base = base.filter(ImageFilter.UnsharpMask(radius=2, percent=60))
    grain = Image.effect_noise(size, 28).convert("RGB")
    photo = Image.blend(base, grain, 0.18)
    if orientation == 6:
        photo = photo.transpose(Image.Transpose.ROTATE_90)
    assert photo.size == stored
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "GridPhone"
    exif[ExifTags.Base.Orientation] = orientation  # 6: the camera was held upright
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = taken
    if offset:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps:
        ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        ifd[ExifTags.GPS.GPSLatitudeRef] = "N" if gps[0] >= 0 else "S"
        ifd[ExifTags.GPS.GPSLatitude] = _dms(abs(gps[0]))
        ifd[ExifTags.GPS.GPSLongitudeRef] = "E" if gps[1] >= 0 else "W"
        ifd[ExifTags.GPS.GPSLongitude] = _dms(abs(gps[1]))
    photo.save(path, "JPEG", quality=quality, exif=exif)
    return path
