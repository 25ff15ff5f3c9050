"""`grid-backend media migrate --to s3`: copy the photos on local disk to the object store.

Each file is hashed first: an original must hash to its own name, and an object already in
the store with the same SHA-256 (its `sha256` metadata) is skipped, so a run that stopped
half-way resumes where it was. After each upload the object is read back and hashed. Local
files are left in place (docs/deployment.md says how to remove them after checking)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from grid_backend.media import storage
from grid_backend.media.objectstore import S3Store

# folder -> (variant, file name suffix)
_LAYOUT = {
    "originals": ("original", ""),
    "display": ("display", ".jpg"),
    "thumbs": ("thumbnail", ".jpg"),
}


@dataclass
class Summary:
    files: int = 0
    bytes: int = 0
    uploaded: int = 0
    uploaded_bytes: int = 0
    skipped: int = 0
    mismatched: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"done: {self.files} files ({self.bytes} bytes): {self.uploaded} uploaded"
            f" ({self.uploaded_bytes} bytes), {self.skipped} already there,"
            f" {len(self.mismatched)} SHA-256 mismatches"
        )


def local_files(root: Path) -> list[tuple[str, Path, str]]:
    """(key, path, sha256 the key names) of every stored file under root, in key order;
    temporary files and the upload spool are not photos."""
    found = []
    for folder, (_variant, suffix) in _LAYOUT.items():
        for path in sorted((root / folder).glob("*/*")):
            name = path.name
            if name.startswith(".") or not path.is_file() or not name.endswith(suffix):
                continue
            sha256 = name.removesuffix(suffix) if suffix else name
            if len(sha256) != 64 or path.parent.name != sha256[:2]:
                continue
            found.append((f"{folder}/{sha256[:2]}/{name}", path, sha256))
    return sorted(found)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


async def migrate_to_s3(
    *, target: S3Store, root: Path | None = None, echo: Callable[[str], None] = print
) -> Summary:
    """Copy every local photo file to target, verifying SHA-256s; one progress line each."""
    files = local_files(root or storage.root())
    summary = Summary(files=len(files), bytes=sum(p.stat().st_size for _k, p, _s in files))
    done_bytes = 0
    for n, (key, path, named) in enumerate(files, 1):
        size = path.stat().st_size
        done_bytes += size
        progress = f"{n}/{summary.files} {done_bytes}/{summary.bytes} bytes {key}"
        content = await anyio.to_thread.run_sync(_hash_file, path)
        if key.startswith("originals/") and content != named:
            summary.mismatched.append(key)
            echo(f"{progress}: MISMATCH, the file's SHA-256 is {content}; not copied")
            continue
        if await target.sha256_at(key) == content:
            summary.skipped += 1
            echo(f"{progress}: already there")
            continue
        kind = "application/octet-stream" if key.startswith("originals/") else "image/jpeg"
        await target.put_file(key, path, sha256=content, content_type=kind)
        held = await target.sha256_of(key)
        if held != content:
            await target.delete(key)  # its metadata would let a later run skip it
            summary.mismatched.append(key)
            echo(f"{progress}: MISMATCH, the store held {held}; removed from the store")
            continue
        summary.uploaded += 1
        summary.uploaded_bytes += size
        echo(f"{progress}: copied")
    echo(summary.line())
    return summary
