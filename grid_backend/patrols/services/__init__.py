"""Patrols: plans, their tasks, check-ins at checkpoints, patrol logs and statistics.

One module per part: `plans` (and the `checkpoints` they share with tasks), `tasks` (reading,
starting, finishing and excusing them), `check_ins` and `stats`. Callers import from here."""

from grid_backend.patrols.services.check_in_export import export_check_ins
from grid_backend.patrols.services.check_ins import check_in
from grid_backend.patrols.services.plans import (
    GRID_LEVELS,
    OPEN_STATUSES,
    create_plan,
    list_plans,
    next_windows,
    read_plan,
    set_plan_status,
    update_plan,
)
from grid_backend.patrols.services.stats import MAX_STATS_DAYS, stats
from grid_backend.patrols.services.tasks import (
    excuse_task,
    finish_task,
    list_tasks,
    my_tasks,
    read_task,
    start_task,
)

__all__ = [
    "GRID_LEVELS",
    "MAX_STATS_DAYS",
    "OPEN_STATUSES",
    "check_in",
    "create_plan",
    "excuse_task",
    "export_check_ins",
    "finish_task",
    "list_plans",
    "list_tasks",
    "my_tasks",
    "next_windows",
    "read_plan",
    "read_task",
    "set_plan_status",
    "start_task",
    "stats",
    "update_plan",
]
