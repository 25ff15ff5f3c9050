"""Staff names of statuses, levels, channels and workflow actions, in Chinese and English:
read by the ledger export and the console pages (DESIGN.md §2 glossary)."""

from __future__ import annotations

STATUS: dict[str, tuple[str, str]] = {
    "submitted": ("待受理", "Submitted"),
    "registered": ("已立案", "Registered"),
    "dispatched": ("已交办", "Dispatched"),
    "in_progress": ("整改中", "In progress"),
    "suspended": ("已挂起", "Suspended"),
    "pending_check": ("待核查", "Pending check"),
    "closed": ("已办结", "Closed"),
    "rejected": ("不予受理", "Rejected"),
    "merged": ("已合并", "Merged"),
}
LEVEL: dict[str, tuple[str, str]] = {
    "general": ("一般隐患", "General"),
    "major": ("重大隐患", "Major"),
}
CHANNEL: dict[str, tuple[str, str]] = {
    "resident_app": ("群众上报", "Resident app"),
    "grid_patrol": ("网格巡查", "Grid patrol"),
    "hotline": ("12350 热线", "Hotline 12350"),
    "open311": ("Open311", "Open311"),
}
ACTION: dict[str, tuple[str, str]] = {
    "submit": ("上报", "Report"),
    "register": ("立案", "Register"),
    "reject": ("不予受理", "Reject"),
    "merge": ("合并", "Merge"),
    "merged_in": ("并入重复上报", "Duplicate merged in"),
    "dispatch": ("交办", "Dispatch"),
    "acknowledge": ("签收", "Acknowledge"),
    "return": ("退回", "Return"),
    "suspend": ("挂起", "Suspend"),
    "resume": ("恢复办理", "Resume"),
    "report_fixed": ("整改完成", "Report fixed"),
    "pass_check": ("核查通过", "Pass check"),
    "fail_check": ("核查不通过", "Fail check"),
    "fix_on_spot": ("即查即改", "Fix on the spot"),
    "reopen": ("重新办理", "Reopen"),
    "relocate": ("更正位置", "Relocate"),
    "support": ("附议", "Me too"),
    "escalate": ("升级督办", "Escalation"),
    "remind": ("催办", "Reminder"),
    "urgent_alert": ("紧急通知应急力量", "Responders alerted"),
    "response_dispatch": ("调派救援队伍", "Rescue team dispatched"),
    "response_acknowledge": ("应急人员收到", "Responder acknowledged"),
    "response_set_off": ("应急人员出发", "Responder set off"),
    "response_arrive": ("应急人员到场", "Responder arrived"),
    "response_finish": ("应急处置完毕", "Response finished"),
}
POINTS_REASON: dict[str, tuple[str, str]] = {
    "registered": ("上报已受理", "Report accepted"),
    "confirmed": ("隐患已办结", "Hazard closed"),
    "duplicate": ("重复上报", "Repeat report"),
    "false_report": ("上报不实", "False report"),
    "redeemed": ("兑换", "Redeemed"),
}
BOARD: dict[str, tuple[str, str]] = {
    "party_building": ("党的建设", "Party building"),
    "economy": ("经济发展", "Economy"),
    "livelihood": ("民生服务", "Livelihood services"),
    "safety_law": ("平安法治", "Safety and rule of law"),
}


def name(table: dict[str, tuple[str, str]], code: str | None, english: bool = False) -> str:
    """The name of a code in a language; the code itself when unknown."""
    if code is None:
        return ""
    zh, en = table.get(code, (code, code))
    return en if english else zh
