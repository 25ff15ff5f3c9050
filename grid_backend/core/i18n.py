"""The one message catalogue: every text shown to people (pages, page scripts, error details,
notifications, labels and statuses) is written in English in the code and translated by the
Babel catalogue `grid_ui/translations/<lang>/LC_MESSAGES/messages.po` (zh_CN today).

The language is chosen once, at the edge: for an API request from Accept-Language, for a page
from `?lang=` and the cookie, for a notification from its recipient. It is held in a context
variable for the rest of the request, so nothing below passes `english=` around. A text with
values uses named placeholders, `%(name)s`, filled after translation.

The catalogue is read once, from the .po file itself, so `make run` needs no compile step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "grid_ui" / "translations"
LANGUAGES = ("zh-CN", "en")  # the first is the default
DEFAULT_LANGUAGE = LANGUAGES[0]

_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


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
        if message.context:  # gettext's convention: the context, EOT, the msgid
            key = f"{message.context}\x04{key}"
        found[key] = message.string
    return found


def current_language() -> str:
    return _language.get()


def set_language(language: str) -> None:
    _language.set(language)


@contextmanager
def language(name: str) -> Iterator[None]:
    """Texts made inside the block are in `name` (a notification for its recipient)."""
    token = _language.set(name)
    try:
        yield
    finally:
        _language.reset(token)


def english() -> bool:
    return current_language() == "en"


def wants_english(accept_language: str | None) -> bool:
    """True when the caller prefers English over Chinese; zh-CN is the default."""
    if not accept_language:
        return False
    best_lang, best_q = "zh", -1.0
    for part in accept_language.split(","):
        lang, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = lang.strip().lower()
        if (lang.startswith(("en", "zh"))) and q > best_q:
            best_lang, best_q = lang[:2], q
    return best_lang == "en"


def pick_accept_language(accept_language: str | None) -> str:
    """The API's language from an Accept-Language header: English only when preferred."""
    return "en" if wants_english(accept_language) else DEFAULT_LANGUAGE


def gettext(message: str, **variables: Any) -> str:
    """`message` in the current language, its `%(name)s` placeholders filled."""
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


def pgettext(context: str, message: str, **variables: Any) -> str:
    """`message` of a `msgctxt` (a label whose English is also a page text) in the current
    language, its `%(name)s` placeholders filled."""
    found = catalog(current_language()).get(f"{context}\x04{message}")
    text = found[0] if isinstance(found, tuple | list) else (found or message)
    return text % variables if variables else text


def both(context: str, message: str) -> tuple[str, str]:
    """(zh-CN, English) of a `msgctxt` message: for a payload that carries both texts."""
    with language("zh-CN"):
        zh = pgettext(context, message)
    return zh, message


def N_(message: str) -> str:
    """Mark a text for the catalogue where it is defined; translate it where it is shown."""
    return message
