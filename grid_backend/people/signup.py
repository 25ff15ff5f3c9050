"""Self-registration with proof of the phone (docs/security.md, "Self-registration").

1. `prepare_code`: a 6-digit code for the phone, valid 10 minutes, 5 tries, and the SMS that
   carries it (flows.signup sends it through notify). The answer is the same whether the
   number is new or already registered; a registered number gets no code but a warning that
   someone tried to register it.
2. `register`: phone, code, name and password. A registered number never had a code, so it
   fails the code check like a wrong code does: nobody learns which numbers have accounts.

Both steps are rate-limited per phone and per address. Passwords must pass the old rules and
zxcvbn (score 3 of 4 or more, with the phone, the name and the product's words as known
inputs); the refusal names the reason in the caller's language."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import timedelta

import msgspec

from grid_backend.core import clock
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import DomainError, invalid
from grid_backend.core.throttle import get_throttle, window
from grid_backend.people import services
from grid_backend.people.passwords import check_new_password
from grid_backend.people.phones import mask_phone, normalise_phone
from grid_backend.people.schemas import CodeSent, TokenPair
from grid_backend.people.signin import too_many
from grid_backend.people.tables import Account, RegistrationCode
from grid_backend.settings import get_settings

logger = logging.getLogger("grid_backend.auth")

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
CODE_TRIES = 5
RESEND_SECONDS = 60
HOUR = 3600


def _digest(phone: str, code: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"registration:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def code_invalid() -> DomainError:
    return invalid(
        "code",
        "the code is wrong or has expired; ask for a new one",
        code="code_invalid",
    )


async def _limit(item, *key: str) -> None:
    if not await get_throttle().hit(item, *key):
        raise too_many((await get_throttle().stats(item, *key)).retry_after or 1)


class Sms(msgspec.Struct, kw_only=True):
    """A text for notify.channels.send_text: the code, or the warning to a registered number."""

    phone: str
    message_id: str
    text: str
    secret: bool = False


async def prepare_code(*, phone: str, address: str, sms_ready: bool) -> Sms:
    """A registration code for a new number (stored), or a warning for a registered one, as
    the SMS to send; refused when SMS is not configured (`sms_ready`) or too often."""
    phone = normalise_phone(phone)
    s = get_settings()
    if not sms_ready:
        raise DomainError(
            "unavailable",
            status=503,
            detail="registration needs SMS, which is not configured",
        )
    await _limit(window(s.signup_codes_per_address, HOUR), "signup-code-address", address)
    await _limit(window(1, RESEND_SECONDS), "signup-code-resend", phone)
    await _limit(window(s.signup_codes_per_phone, HOUR), "signup-code-phone", phone)
    message_id = f"signup-{uuid.uuid4().hex}"
    taken = await Account.exists().where(Account.phone == phone).run()
    if taken:
        logger.info("registration asked for the registered number %s", mask_phone(phone))
        return Sms(
            phone=phone,
            message_id=message_id,
            text="有人尝试用您的手机号注册账号。如非本人操作请忽略，您的账号安全无需处理。"
            " Someone tried to sign up with your number; no action is needed.",
        )
    else:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        now = clock.now()
        row = RegistrationCode(
            phone=phone,
            code_hash=_digest(phone, code),
            expires_at=now + CODE_TTL,
            attempts=0,
            created_at=now,
        )
        t = RegistrationCode
        async with write_transaction():
            await (
                t.insert(row)
                .on_conflict(
                    target=t.phone,
                    action="DO UPDATE",
                    values=[t.code_hash, t.expires_at, t.attempts, t.created_at],
                )
                .run()
            )
        return Sms(
            phone=phone,
            message_id=message_id,
            secret=True,
            text=f"您的注册验证码是 {code}，10分钟内有效，请勿告诉他人。"
            f" Your sign-up code is {code}, valid for 10 minutes.",
        )


def code_sent() -> CodeSent:
    """The answer to a code request, the same for a new and a registered number."""
    return CodeSent(
        expires_in=int(CODE_TTL.total_seconds()),
        resend_after=RESEND_SECONDS,
        code_length=CODE_DIGITS,
    )


async def _check_code(phone: str, code: str) -> None:
    """Use up the phone's code, or count a wrong try (the fifth kills it)."""
    now = clock.now()
    wrong = False
    async with write_transaction():
        row = await RegistrationCode.select().where(RegistrationCode.phone == phone).first().run()
        if row is None or row["expires_at"] <= now or row["attempts"] >= CODE_TRIES:
            wrong = True
        elif not hmac.compare_digest(row["code_hash"], _digest(phone, code)):
            await (
                RegistrationCode.update({RegistrationCode.attempts: RegistrationCode.attempts + 1})
                .where(RegistrationCode.id == row["id"])
                .run()
            )
            wrong = True
        else:
            # of two registrations racing with one code, one deletes the row and wins
            won = (
                await RegistrationCode.delete()
                .where(
                    (RegistrationCode.id == row["id"])
                    & (RegistrationCode.attempts == row["attempts"])
                )
                .returning(RegistrationCode.id)
                .run()
            )
            wrong = not won
    if wrong:  # raised after the transaction, so the counted try is committed
        raise code_invalid()


async def register(*, phone: str, code: str, password: str, name: str, address: str) -> TokenPair:
    """Create a resident's account once the code proves the phone, and sign in."""
    phone = normalise_phone(phone)
    name = name.strip()
    s = get_settings()
    await _limit(window(s.signup_attempts_per_address, HOUR), "signup-address", address)
    await _limit(window(CODE_TRIES * 2, HOUR), "signup-phone", phone)
    if not name:
        raise invalid("name", "name must not be blank")
    await check_new_password(password=password, phone=phone, name=name)
    if len(code) != CODE_DIGITS or not code.isdigit():
        raise code_invalid()
    await _check_code(phone, code)
    try:
        account = await services.create_account(phone=phone, password=password, name=name)
    except DomainError as exc:
        if exc.code == "phone_taken":  # registered meanwhile by another code: say the same
            raise code_invalid() from None
        raise
    logger.info("account %s registered for %s", account.id, mask_phone(phone))
    return await services.issue_tokens(account)
