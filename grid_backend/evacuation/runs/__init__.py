"""Evacuations (转移避险): started by hand or proposed by a warning, one task per threatened
household for its helper, the households' statuses on a timeline, shelter check-in, the board,
the end and return (docs/evacuation.md, "Evacuations").

Who: `evacuation.start` (the command centre for its township, supervisors for the district)
starts, confirms and ends; `evacuation.read` (staff covering an area) sees the evacuation and
the households inside their area; a household's status is recorded by its helper or by staff
holding `evacuation.record` over its grid. Households outside all of these are 404.

The start is set-based (one INSERT … SELECT of the tasks, one of the helpers' notices), so a
district's 50,000 households are one short transaction.

One module per part: `common` (the workflow table, what the others share), `reading`,
`starting` (start, confirm, end), `notices` (the helpers' and linked residents' notices of a
start), `statuses` (the households and their statuses), `board` (shelter check-in and the
board) and `phone` (a helper's households, a linked resident's card and answer). Callers import from here."""

from grid_backend.evacuation.runs.board import board, check_in, rates
from grid_backend.evacuation.runs.common import (
    DONE,
    NEXT,
    SKIPS_CONTACT,
    Live,
    board_live,
    covered_by,
    publish,
)
from grid_backend.evacuation.runs.phone import answer, my_household, my_households
from grid_backend.evacuation.runs.reading import list_evacuations, read_evacuation
from grid_backend.evacuation.runs.starting import (
    Cover,
    activate,
    close_run,
    confirm_evacuation,
    end_evacuation,
    insert_run,
    proposal_holds,
    resolve_cover,
    start_evacuation,
)
from grid_backend.evacuation.runs.statuses import (
    list_tasks,
    read_task,
    record_status,
    timeline,
)

__all__ = [
    "DONE",
    "NEXT",
    "SKIPS_CONTACT",
    "Cover",
    "Live",
    "activate",
    "answer",
    "board",
    "board_live",
    "check_in",
    "close_run",
    "confirm_evacuation",
    "covered_by",
    "end_evacuation",
    "insert_run",
    "list_evacuations",
    "list_tasks",
    "my_household",
    "my_households",
    "proposal_holds",
    "publish",
    "rates",
    "read_evacuation",
    "read_task",
    "record_status",
    "resolve_cover",
    "start_evacuation",
    "timeline",
]
