"""Page languages: zh-CN by default, English on request (`?lang=`, then the cookie).

Templates and page scripts are written with English message ids; the one catalogue and the
language of the request are core/i18n's, re-exported here for the pages."""

from __future__ import annotations

from typing import Any

from grid_backend.core.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    TRANSLATIONS,
    catalog,
    current_language,
    gettext,
    ngettext,
    pgettext,
    set_language,
)
from grid_backend.stats import labels

COOKIE = "grid_lang"


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
    set_language(language)
    return language


def messages_for_scripts(prefix: str = "js:") -> dict[str, str]:
    """The catalog entries page scripts use (msgids starting with `js:`), for embedding."""
    return {
        key: (value[0] if isinstance(value, tuple | list) else value)
        for key, value in catalog(current_language()).items()
        if key.startswith(prefix)
    }


DUTY_NAMES = labels.DUTY  # English; zh-CN in messages.po (msgctxt "duty")


def duty_name(duty: str) -> str:
    """A duty's name in the page language."""
    return pgettext("duty", DUTY_NAMES[duty]) if duty in DUTY_NAMES else duty


__all__ = [
    "COOKIE",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "TRANSLATIONS",
    "catalog",
    "choose_for",
    "current_language",
    "duty_name",
    "gettext",
    "messages_for_scripts",
    "ngettext",
    "pgettext",
    "pick_language",
    "set_language",
]
