"""Why the photo pipeline refuses an upload: a stable code and an English message (zh-CN in
the catalogue)."""

from __future__ import annotations

from typing import Any

from grid_backend.core import i18n

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
    """An upload the service will not take as a photo: a stable code and an English message id
    (zh-CN in the catalogue), its `%(name)s` placeholders filled from `params`."""

    def __init__(self, code: str, detail: str, params: dict[str, Any] | None = None) -> None:
        assert code in REJECTION_CODES, code
        self.code = code
        self.message_id = detail
        self.params = params or {}
        self.detail = detail % self.params if self.params else detail
        super().__init__(f"{code}: {self.detail}")

    @property
    def detail_zh(self) -> str:
        with i18n.language("zh-CN"):
            return i18n.gettext(self.message_id, **self.params)


def _unsupported(*, empty: bool) -> PhotoRejected:
    if empty:
        return PhotoRejected("photo_type_unsupported", "The file is empty.")
    return PhotoRejected(
        "photo_type_unsupported", "The file is not a JPEG, PNG, WebP or HEIC/HEIF photo."
    )


def _too_big_to_decode(size: tuple[int, int], cost: int, budget: int) -> PhotoRejected:
    width, height = size
    return PhotoRejected(
        "photo_too_many_pixels",
        "The photo has %(width)s x %(height)s pixels; decoding it would take %(need).0f MB, more"
        " than this server's %(have).0f MB decoding budget.",
        {"width": width, "height": height, "need": cost / 2**20, "have": budget / 2**20},
    )


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> PhotoRejected:
    limit = f"{max_pixels / 1e6:g}"
    if size is None:
        return PhotoRejected(
            "photo_too_many_pixels",
            "The photo claims far more pixels than the limit of %(limit)s megapixels.",
            {"limit": limit},
        )
    width, height = size
    return PhotoRejected(
        "photo_too_many_pixels",
        "The photo is %(width)s x %(height)s pixels; the limit is %(limit)s megapixels.",
        {"width": width, "height": height, "limit": limit},
    )


def _corrupt() -> PhotoRejected:
    return PhotoRejected(
        "photo_corrupt",
        "The photo is damaged and cannot be read.",
    )


def _truncated() -> PhotoRejected:
    return PhotoRejected(
        "photo_truncated",
        "The photo is incomplete; the upload was probably cut off. Please send it again.",
    )


def _decode_error(exc: BaseException) -> PhotoRejected:
    """Truncated (the upload was cut short) or corrupt, from what the decoder raised."""
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return _truncated()
    return _corrupt()
