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
        "open311": "Open311",
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
        "support": "Me too",
        "escalate": "Escalation",
        "remind": "Reminder",
        "urgent_alert": "Responders alerted",
        "urgent_seen": "Urgent alarm seen",
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
    if code not in table:
        return code
    with i18n.language("en" if english else "zh-CN"):
        return i18n.pgettext(table.context, table[code])
