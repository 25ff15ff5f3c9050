"""The case queue's one-click views: each is a set of filters (and an order) the queue's
form can also express, so a view is only a link, and the view whose filters are the ones
shown is marked as the current one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True, slots=True)
class View:
    key: str
    label: str  # English; zh-CN in messages.po
    filters: tuple[tuple[str, str], ...]  # the queue's query parameters, status repeated
    sort: str = ""


VIEWS = (
    # submitted, not yet registered or turned down: triage runs against the clock
    View("awaiting", "Awaiting triage", (("status", "submitted"),), "urgent"),
    View("overdue", "Past deadline", (("overdue", "true"),), "urgent"),
    View("urgent", "Urgent", (("status", "open"), ("urgent", "true")), "due"),
    View("due_today", "Due today", (("status", "open"), ("overdue", "today")), "urgent"),
    View("mine", "Dispatched by me", (("status", "open"), ("dispatched_by", "me")), "due"),
)

# the filters a view may set; the order and the page are not filters
FILTER_KEYS = (
    "status",
    "category",
    "level",
    "area_id",
    "assignee_id",
    "overdue",
    "urgent",
    "dispatched_by",
    "from",
    "to",
    "q",
)


def _pairs(filters: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for key in FILTER_KEYS:
        value = filters.get(key)
        for v in value if isinstance(value, list) else [value]:
            if v not in (None, ""):
                found.add((key, str(v)))
    return found


def views_for(filters: dict[str, Any]) -> list[dict[str, Any]]:
    """The views as links, the one matching the filters shown marked current."""
    shown = _pairs(filters)
    return [
        {
            "key": v.key,
            "label": v.label,
            "query": urlencode([*v.filters, *([("sort", v.sort)] if v.sort else [])]),
            "current": shown == set(v.filters),
        }
        for v in VIEWS
    ]
