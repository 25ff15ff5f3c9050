"""Warnings (预警) and callouts (叫应): issue, change and cancel warnings over areas; the extra
patrol rounds they add; callouts to the people of the affected grids (or a named list), their
one-tap acknowledgements, and the live board of who has answered.

Visibility: a warning is seen by staff whose area overlaps one of its areas; a callout by those
who may watch its board (managers and grid leaders whose area overlaps it, each seeing the part
inside their own area) and by the people it was sent to, who see nothing else.

One module per part: `warnings`, `callouts`, `watchers` (who watches a board), `board`
(acknowledgements and the board) and `common` (what they share). Callers import from here."""

from grid_backend.alerts.services.board import acknowledge, board, my_callouts, names_of
from grid_backend.alerts.services.callouts import (
    cancel_callout,
    create_callout,
    list_callouts,
    read_callout,
)
from grid_backend.alerts.services.common import (
    BOARD_AREAS,
    CALLING,
    INLINE_EVENTS,
    LEVEL_EN,
    LEVEL_ZH,
    MAX_LEAD,
    MAX_PERIOD,
    RANK,
    TYPE_EN,
    TYPE_ZH,
    Live,
    publish_live,
)
from grid_backend.alerts.services.warnings import (
    cancel_warning,
    issue_warning,
    list_warnings,
    read_warning,
    update_warning,
)
from grid_backend.alerts.services.watchers import board_event, watchers

__all__ = [
    "BOARD_AREAS",
    "CALLING",
    "INLINE_EVENTS",
    "LEVEL_EN",
    "LEVEL_ZH",
    "MAX_LEAD",
    "MAX_PERIOD",
    "RANK",
    "TYPE_EN",
    "TYPE_ZH",
    "Live",
    "acknowledge",
    "board",
    "board_event",
    "cancel_callout",
    "cancel_warning",
    "create_callout",
    "issue_warning",
    "list_callouts",
    "list_warnings",
    "my_callouts",
    "names_of",
    "publish_live",
    "read_callout",
    "read_warning",
    "update_warning",
    "watchers",
]
