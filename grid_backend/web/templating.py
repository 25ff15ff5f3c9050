"""The Jinja environment of the pages: i18n, local time, and the static asset URLs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from grid_backend.core import policy
from grid_backend.settings import get_settings
from grid_backend.stats import labels
from grid_backend.web import assets, i18n
from grid_backend.web.console import console_may, console_user, csrf_token

UI = Path(__file__).resolve().parents[2] / "grid_ui"
TEMPLATES = UI / "templates"
STATIC = assets.STATIC


def localtime(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time shown in the configured zone (Asia/Shanghai by default)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(get_settings().zone).strftime(fmt)


def duties_allow(duties: Iterable[str], action: str) -> bool:
    """Whether any of these duties may do the action somewhere (a navigation link's test)."""
    return bool(policy.RULES.get(action, frozenset()) & set(duties))


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]  # added to the Environment by the jinja2.ext.i18n extension
    env.filters["localtime"] = localtime
    env.globals["current_language"] = i18n.current_language
    env.globals["languages"] = i18n.LANGUAGES
    env.globals["script_messages"] = i18n.messages_for_scripts
    env.globals["page_labels"] = labels.page_labels  # the label tables for page scripts
    env.globals["label"] = labels.label
    env.globals["static_url"] = assets.static_url  # /static/<path>?v=<hash>: web/assets.py
    env.globals["console_user"] = console_user
    env.globals["console_may"] = console_may  # which sections the navigation offers
    env.globals["console_csrf"] = csrf_token  # not "csrf_token": Litestar registers its own
    env.globals["duty_name"] = i18n.duty_name
    env.globals["duties_allow"] = duties_allow
    env.globals["timezone_name"] = get_settings().timezone
    return env


def template_config() -> TemplateConfig:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
