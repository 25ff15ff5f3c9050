"""What a photo store holds, read the same way from local disk and from the S3 server."""

from __future__ import annotations

from pathlib import Path

import obstore

from grid_backend.media import storage


async def stored_bytes(store, sha256: str, variant: storage.Variant) -> bytes:
    source = await store.open(sha256, variant)
    if isinstance(source, Path):
        return source.read_bytes()
    return b"".join([chunk async for chunk in source.chunks])


async def stored_keys(store, sha256: str) -> list[str]:
    """Every object (or file) kept for these bytes, by key."""
    keys = [storage.key_of(sha256, v) for v in storage.VARIANTS]
    if isinstance(store, storage.LocalStore):
        found = []
        for key in keys:
            folder = (storage.root() / key).parent
            found += [f"{p.parent.parent.name}/{p.parent.name}/{p.name}" for p in folder.iterdir()]
        return sorted(k for k in found if sha256 in k)
    found = []
    for key in keys:
        async for batch in obstore.list(store.client, prefix=key.rsplit("/", 1)[0]):
            found += [meta["path"] for meta in batch if sha256 in meta["path"]]
    return sorted(found)
