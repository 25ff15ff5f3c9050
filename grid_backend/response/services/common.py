"""What the parts of the response share: the statuses in order and small helpers."""

from __future__ import annotations

from datetime import datetime

from grid_backend.response.tables import ResponseRecord

# The grid duties an urgent case alerts, each becoming a community-tier response record.
ALERTED_DUTIES = ("responder", "emergency_officer")
# A response's statuses in order, and the step that leads to each.
ORDER = ("alerted", "acknowledged", "set_off", "arrived", "finished")
STEP_TO = {
    "acknowledge": "acknowledged",
    "set_off": "set_off",
    "arrive": "arrived",
    "finish": "finished",
}
NEXT_STEP = {
    "alerted": "acknowledge",
    "acknowledged": "set_off",
    "set_off": "arrive",
    "arrived": "finish",
}
TIME_COLUMN = {
    "alerted": ResponseRecord.alerted_at,
    "acknowledged": ResponseRecord.acknowledged_at,
    "set_off": ResponseRecord.set_off_at,
    "arrived": ResponseRecord.arrived_at,
    "finished": ResponseRecord.finished_at,
}
MAX_STATS_DAYS = 366
DEFAULT_STATS_DAYS = 30


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60.0, 2)
