"""Why the photo pipeline refuses an upload: a stable code and a message in two languages."""

from __future__ import annotations

REJECTION_CODES = frozenset(
    {
        "photo_type_unsupported",
        "photo_too_large",
        "photo_too_many_pixels",
        "photo_corrupt",
        "photo_truncated",
    }
)


class PhotoRejected(Exception):
    """An upload the service will not take as a photo: a stable code and a message in two languages."""

    def __init__(self, code: str, detail: str, detail_zh: str) -> None:
        assert code in REJECTION_CODES, code
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.detail_zh = detail_zh


def _unsupported(*, empty: bool) -> PhotoRejected:
    if empty:
        return PhotoRejected("photo_type_unsupported", "The file is empty.", "文件为空。")
    return PhotoRejected(
        "photo_type_unsupported",
        "The file is not a JPEG, PNG, WebP or HEIC/HEIF photo.",
        "文件不是 JPEG、PNG、WebP 或 HEIC/HEIF 格式的照片。",
    )


def _too_big_to_decode(size: tuple[int, int], cost: int, budget: int) -> PhotoRejected:
    width, height = size
    need, have = cost / 2**20, budget / 2**20
    return PhotoRejected(
        "photo_too_many_pixels",
        f"The photo has {width} x {height} pixels; decoding it would take {need:.0f} MB, more"
        f" than this server's {have:.0f} MB decoding budget.",
        f"照片为 {width} × {height} 像素，解码需 {need:.0f} MB，超过本服务器 {have:.0f} MB 的"
        "解码内存上限。",
    )


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> PhotoRejected:
    limit = f"{max_pixels / 1e6:g}"
    if size is None:
        return PhotoRejected(
            "photo_too_many_pixels",
            f"The photo claims far more pixels than the limit of {limit} megapixels.",
            f"照片声明的像素数远超 {limit} 百万像素的上限。",
        )
    width, height = size
    return PhotoRejected(
        "photo_too_many_pixels",
        f"The photo is {width} x {height} pixels; the limit is {limit} megapixels.",
        f"照片为 {width} x {height} 像素，超过了 {limit} 百万像素的上限。",
    )


def _corrupt() -> PhotoRejected:
    return PhotoRejected(
        "photo_corrupt",
        "The photo is damaged and cannot be read.",
        "照片文件已损坏，无法读取。",
    )


def _truncated() -> PhotoRejected:
    return PhotoRejected(
        "photo_truncated",
        "The photo is incomplete; the upload was probably cut off. Please send it again.",
        "照片不完整，可能是上传中断了，请重新上传。",
    )


def _decode_error(exc: BaseException) -> PhotoRejected:
    """Truncated (the upload was cut short) or corrupt, from what the decoder raised."""
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return _truncated()
    return _corrupt()
