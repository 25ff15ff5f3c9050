"""Staff names of statuses, levels, channels and workflow actions, in English; the zh-CN names
are in the one message catalogue (messages.po, each table under its own `msgctxt`, since some
English names are also page texts with another translation): read by the ledger export and
the console pages (DESIGN.md §2 glossary)."""

from __future__ import annotations

from grid_backend.core import i18n


class Labels(dict[str, str]):
    """code -> English name, a msgid of the catalogue under `context`."""

    def __init__(self, context: str, names: dict[str, str]) -> None:
        super().__init__(names)
        self.context = context


STATUS = Labels(
    "case status",
    {
        "submitted": "Submitted",
        "registered": "Registered",
        "dispatched": "Dispatched",
        "in_progress": "In progress",
        "suspended": "Suspended",
        "pending_check": "Pending check",
        "closed": "Closed",
        "rejected": "Rejected",
        "merged": "Merged",
    },
)

LEVEL = Labels(
    "case level",
    {
        "general": "General",
        "major": "Major",
    },
)

CHANNEL = Labels(
    "case channel",
    {
        "resident_app": "Resident app",
        "grid_patrol": "Grid patrol",
        "hotline": "Hotline 12350",
        "open311": "Open311",  # stored as open311:<client slug>, named "Open311: <slug>"
        "qr": "QR code at the place",
        "sos": "One-tap SOS",
        "hotline_12345": "Hotline 12345",
        "hotline_12350": "Hotline 12350",
        "staff": "Filed by staff for a caller",
    },
)

ACTION = Labels(
    "case action",
    {
        "submit": "Report",
        "register": "Register",
        "reject": "Reject",
        "merge": "Merge",
        "merged_in": "Duplicate merged in",
        "dispatch": "Dispatch",
        "acknowledge": "Acknowledge",
        "return": "Return",
        "suspend": "Suspend",
        "resume": "Resume",
        "report_fixed": "Report fixed",
        "pass_check": "Pass check",
        "fail_check": "Fail check",
        "fix_on_spot": "Fix on the spot",
        "reopen": "Reopen",
        "relocate": "Relocate",
        "mark_internal": "Kept off public reads",
        "mark_public": "Shown on public reads",
        "support": "Me too",
        "escalate": "Escalation",
        "remind": "Reminder",
        "urgent_alert": "Responders alerted",
        "urgent_seen": "Urgent alarm seen",
        "sos_cancel": "SOS cancelled by its sender",
        "hotline_call": "Call taken on the case",
        "photo_added": "Photos added by the reporter",
        "response_dispatch": "Rescue team dispatched",
        "response_acknowledge": "Responder acknowledged",
        "response_set_off": "Responder set off",
        "response_arrive": "Responder arrived",
        "response_finish": "Response finished",
    },
)

POINTS_REASON = Labels(
    "points reason",
    {
        "registered": "Report accepted",
        "confirmed": "Hazard closed",
        "duplicate": "Repeat report",
        "false_report": "False report",
        "redeemed": "Redeemed",
    },
)

BOARD = Labels(
    "board",
    {
        "party_building": "Party building",
        "economy": "Economy",
        "livelihood": "Livelihood services",
        "safety_law": "Safety and rule of law",
    },
)


def name(table: Labels, code: str | None, english: bool = False) -> str:
    """The name of a code in a language; the code itself when unknown."""
    if code is None:
        return ""
    code, client = _client_of(code)
    if code not in table:
        return code + client
    with i18n.language("en" if english else "zh-CN"):
        return i18n.pgettext(table.context, table[code]) + client


def _client_of(code: str) -> tuple[str, str]:
    """A channel code with its client (open311:<slug>): the code, and ": <slug>" to append."""
    base, sep, client = code.partition(":")
    return (base, f": {client}") if sep else (code, "")


# Codes shown on the console and field pages; each table is a `msgctxt` of the catalogue.
WARNING_LEVEL = Labels(
    "warning level",
    {"blue": "Blue", "yellow": "Yellow", "orange": "Orange", "red": "Red"},
)

WARNING_TYPE = Labels(
    "warning type",
    {
        "heavy_rain": "Heavy rain",
        "geological": "Geological hazard",
        "flood": "Flood",
        "forest_fire": "Forest fire risk",
        "other": "Other",
    },
)

WARNING_STATUS = Labels(
    "warning status",
    {"upcoming": "Upcoming", "active": "In force", "expired": "Expired", "cancelled": "Lifted"},
)

CALLOUT_ANSWER = Labels(
    "callout answer",
    {
        "acked": "Acknowledged",
        "pending": "No answer yet",
        "reminded": "Reminded",
        "escalated": "Escalated",
    },
)

RESPONSE_TIER = Labels(
    "response tier",
    {"community": "Community response", "ground": "Ground rescue", "air": "Air rescue"},
)

RESPONSE_STATUS = Labels(
    "response status",
    {
        "alerted": "Alerted",
        "acknowledged": "Acknowledged",
        "set_off": "Set off",
        "arrived": "Arrived",
        "finished": "Finished",
    },
)

PLAN_STATUS = Labels("plan status", {"active": "Active", "paused": "Paused", "ended": "Ended"})

WEEKDAY = Labels(
    "weekday",
    {
        "mon": "Mon",
        "tue": "Tue",
        "wed": "Wed",
        "thu": "Thu",
        "fri": "Fri",
        "sat": "Sat",
        "sun": "Sun",
    },
)

TASK_STATUS = Labels(
    "task status",
    {
        "scheduled": "Not started",
        "in_progress": "In progress",
        "completed": "Completed",
        "missed": "Missed",
        "cancelled": "Cancelled",
    },
)

RISK_LEVEL = Labels(
    "risk level",
    {"low": "Low", "medium": "Medium", "high": "High", "major": "Major"},
)

CATEGORY_GROUP = Labels(
    "category group",
    {
        "production_safety": "Production safety",
        "natural_hazard": "Natural hazards",
        "urban_safety": "Urban safety",
        "other": "Other",
    },
)

DUTY = Labels(
    "duty",
    {
        "grid_leader": "Grid leader",
        "grid_worker": "Grid worker",
        "grid_instructor": "Grid instructor",
        "emergency_officer": "Emergency officer",
        "responder": "Community responder",
        "site_monitor": "Site monitor",
        "dispatcher": "Dispatcher",
        "commander": "Commander",
        "board_handler": "Board handler",
        "supervisor": "District supervisor",
        "admin": "Administrator",
    },
)

# a threatened household's vulnerable members (evacuation.households)
VULNERABLE = Labels(
    "vulnerable",
    {
        "elderly_alone": "Elderly living alone",
        "disabled": "Disabled or bedridden",
        "children": "Young children",
        "pregnant": "Pregnant",
    },
)

# the tables the pages name codes with, by context: `label("warning level", code)` in a
# template, `label("warning level", code)` in a page script (from the page's JSON)
EVACUATION_STATUS = Labels(
    "evacuation status",
    {"proposed": "Proposed", "active": "Under way", "ended": "Ended", "dismissed": "Dismissed"},
)

HOUSEHOLD_STATUS = Labels(
    "household status",
    {
        "pending": "Pending",
        "contacted": "Contacted",
        "moved": "Moved",
        "refused": "Refused",
        "not_at_home": "Not at home",
        "already_safe": "Already safe",
        "returned": "Returned",
    },
)

EVACUATION_DESTINATION = Labels(
    "evacuation destination",
    {"shelter": "To a shelter", "relatives": "To relatives", "self_arranged": "Self-arranged"},
)

EVACUATION_END = Labels(
    "evacuation end",
    {"by_hand": "Ended by hand", "warning_lifted": "Warning lifted"},
)

WEBHOOK_EVENT = Labels(
    "webhook event",
    {
        "case.created": "Case filed",
        "case.status_changed": "Case status changed",
        "case.assigned": "Case dispatched",
        "case.deadline_missed": "Case deadline missed",
        "case.closed": "Case closed",
        "warning.issued": "Warning issued",
        "warning.changed": "Warning changed",
        "warning.lifted": "Warning lifted",
        "warning.expired": "Warning expired",
        "callout.started": "Callout started",
        "callout.ended": "Callout ended",
        "evacuation.started": "Evacuation started",
        "evacuation.ended": "Evacuation ended",
        "evacuation.household_status": "Household status in an evacuation",
        "webhook.test": "Test event",
    },
)

PAGE_TABLES = {
    t.context: t
    for t in (
        STATUS,
        LEVEL,
        CHANNEL,
        ACTION,
        BOARD,
        DUTY,
        WARNING_LEVEL,
        WARNING_TYPE,
        WARNING_STATUS,
        CALLOUT_ANSWER,
        RESPONSE_TIER,
        RESPONSE_STATUS,
        PLAN_STATUS,
        WEEKDAY,
        TASK_STATUS,
        RISK_LEVEL,
        CATEGORY_GROUP,
        EVACUATION_STATUS,
        HOUSEHOLD_STATUS,
        EVACUATION_DESTINATION,
        EVACUATION_END,
        VULNERABLE,
        WEBHOOK_EVENT,
    )
}


def label(context: str, code: str | None) -> str:
    """The name of a code in the current language (the page's); the code itself when unknown,
    which the page sweep test (tests/e2e/test_page_words.py) reports."""
    if code is None:
        return ""
    table = PAGE_TABLES[context]
    code, client = _client_of(code)
    return (i18n.pgettext(context, table[code]) if code in table else code) + client


def page_labels() -> dict[str, dict[str, str]]:
    """Every page table in the current language, for page scripts."""
    return {
        context: {code: i18n.pgettext(context, text) for code, text in table.items()}
        for context, table in PAGE_TABLES.items()
    }
