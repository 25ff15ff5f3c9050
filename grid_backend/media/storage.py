"""Content-addressed photo files under GRID_MEDIA_ROOT.

    originals/ab/<sha256>     the bytes as uploaded: evidence, served only to staff
    display/ab/<sha256>.jpg   upright, ≤ 2048 px, no metadata
    thumbs/ab/<sha256>.jpg    ≤ 320 px
Every file is written to a temporary name and renamed, so a reader never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from grid_backend.settings import get_settings

Variant = Literal["original", "display", "thumbnail"]
_FOLDERS = {
    "original": ("originals", ""),
    "display": ("display", ".jpg"),
    "thumbnail": ("thumbs", ".jpg"),
}


def root() -> Path:
    return get_settings().media_root


def spool_dir() -> Path:
    """Where uploads stream to: on the same file system, so keeping one is a rename."""
    return root() / "incoming"


def path_of(sha256: str, variant: Variant) -> Path:
    folder, suffix = _FOLDERS[variant]
    return root() / folder / sha256[:2] / f"{sha256}{suffix}"


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def keep(sha256: str, upload: Path, display: bytes, thumbnail: bytes) -> None:
    """Store a processed upload (blocking; run in a worker thread). An identical photo
    stored before is kept as it is and the upload is dropped."""
    original = path_of(sha256, "original")
    if original.exists():
        upload.unlink(missing_ok=True)
    else:
        original.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(upload, 0o600)  # evidence: not world-readable
        os.replace(upload, original)
    for variant, data in (("display", display), ("thumbnail", thumbnail)):
        target = path_of(sha256, variant)  # type: ignore[arg-type]  # both names are variants
        if not target.exists():
            _write_atomic(target, data)
