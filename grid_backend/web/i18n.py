"""Page languages: zh-CN by default, English on request; gettext catalogs read with Babel.

Templates and page scripts are written with English message ids; `grid_ui/translations/<lang>/
LC_MESSAGES/messages.po` gives the other languages (zh_CN today). The catalogs are read once,
from the .po files themselves, so `make run` needs no compile step."""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "grid_ui" / "translations"
LANGUAGES = ("zh-CN", "en")  # the first is the default
DEFAULT_LANGUAGE = LANGUAGES[0]
COOKIE = "grid_lang"

_language: ContextVar[str] = ContextVar("page_language", default=DEFAULT_LANGUAGE)


@cache
def catalog(language: str) -> dict[str, Any]:
    """msgid -> translation (a string, or a tuple of plural forms) for one language."""
    path = TRANSLATIONS / language.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        entries = read_po(handle)
    found: dict[str, Any] = {}
    for message in entries:
        if not message.id or not message.string or message.fuzzy:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]  # plural: singular
        found[key] = message.string
    return found


def pick_language(query: str | None, cookie: str | None) -> str:
    """The page language: `?lang=` wins, then the cookie, then the default."""
    for wanted in (query, cookie):
        if wanted:
            for language in LANGUAGES:
                if wanted.lower() == language.lower() or wanted.lower() == language[:2]:
                    return language
    return DEFAULT_LANGUAGE


def choose_for(request: Any) -> str:
    """Set the language of this request's page from its query and cookie."""
    language = pick_language(request.query_params.get("lang"), request.cookies.get(COOKIE))
    _language.set(language)
    return language


def set_language(language: str) -> None:
    _language.set(language)


def current_language() -> str:
    return _language.get()


def gettext(message: str, **variables: Any) -> str:
    found = catalog(current_language()).get(message)
    text = found[0] if isinstance(found, tuple | list) else (found or message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    found = catalog(current_language()).get(singular)
    if isinstance(found, tuple | list) and found:
        text = found[0] if len(found) == 1 or n == 1 else found[1]
    else:
        text = singular if n == 1 else plural
    variables.setdefault("num", n)
    return text % variables


def messages_for_scripts(prefix: str = "js:") -> dict[str, str]:
    """The catalog entries page scripts use (msgids starting with `js:`), for embedding."""
    return {
        key: (value[0] if isinstance(value, tuple | list) else value)
        for key, value in catalog(current_language()).items()
        if key.startswith(prefix)
    }


DUTY_NAMES = {
    "grid_leader": ("网格长", "Grid leader"),
    "grid_worker": ("网格员", "Grid worker"),
    "grid_instructor": ("网格指导员", "Grid instructor"),
    "emergency_officer": ("应急管理员", "Emergency officer"),
    "responder": ("群防员", "Community responder"),
    "site_monitor": ("群测群防员", "Site monitor"),
    "dispatcher": ("值班员", "Dispatcher"),
    "commander": ("指挥长", "Commander"),
    "board_handler": ("板块办理人", "Board handler"),
    "supervisor": ("区县督办", "District supervisor"),
    "admin": ("系统管理员", "Administrator"),
}


def duty_name(duty: str) -> str:
    """A duty's name in the page language."""
    zh, en = DUTY_NAMES.get(duty, (duty, duty))
    return en if current_language() == "en" else zh
