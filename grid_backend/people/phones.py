"""Mainland China mobile numbers: accept what people type, store 11 digits."""

from __future__ import annotations

import re

from grid_backend.core.errors import invalid

_SEPARATORS = re.compile(r"[\s\-().\u3000]")
_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalise_phone(raw: str, field: str = "phone") -> str:
    """'+86 138-1234-5678', '0086 13812345678', '8613812345678' → '13812345678'."""
    digits = _SEPARATORS.sub("", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MOBILE.fullmatch(digits):
        raise invalid(
            field,
            "expected an 11-digit mainland mobile number such as 138 1234 5678",
            code="phone_invalid",
        )
    return digits


def mask_phone(phone: str) -> str:
    """138****5678, as the console shows residents' numbers."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_name(name: str) -> str:
    """The first character and a star for each other one (张三丰 → 张**)."""
    return name[:1] + "*" * max(len(name) - 1, 1)
