"""The kinds of notification: their text (English templates, zh-CN in the one message
catalogue under msgctxt "notification"), whether they are urgent, their channels.

A payload carries the event's fields (case_id, delta, grid_name…); the text is rendered from
them when the notification is enqueued and kept in the payload, so a message reads the same
however late it is delivered. A payload may also give `title_zh`/`title_en`/`body_zh`/
`body_en` itself, which win over the templates. The templates keep str.format `{name}` fields
(the two languages may name different fields: {status_zh} / {status_en})."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grid_backend.core import i18n

CHANNELS = ("inbox", "push", "sms")
TEXT_FIELDS = ("title_zh", "title_en", "body_zh", "body_en")


NOTIFICATION = "notification"  # the msgctxt of the templates in messages.po


@dataclass(frozen=True, slots=True)
class Kind:
    code: str
    title: str  # English template, a msgid (zh-CN in messages.po); `{name}` from the payload
    body: str
    urgent: bool = False  # urgent kinds ignore quiet hours
    channels: tuple[str, ...] = ("inbox", "push")  # asked for; preferences may drop push/sms

    def template(self, field: str) -> str:
        """The template of one of TEXT_FIELDS (title_zh, title_en, body_zh, body_en)."""
        part, _, language = field.partition("_")
        with i18n.language("en" if language == "en" else "zh-CN"):
            return i18n.pgettext(NOTIFICATION, getattr(self, part))

    @property
    def title_zh(self) -> str:
        return self.template("title_zh")

    @property
    def title_en(self) -> str:
        return self.template("title_en")

    @property
    def body_zh(self) -> str:
        return self.template("body_zh")

    @property
    def body_en(self) -> str:
        return self.template("body_en")


KINDS: dict[str, Kind] = {
    k.code: k
    for k in (
        Kind("case.status_changed", "Case update", "Case #{case_id} is now: {status_en}"),
        Kind("case.assigned", "New case for you", "Case #{case_id} has been dispatched to you"),
        Kind("case.due_soon", "Case due soon", "Case #{case_id} is due at {due_local}"),
        Kind("case.overdue", "Case overdue", "Case #{case_id} is past its deadline"),
        Kind(
            "points.awarded",
            "Points awarded",
            "You earned {delta} points: {reason_en}",
            channels=("inbox",),
        ),
        Kind(
            "patrol.reminder",
            "Patrol reminder",
            "Your patrol of {grid_name} starts at {starts_local}",
        ),
        Kind(
            "patrol.not_started",
            "Patrol not started",
            "Half of the patrol window for {grid_name} has passed without a start",
        ),
        Kind(
            "patrol.missed",
            "Patrol missed",
            "{assignee_name} missed the {starts_local} patrol of {grid_name}",
        ),
        Kind(
            "patrol.repeated_misses",
            "Repeated missed patrols",
            "{assignee_name} missed {count} patrols in 7 days",
        ),
        Kind(
            "warning.issued",
            "{level_en} warning",
            "{area_name}: {text_en}",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "callout",
            "Urgent callout",
            "{text_en} Reply “received” now.",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "case.urgent",
            "Urgent incident",
            "{category_en} in {grid_name} (case #{case_id}): respond now",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "case.urgent_cancelled",
            "Urgent incident called off",
            "Case #{case_id} in {grid_name} was cancelled by its sender as a false alarm:"
            " no need to go",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "callout.reminder",
            "Callout not yet acknowledged",
            "You have not acknowledged: {text_en} Reply “received” now.",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "callout.escalated",
            "Callout unanswered",
            "{count} in {area_name} have not acknowledged in {minutes} min: {names}",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "evacuation.started",
            "Evacuation: move your households",
            "{area_name}: move your {count} households ({people} people) to safety now",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "evacuation.proposed",
            "Evacuation proposed: confirm",
            "{area_name}: the {level_en} warning covers {count} households ({people} people);"
            " confirm the evacuation",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "evacuation.refused",
            "Household refuses to move",
            "{area_name}: {address} ({people} people) refuses to move: {reason}",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "evacuation.notice",
            "Evacuation: go to your shelter",
            "{area_name}: leave now for {shelter_name} (route: {route_url})."
            " Tell your helper in the app: “I have moved” or “I am safe”.",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind(
            "evacuation.not_started",
            "Evacuation not started",
            "{area_name}: {count} helpers have not started after {minutes} min: {names}",
            urgent=True,
            channels=CHANNELS,
        ),
        Kind("warning.cancelled", "{level_en} warning lifted", "{area_name}: {text_en}"),
        Kind("system.message", "{title_en}", "{body_en}"),
        Kind(
            "webhook.paused",
            "Webhook paused",
            "The webhook “{name}” failed {failures} times in a row and is paused: {error}",
        ),
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
        out[name] = str(given) if given else kind.template(name).format_map(values)
    if not out["title_en"]:
        out["title_en"] = out["title_zh"]
    if not out["body_en"]:
        out["body_en"] = out["body_zh"]
    return out
