"""Urgent cases from the first report to the last arrival: alerting the grid's responders and
the township's dispatcher, response records step by step, rescue teams and the nearest of them,
and the response-time metrics (defined in docs/metrics.md); one module each, re-exported here
so `from grid_backend.response import services` keeps working."""

from grid_backend.response.services.alerting import alert_cancelled, alert_urgent
from grid_backend.response.services.common import (
    ALERTED_DUTIES,
    DEFAULT_STATS_DAYS,
    MAX_STATS_DAYS,
    NEXT_STEP,
    ORDER,
    STEP_TO,
    TIME_COLUMN,
)
from grid_backend.response.services.metrics import figures, median, percentile, response_times
from grid_backend.response.services.reading import list_responses, list_urgent, my_responses
from grid_backend.response.services.steps import record_step
from grid_backend.response.services.teams import (
    create_team,
    dispatch_team,
    list_teams,
    read_team,
    retire_team,
    suggest_teams,
    update_team,
)

__all__ = [
    "ALERTED_DUTIES",
    "DEFAULT_STATS_DAYS",
    "MAX_STATS_DAYS",
    "NEXT_STEP",
    "ORDER",
    "STEP_TO",
    "TIME_COLUMN",
    "alert_cancelled",
    "alert_urgent",
    "create_team",
    "dispatch_team",
    "figures",
    "list_responses",
    "list_teams",
    "list_urgent",
    "median",
    "my_responses",
    "percentile",
    "read_team",
    "record_step",
    "response_times",
    "retire_team",
    "suggest_teams",
    "update_team",
]
