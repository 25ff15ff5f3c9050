"""Mainland China mobile numbers: accept what people type, store 11 digits."""

from __future__ import annotations

import re

from grid_backend.core.errors import invalid

_SEPARATORS = re.compile(r"[\s\-().\u3000（）—]")  # full-width ones too, as typed in ledgers
_MOBILE = re.compile(r"1[3-9]\d{9}")


def national_digits(raw: str) -> str:
    """What was typed without separators and the country code ('+86 138-1234-5678',
    '0086 13812345678', '8613812345678' → '13812345678')."""
    digits = _SEPARATORS.sub("", raw or "")
    if digits.startswith("+86"):
        return digits[3:]
    if digits.startswith("0086"):
        return digits[4:]
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits


def is_mobile(digits: str) -> bool:
    return _MOBILE.fullmatch(digits) is not None


def normalise_phone(raw: str, field: str = "phone") -> str:
    """'+86 138-1234-5678', '0086 13812345678', '8613812345678' → '13812345678'."""
    digits = national_digits(raw)
    if not is_mobile(digits):
        raise invalid(
            field,
            "expected an 11-digit mainland mobile number such as 138 1234 5678",
            code="phone_invalid",
        )
    return digits


CLOSED_PREFIX = "closed-"  # the phone column of a deleted account: unique, never a number


def closed_phone(account_id: int) -> str:
    """What replaces the phone of a deleted account (the column stays unique and not null)."""
    return f"{CLOSED_PREFIX}{account_id}"


def real_phone(phone: str | None) -> str | None:
    """The phone number, or None for a deleted account's placeholder."""
    return None if not phone or phone.startswith(CLOSED_PREFIX) else phone


def mask_phone(phone: str) -> str:
    """138****5678, as the console shows residents' numbers ("" for a deleted account)."""
    if phone.startswith(CLOSED_PREFIX):
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_name(name: str) -> str:
    """The first character and a star for each other one (张三丰 → 张**)."""
    return name[:1] + "*" * max(len(name) - 1, 1)
