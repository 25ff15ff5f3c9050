"""The kinds of notification: their zh/en text, whether they are urgent, their channels.

A payload carries the event's fields (case_id, delta, grid_name…); the text is rendered from
them when the notification is enqueued and kept in the payload, so a message reads the same
however late it is delivered. A payload may also give `title_zh`/`title_en`/`body_zh`/
`body_en` itself, which win over the templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHANNELS = ("inbox", "push", "sms")
TEXT_FIELDS = ("title_zh", "title_en", "body_zh", "body_en")


@dataclass(frozen=True, slots=True)
class Kind:
    code: str
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str
    urgent: bool = False  # urgent kinds ignore quiet hours
    channels: tuple[str, ...] = ("inbox", "push")  # asked for; preferences may drop push/sms


KINDS: dict[str, Kind] = {
    k.code: k
    for k in (
        Kind(
            "case.status_changed",
            "案件进展",
            "Case update",
            "案件 #{case_id} 当前状态：{status_zh}",
            "Case #{case_id} is now: {status_en}",
        ),
        Kind(
            "case.assigned",
            "新的交办案件",
            "New case for you",
            "案件 #{case_id} 已交办给您，请按期处理",
            "Case #{case_id} has been dispatched to you",
        ),
        Kind(
            "case.due_soon",
            "案件即将到期",
            "Case due soon",
            "案件 #{case_id} 将于 {due_local} 到期，请及时处理",
            "Case #{case_id} is due at {due_local}",
        ),
        Kind(
            "case.overdue",
            "案件已超期",
            "Case overdue",
            "案件 #{case_id} 已超过办理期限，请尽快处理",
            "Case #{case_id} is past its deadline",
        ),
        Kind(
            "points.awarded",
            "积分到账",
            "Points awarded",
            "您获得 {delta} 积分：{reason_zh}",
            "You earned {delta} points: {reason_en}",
            channels=("inbox",),
        ),
        Kind(
            "patrol.reminder",
            "巡查提醒",
            "Patrol reminder",
            "{grid_name} 的巡查任务将于 {starts_local} 开始",
            "Your patrol of {grid_name} starts at {starts_local}",
        ),
        Kind(
            "patrol.not_started",
            "巡查尚未开始",
            "Patrol not started",
            "{grid_name} 的巡查时段已过半，尚未开始",
            "Half of the patrol window for {grid_name} has passed without a start",
        ),
        Kind(
            "patrol.missed",
            "巡查任务漏巡",
            "Patrol missed",
            "{assignee_name} 未完成 {grid_name} {starts_local} 的巡查",
            "{assignee_name} missed the {starts_local} patrol of {grid_name}",
        ),
        Kind(
            "patrol.repeated_misses",
            "多次漏巡",
            "Repeated missed patrols",
            "{assignee_name} 近7天漏巡 {count} 次",
            "{assignee_name} missed {count} patrols in 7 days",
        ),
        Kind(
            "warning.issued",
            "{level_zh}预警",
            "{level_en} warning",
            "{area_name}：{text_zh}",
            "{area_name}: {text_en}",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "callout",
            "紧急叫应",
            "Urgent callout",
            "{text_zh} 请立即回复“收到”。",
            "{text_en} Reply “received” now.",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "case.urgent",
            "紧急险情",
            "Urgent incident",
            "{grid_name}发生{category_zh}（案件 #{case_id}），请立即响应",
            "{category_en} in {grid_name} (case #{case_id}): respond now",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "callout.reminder",
            "叫应未回复提醒",
            "Callout not yet acknowledged",
            "您尚未回复叫应：{text_zh} 请立即回复“收到”。",
            "You have not acknowledged: {text_en} Reply “received” now.",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "callout.escalated",
            "叫应无人回复",
            "Callout unanswered",
            "{area_name} 有 {count} 人 {minutes} 分钟未回复叫应：{names}",
            "{count} in {area_name} have not acknowledged in {minutes} min: {names}",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "warning.cancelled",
            "{level_zh}预警解除",
            "{level_en} warning lifted",
            "{area_name}：{text_zh}",
            "{area_name}: {text_en}",
        ),
        Kind("system.message", "{title_zh}", "{title_en}", "{body_zh}", "{body_en}"),
    )
}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""  # a field the caller left out reads as empty, not as a crash at send time


def kind_of(code: str) -> Kind:
    try:
        return KINDS[code]
    except KeyError:
        raise ValueError(f"unknown notification kind {code!r}; add it to notify.kinds") from None


def render(kind: Kind, payload: dict[str, Any]) -> dict[str, str]:
    """The four texts of a notification, from the payload's own texts or the templates."""
    values = _Blank(payload)
    out = {}
    for name in TEXT_FIELDS:
        given = payload.get(name)
        out[name] = str(given) if given else getattr(kind, name).format_map(values)
    if not out["title_en"]:
        out["title_en"] = out["title_zh"]
    if not out["body_en"]:
        out["body_en"] = out["body_zh"]
    return out
