"""Urgent alerting: the grid's responders and the township's dispatchers, at once."""

from __future__ import annotations

from datetime import date
from typing import Any

from grid_backend.core import clock, i18n, policy
from grid_backend.core.errors import NotFound
from grid_backend.hazards import timeline
from grid_backend.hazards.tables import Category, HazardEvent, HazardReport
from grid_backend.notify import kinds
from grid_backend.notify import services as notify
from grid_backend.people.duty import holders, on_duty
from grid_backend.people.tables import Assignment
from grid_backend.response.services.common import ALERTED_DUTIES
from grid_backend.response.tables import ResponseRecord

_ALERT_CASE_COLUMNS = (
    HazardReport.id,
    HazardReport.status,
    HazardReport.channel,
    HazardReport.category,
    HazardReport.area_path,
    HazardReport.lat,
    HazardReport.lng,
    HazardReport.grid.name.as_alias("grid_name"),
)


async def alert_urgent(*, report_id: int) -> int:
    """Alert an urgent case at once, in the transaction that files it: a response record and
    an urgent notification for each responder and emergency officer of its grid (and its
    micro-grids), an urgent notification for the township's dispatchers (its commanders when
    it has none); returns how many people were alerted."""
    case = (
        await HazardReport.select(*_ALERT_CASE_COLUMNS)
        .where(HazardReport.id == report_id)
        .first()
        .run()
    )
    if case is None:
        raise NotFound("report_not_found")
    now, day = clock.now(), clock.today()
    duty_of = await _responders(case["area_path"], day)
    command = await _command(case["area_path"], day)
    recipients = list(dict.fromkeys([*duty_of, *command]))
    if not recipients:  # nobody on duty there today: the case waits in the console's list
        return 0
    if duty_of:
        await ResponseRecord.insert(
            *[
                ResponseRecord(
                    report=report_id,
                    account=account,
                    duty=duty,
                    tier="community",
                    status="alerted",
                    alerted_at=now,
                    created_at=now,
                    updated_at=now,
                )
                for account, duty in duty_of.items()
            ]
        ).run()
    await _notify(case, recipients)
    await timeline.record_event(
        report_id,
        from_status=case["status"],
        to_status=case["status"],
        action="urgent_alert",
        actor_id=None,
        data={"responders": list(duty_of), "dispatchers": list(command)},
        public=False,
    )
    return len(recipients)


async def _responders(area_path: str, day: date) -> dict[int, str]:
    """The responders and emergency officers on duty in the grid and its micro-grids: one
    a person, the emergency officer's duty winning over a responder's."""
    rows = (
        await Assignment.select(Assignment.account, Assignment.duty, Assignment.area_path)
        .where(
            Assignment.duty.is_in(list(ALERTED_DUTIES))
            & Assignment.area_path.like(area_path + "%")
            & on_duty(day)
        )
        .order_by(Assignment.id)
        .run()
    )
    duty_of: dict[int, str] = {}
    for r in rows:
        if duty_of.get(r["account"]) != "emergency_officer":
            duty_of[r["account"]] = r["duty"]
    return duty_of


async def _command(area_path: str, day: date) -> list[int]:
    """The township's dispatchers on duty, else its commanders."""
    township = policy.ancestor_path(area_path, "township")
    command = (await holders(duties=["dispatcher"], area_paths=[township], day=day)).get(township)
    if not command:
        command = (await holders(duties=["commander"], area_paths=[township], day=day)).get(
            township, []
        )
    return command


async def _notify(case: dict[str, Any], recipients: list[int]) -> None:
    """The urgent notification, naming the category in both languages."""
    category = (
        await Category.select(Category.name_zh, Category.name_en)
        .where(Category.code == case["category"])
        .first()
        .run()
    ) or {"name_zh": case["category"], "name_en": case["category"]}
    if case["channel"] == "sos":  # a call for help names no hazard type: say what it is
        with i18n.language("zh-CN"):
            category = {"name_zh": i18n.pgettext(kinds.NOTIFICATION, "SOS call")}
        category["name_en"] = "SOS call"
    await notify.enqueue_many(
        recipient_ids=recipients,
        kind="case.urgent",
        payload={
            "case_id": case["id"],
            "category": case["category"],
            "category_zh": category["name_zh"],
            "category_en": category["name_en"],
            "grid_name": case["grid_name"],
            "lat": case["lat"],
            "lng": case["lng"],
        },
        dedupe_key=f"case:{case['id']}:urgent",
    )


async def alert_cancelled(*, report_id: int) -> int:
    """The sender called off an urgent case (a false SOS): everyone its alert reached hears so
    through the same channels, urgent too, so nobody sets off for nothing; in the transaction
    that records the cancel. Returns how many people were told."""
    alerted = (
        await HazardEvent.select(HazardEvent.data)
        .where((HazardEvent.report == report_id) & (HazardEvent.action == "urgent_alert"))
        .output(load_json=True)
        .first()
        .run()
    )
    if alerted is None:  # nobody was on duty to alert: nobody to tell
        return 0
    data = alerted["data"] or {}
    recipients = list(dict.fromkeys([*data.get("responders", []), *data.get("dispatchers", [])]))
    case = (
        await HazardReport.select(*_ALERT_CASE_COLUMNS)
        .where(HazardReport.id == report_id)
        .first()
        .run()
    )
    if case is None or not recipients:
        return 0
    await notify.enqueue_many(
        recipient_ids=recipients,
        kind="case.urgent_cancelled",
        payload={"case_id": case["id"], "grid_name": case["grid_name"]},
        dedupe_key=f"case:{case['id']}:urgent_cancelled",
    )
    return len(recipients)
