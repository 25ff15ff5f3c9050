"""Health, readiness and what clients must know: a small module above the domains (the
configuration a client reads includes the hazard categories and SLA defaults)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get

from grid_backend.core import geo, policy
from grid_backend.core.db import engine
from grid_backend.core.errors import PROBLEM_JSON
from grid_backend.hazards.schemas import CategoryRead
from grid_backend.hazards.services import categories, sla_for
from grid_backend.media import storage
from grid_backend.settings import get_settings


class PhotoLimits(msgspec.Struct):
    accepted_types: list[str]
    max_bytes: int
    max_pixels: int
    max_photos_per_report: int


class ConfigRead(msgspec.Struct):
    datums: list[str]
    storage_datum: str
    timezone: str
    levels: list[str]
    duties: list[str]
    boards: list[str]
    locate_tolerance_m: float
    access_token_seconds: int
    photos: PhotoLimits
    categories: list[CategoryRead]
    levels_of_hazard: list[str]
    sla_defaults: list[dict[str, Any]]


def _unavailable(title: str, detail: str) -> Response[dict[str, Any]]:
    body = {
        "type": "/problems/unavailable",
        "title": title,
        "status": 503,
        "code": "unavailable",
        "detail": detail,
    }
    return Response(body, status_code=503, media_type=PROBLEM_JSON)


class SystemController(Controller):
    tags = ["system"]

    @get("/healthz", summary="The process is up")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", summary="The database answers (and the photo object store, if one is used)")
    async def readyz(self) -> Response[dict[str, Any]]:
        try:
            await engine().run_ddl("SELECT 1")
        except Exception as exc:
            return _unavailable("database unreachable", type(exc).__name__)
        store = storage.current().name
        problem = await storage.readiness()  # at most one request every few seconds
        if problem is not None:
            return _unavailable("photo store unreachable", problem)
        return Response({"status": "ready", "database": engine().engine_type, "photos": store})

    @get("/api/v1/config", summary="What clients must know")
    async def config(self) -> ConfigRead:
        s = get_settings()
        sla = [
            {
                "level": level,
                **{k: v for k, v in (await sla_for("", level)).items() if k.endswith("_minutes")},
            }
            for level in ("general", "major")
        ]
        return ConfigRead(
            datums=list(geo.DATUMS),
            storage_datum="wgs84",
            timezone=s.timezone,
            levels=list(policy.LEVELS),
            duties=list(policy.DUTIES),
            boards=list(policy.BOARDS),
            locate_tolerance_m=s.locate_tolerance_m,
            access_token_seconds=s.access_token_seconds,
            photos=PhotoLimits(
                accepted_types=[
                    "image/jpeg",
                    "image/png",
                    "image/webp",
                    "image/heic",
                    "image/heif",
                ],
                max_bytes=s.media_max_bytes,
                max_pixels=s.media_max_pixels,
                max_photos_per_report=s.media_max_photos,
            ),
            categories=await categories(),
            levels_of_hazard=["general", "major"],
            sla_defaults=sla,
        )
