"""Hazard cases: configuration, roles, reading and listing, submission with photos and
routing, duplicates and "me too", and the workflow's planners and actions; one module each.
The names are re-exported here, so `from grid_backend.hazards import services` keeps working.
Stories spanning domains (submit then alert; act then award and notify) are in
grid_backend.flows."""

from grid_backend.hazards.services.config import _category, categories, sla_for
from grid_backend.hazards.services.duplicates import (
    DUPLICATE_PHOTOS_SCANNED,
    PHOTO_DUPLICATE_BITS,
    check_duplicates,
    merge_candidates,
    possible_duplicates,
)
from grid_backend.hazards.services.listing import (
    SORTS,
    _scope_condition,
    list_reports,
    open_cases_of,
)
from grid_backend.hazards.services.reading import (
    _CASE_COLUMNS,
    _visible,
    case_view,
    overdue,
    read_report,
)
from grid_backend.hazards.services.roles import Actor, roles_for
from grid_backend.hazards.services.support import support

__all__ = [
    "DUPLICATE_PHOTOS_SCANNED",
    "PHOTO_DUPLICATE_BITS",
    "SORTS",
    "_CASE_COLUMNS",
    "Actor",
    "_category",
    "_scope_condition",
    "_visible",
    "case_view",
    "categories",
    "check_duplicates",
    "list_reports",
    "merge_candidates",
    "open_cases_of",
    "overdue",
    "possible_duplicates",
    "read_report",
    "roles_for",
    "sla_for",
    "support",
]
