"""Password rules: the basic ones every account keeps (create-user and the seeds too), and
for self-registration an estimate of how guessable it is (zxcvbn), with the reason named."""

from __future__ import annotations

import asyncio

from zxcvbn import zxcvbn

from grid_backend.core.errors import DomainError

# the product's own words: a password made of them is guessed first (Grid141demo is public)
PRODUCT_WORDS = ["grid", "141", "demo", "grid141", "wangge", "chongqing", "cq", "yingji"]
ZXCVBN_MAX = 72  # zxcvbn refuses longer inputs; the start is what a guesser tries anyway

# reason -> (English, 中文); the codes are stable (problem `errors[0].reason`)
REASONS: dict[str, tuple[str, str]] = {
    "too_short": ("use at least 8 characters", "密码至少需要8位"),
    "letters_and_digits": ("use both letters and digits", "密码需同时包含字母和数字"),
    "contains_phone": ("do not put your phone number in it", "不能包含手机号"),
    "common": ("this is one of the most common passwords", "这是常见密码，很容易被猜到"),
    "personal": (
        "do not build it from your name, your phone number or this app's name",
        "不能用姓名、手机号或本应用的名称组成密码",
    ),
    "dictionary_word": ("a single word is easy to guess", "单个单词很容易被猜到"),
    "name": ("names and surnames are easy to guess", "姓名很容易被猜到"),
    "keyboard_pattern": ("keyboard patterns are easy to guess", "键盘上连续的按键很容易被猜到"),
    "repeated": ("repeated characters are easy to guess", "重复的字符很容易被猜到"),
    "sequence": (
        "sequences like abc or 6543 are easy to guess",
        "abc、6543 这样的序列很容易被猜到",
    ),
    "date": ("dates and years are easy to guess", "日期和年份很容易被猜到"),
    "guessable": (
        "too easy to guess: add more words or characters",
        "密码太容易被猜到，请再加几个字词或字符",
    ),
}

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
    en, zh = REASONS[reason]
    return DomainError(
        "password_weak",
        status=422,
        field="password",
        detail=en,
        detail_zh=zh,
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
