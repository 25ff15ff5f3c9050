"""Password rules: the basic ones every account keeps (create-user and the seeds too), and
for self-registration an estimate of how guessable it is (zxcvbn), with the reason named."""

from __future__ import annotations

import asyncio

from zxcvbn import zxcvbn

from grid_backend.core import i18n
from grid_backend.core.errors import DomainError
from grid_backend.core.i18n import N_

# the product's own words: a password made of them is guessed first (Grid141demo is public)
PRODUCT_WORDS = ["grid", "141", "demo", "grid141", "wangge", "chongqing", "cq", "yingji"]
ZXCVBN_MAX = 72  # zxcvbn refuses longer inputs; the start is what a guesser tries anyway

# reason -> English text (a msgid; zh-CN in the catalogue); the codes are stable (problem
# `errors[0].reason`)
REASON_TEXTS: dict[str, str] = {
    "too_short": N_("use at least 8 characters"),
    "letters_and_digits": N_("use both letters and digits"),
    "contains_phone": N_("do not put your phone number in it"),
    "common": N_("this is one of the most common passwords"),
    "personal": N_("do not build it from your name, your phone number or this app's name"),
    "dictionary_word": N_("a single word is easy to guess"),
    "name": N_("names and surnames are easy to guess"),
    "keyboard_pattern": N_("keyboard patterns are easy to guess"),
    "repeated": N_("repeated characters are easy to guess"),
    "sequence": N_("sequences like abc or 6543 are easy to guess"),
    "date": N_("dates and years are easy to guess"),
    "guessable": N_("too easy to guess: add more words or characters"),
}


def _reasons() -> dict[str, tuple[str, str]]:
    with i18n.language("zh-CN"):
        return {r: (en, i18n.gettext(en)) for r, en in REASON_TEXTS.items()}


REASONS = _reasons()  # reason -> (English, 中文), as before, from the catalogue

_WARNINGS = (  # zxcvbn's feedback warning (English, from its source) -> our reason
    ("common password", "common"),
    ("commonly used password", "common"),
    ("word by itself", "dictionary_word"),
    ("names and surnames", "name"),
    ("keys are easy", "keyboard_pattern"),
    ("keyboard patterns", "keyboard_pattern"),
    ("repeats like", "repeated"),
    ("sequences like", "sequence"),
    ("recent years", "date"),
    ("dates are", "date"),
)


def weak_password(reason: str) -> DomainError:
    en = REASON_TEXTS[reason]
    return DomainError(
        "password_weak",
        status=422,
        field="password",
        detail=en,
        errors=[{"field": "password", "code": "password_weak", "reason": reason, "message": en}],
    )


def basic_reason(password: str, phone: str) -> str | None:
    """The first of the old rules the password breaks (create-user and the seeds keep these)."""
    if len(password) < 8:
        return "too_short"
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        return "letters_and_digits"
    if phone[-6:] in password:
        return "contains_phone"
    if len(set(password)) < 4:
        return "repeated"
    return None


def estimate_reason(password: str, phone: str, name: str) -> str | None:
    """zxcvbn's verdict as one of our reasons, or None when the score is 3 or more."""
    known = [phone, phone[-4:], phone[-6:], name, *PRODUCT_WORDS]
    result = zxcvbn(password[:ZXCVBN_MAX], user_inputs=[k for k in known if k])
    if result["score"] >= 3:
        return None
    if any(m.get("dictionary_name") == "user_inputs" for m in result["sequence"]):
        return "personal"
    warning = (result["feedback"].get("warning") or "").lower()
    for fragment, reason in _WARNINGS:
        if fragment in warning:
            return reason
    return "guessable"


async def check_new_password(*, password: str, phone: str, name: str) -> None:
    """Refuse a weak password with its reason (zxcvbn takes 1 to 15 ms: off the loop)."""
    reason = basic_reason(password, phone) or await asyncio.to_thread(
        estimate_reason, password, phone, name
    )
    if reason:
        raise weak_password(reason)
