"""Filing a hazard report: route and store the case (hazards), and alert the urgent chain
(response) in the same write transaction, so an urgent case is never stored unalerted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from grid_backend.core.db import write_transaction
from grid_backend.evacuation import qrcodes
from grid_backend.hazards import live
from grid_backend.hazards.schemas import ReportCreate, ReportRead
from grid_backend.hazards.services import Actor
from grid_backend.hazards.services import submission as hazards
from grid_backend.response import services as response


async def submit(
    *, data: ReportCreate, actor: Actor, idempotency_key: str | None
) -> tuple[ReportRead, bool]:
    """File a case (or return the first result of a retried submission); True if replayed."""
    once = hazards.report_once(data, actor, idempotency_key)
    earlier = await once.earlier()
    if earlier is not None:
        return earlier, True
    draft = await hazards.check_report(data, actor, once)
    code = await qrcodes.working_code(data.qr)  # made from a QR code at the place
    if code is not None:
        draft = replace(draft, channel="qr", qr_code_id=code)

    async def create() -> dict[str, Any]:
        async with write_transaction():
            row = await hazards.store_report(draft, once)
            if data.urgent:  # responders and the dispatcher are alerted now, before triage
                await response.alert_urgent(report_id=row["id"])
        return row

    stored, replayed = await once.run(create)
    if replayed:
        return stored, True  # type: ignore[return-value]  # the earlier answer
    row = cast(dict[str, Any], stored)  # not replayed: the row create() returned
    # committed: the consoles of its area learn of it now (an urgent one rings there)
    await live.announce_new(row["id"], urgent=data.urgent)
    return await hazards.answer_report(draft, row), False
