"""Asking for a sign-up code: people makes the code (or the warning to a registered number),
notify sends the SMS now, outside the outbox (the number has no account yet)."""

from __future__ import annotations

from grid_backend.notify import channels
from grid_backend.people import signup
from grid_backend.people.phones import mask_phone
from grid_backend.people.schemas import CodeSent


async def request_code(*, phone: str, address: str) -> CodeSent:
    """Text a registration code to a new number, or a warning to a registered one."""
    sms = await signup.prepare_code(phone=phone, address=address, sms_ready=channels.enabled("sms"))
    outcome = await channels.send_text(
        phone=sms.phone, message_id=sms.message_id, text=sms.text, secret=sms.secret
    )
    if not outcome.ok:
        signup.logger.warning(
            "registration SMS to %s failed: %s", mask_phone(sms.phone), outcome.error
        )
    return signup.code_sent()
