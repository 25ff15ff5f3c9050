"""A resident's rights over their own data (PIPL; docs/privacy.md): a copy of everything held
about them as a ZIP, and the deletion of their account. A flow, since both read or change rows
of people, hazards, media, notify and evacuation."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from grid_backend.core import audit, clock
from grid_backend.core.db import write_transaction
from grid_backend.core.errors import DomainError
from grid_backend.core.security import verify_password
from grid_backend.core.throttle import get_throttle, window
from grid_backend.evacuation.tables import EvacuationEvent, Household
from grid_backend.hazards import services as hazards
from grid_backend.hazards.tables import (
    DuplicateOffer,
    HazardReport,
    HotlineCall,
    PointsEntry,
    ReportPhoto,
    Support,
)
from grid_backend.media import storage
from grid_backend.media.tables import PhotoUpload
from grid_backend.notify.tables import Notification, NotificationPreference
from grid_backend.people import closed, signin
from grid_backend.people.phones import closed_phone, mask_phone
from grid_backend.people.schemas import DeletionRead
from grid_backend.people.tables import Account, Assignment, RefreshToken, RegistrationCode

EXPORTS_PER_HOUR = 3  # a copy is built from every row and photo: not something to poll
CLOSED_NAME = "已注销居民"  # the reporter shown on the office's cases once the account is gone
UNUSABLE_HASH = "!closed"  # never an argon2 hash: every password check fails
_BATCH = 100

README = """grid-backend: your data / 你的数据

account.json        your account (name, phone, when it was made) / 账号
reports.json        your reports as you see them in the app, with their public timeline / 上报
photos/             the photos you attached to your reports (display copies, no metadata) / 照片
points.json         your reward points ledger / 积分
notifications.json  messages sent to you (inbox, push, SMS) / 通知
supports.json       cases you said "me too" on / 附议
preferences.json    your notification channels and quiet hours / 通知设置
sessions.json       your sign-ins (devices) and when they end / 登录会话
evacuation.json     the household you are linked to and your answers in evacuations / 转移避险

Times are UTC (ISO 8601). Positions are WGS-84.
"""


def _json(value: Any) -> bytes:
    return msgspec.json.format(msgspec.json.encode(value), indent=2)


async def _rows(query: Any) -> list[dict[str, Any]]:
    return list(await query.output(load_json=True).run())


async def _write_reports(out: Any, account_id: int) -> int:
    """The caller's reports as their reporter sees them (the public timeline: no staff notes),
    written as one JSON array a batch at a time, so memory does not grow with them; how many."""
    actor = hazards.Actor(account_id, [])  # as the reporter, whatever duties they hold
    count, after = 0, 0
    out.write(b"[")
    while True:
        ids = await (
            HazardReport.select(HazardReport.id)
            .where((HazardReport.reporter == account_id) & (HazardReport.id > after))
            .order_by(HazardReport.id)
            .limit(_BATCH)
            .run()
        )
        for row in ids:
            report = await hazards.read_report(report_id=row["id"], actor=actor)
            out.write((b",\n" if count else b"\n") + _json(report))
            count += 1
        if len(ids) < _BATCH:
            break
        after = ids[-1]["id"]
    out.write(b"\n]\n")
    return count


async def _own_photos(account_id: int) -> list[tuple[int, int, str]]:
    """The photos the caller attached to their own reports: (report id, photo id, sha256)."""
    photos = await (
        ReportPhoto.select(ReportPhoto.report, ReportPhoto.photo, ReportPhoto.photo.sha256)
        .where((ReportPhoto.report.reporter == account_id) & (ReportPhoto.added_by == account_id))
        .order_by(ReportPhoto.id)
        .run()
    )
    return [(p["report"], p["photo"], p["photo.sha256"]) for p in photos]


async def _tables(account_id: int) -> dict[str, Any]:
    """Every other file of the copy, by name."""
    account = await (
        Account.select(Account.id, Account.name, Account.phone, Account.created_at)
        .where(Account.id == account_id)
        .first()
        .run()
    )
    duties = await _rows(
        Assignment.select(
            Assignment.duty, Assignment.area.name, Assignment.valid_from, Assignment.valid_to
        ).where(Assignment.account == account_id)
    )
    notifications = await _rows(
        Notification.select(
            Notification.kind,
            Notification.channel,
            Notification.payload,
            Notification.status,
            Notification.created_at,
            Notification.sent_at,
            Notification.read_at,
        )
        # a webhook's deliveries name the admin who registered it: theirs, not messages to them
        .where((Notification.recipient == account_id) & (Notification.channel != "webhook"))
        .order_by(Notification.id)
    )
    for n in notifications:  # what was said to them, not the event's internal fields
        payload = n.pop("payload") or {}
        n.update({k: payload.get(k, "") for k in ("title_zh", "body_zh", "title_en", "body_en")})
    return {
        "account.json": {**(account or {}), "duties": duties},
        "points.json": await _rows(
            PointsEntry.select(
                PointsEntry.delta,
                PointsEntry.reason,
                PointsEntry.report,
                PointsEntry.note,
                PointsEntry.created_at,
            )
            .where(PointsEntry.account == account_id)
            .order_by(PointsEntry.id)
        ),
        "notifications.json": notifications,
        "supports.json": await _rows(
            Support.select(Support.report, Support.created_at)
            .where(Support.account == account_id)
            .order_by(Support.id)
        ),
        "preferences.json": await _rows(
            NotificationPreference.select(
                NotificationPreference.push,
                NotificationPreference.sms,
                NotificationPreference.quiet_start,
                NotificationPreference.quiet_end,
            ).where(NotificationPreference.account == account_id)
        ),
        "sessions.json": await _rows(
            RefreshToken.select(
                RefreshToken.created_at,
                RefreshToken.expires_at,
                RefreshToken.used_at,
                RefreshToken.revoked_at,
            )
            .where(RefreshToken.account == account_id)
            .order_by(RefreshToken.id)
        ),
        "evacuation.json": {
            "households": await _rows(
                Household.select(
                    Household.id, Household.address, Household.grid.name, Household.shelter.name
                ).where(Household.resident == account_id)
            ),
            "answers": await _rows(
                EvacuationEvent.select(
                    EvacuationEvent.evacuation,
                    EvacuationEvent.to_status,
                    EvacuationEvent.destination,
                    EvacuationEvent.note,
                    EvacuationEvent.at,
                )
                .where(EvacuationEvent.actor == account_id)
                .order_by(EvacuationEvent.id)
            ),
        },
    }


async def _admit_export(account_id: int) -> None:
    limit = window(EXPORTS_PER_HOUR, 3600)
    if await get_throttle().hit(limit, "own-data-export", str(account_id)):
        return
    seconds = (await get_throttle().stats(limit, "own-data-export", str(account_id))).retry_after
    raise DomainError(
        "export_rate_limited",
        status=429,
        headers={"Retry-After": str(seconds or 1)},
        detail="at most %(limit)s copies an hour; the next in %(seconds)s s",
        params={"limit": EXPORTS_PER_HOUR, "seconds": seconds or 1},
    )


async def _add_photo(book: zipfile.ZipFile, name: str, sha256: str) -> bool:
    """The photo's display copy into the ZIP, streamed; False if the store has lost it."""
    try:
        source = await storage.current().open(sha256, "display")
    except storage.ObjectMissing:
        return False
    if isinstance(source, Path):
        if not await anyio.Path(source).exists():
            return False
        await anyio.to_thread.run_sync(book.write, source, name, zipfile.ZIP_STORED)
        return True
    with book.open(zipfile.ZipInfo(name), "w") as out:
        async for chunk in source.chunks:
            await anyio.to_thread.run_sync(out.write, chunk)
    return True


async def export(*, account_id: int) -> tuple[Path, dict[str, int]]:
    """The caller's own data as a ZIP in a temporary file (the caller deletes it), built file
    by file so memory stays bounded whatever the number of photos; audited."""
    await _admit_export(account_id)
    photos = await _own_photos(account_id)
    files = await _tables(account_id)
    handle = tempfile.NamedTemporaryFile(prefix="own-data-", suffix=".zip", delete=False)  # noqa: SIM115
    handle.close()
    path = Path(handle.name)
    kept = 0
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as book:
            book.writestr("README.txt", README)
            with book.open("reports.json", "w") as out:
                reports = await _write_reports(out, account_id)
            for name, value in files.items():
                book.writestr(name, _json(value))
            for report_id, photo_id, sha256 in photos:
                kept += await _add_photo(book, f"photos/{report_id}-{photo_id}.jpg", sha256)
    except BaseException:
        await anyio.Path(path).unlink(missing_ok=True)
        raise
    size = (await anyio.Path(path).stat()).st_size
    counts = {"reports": reports, "photos": kept, "bytes": size}
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="account.data_export",
            object_type="account",
            object_id=account_id,
            detail=counts,
        )
    return path, counts


async def _kept(account_id: int) -> int:
    return await HazardReport.count().where(HazardReport.reporter == account_id).run()


async def delete_account(
    *, account_id: int, password: str, address: str, idempotency_key: str | None = None
) -> DeletionRead:
    """Close a resident's account for good: personal fields erased, sessions ended, the
    reports kept as the office's record under an anonymous reporter. Again: the same answer.
    The password is checked under the sign-in limits of the account's phone (people/signin):
    a stolen access token must not be a way to guess it without limit."""
    row = await (
        Account.select(Account.phone, Account.password_hash, Account.closed_at)
        .where(Account.id == account_id)
        .first()
        .run()
    )
    if row is None:
        raise DomainError("unauthenticated", status=401)
    if row["closed_at"] is not None:  # a retry, or the same request twice
        return DeletionRead("deleted", row["closed_at"], await _kept(account_id))
    if await Assignment.exists().where(Assignment.account == account_id).run():
        raise DomainError(
            "staff_account_not_deletable",
            status=403,
            detail="an account that has held a duty keeps its history; ask an administrator"
            " to deactivate it",
        )
    await signin.admit(phone=row["phone"], address=address)
    if not await verify_password(row["password_hash"], password):
        await signin.failed(phone=row["phone"], address=address, account_id=account_id)
        raise DomainError("password_wrong", status=403, field="password")
    await signin.succeeded(phone=row["phone"], address=address)
    masked = mask_phone(row["phone"])
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="account.deletion_requested",
            object_type="account",
            object_id=account_id,
            detail={"phone": masked, "idempotency_key": idempotency_key},
        )
    now = clock.now()
    async with write_transaction():
        done = await (
            Account.update(
                {
                    Account.name: CLOSED_NAME,
                    Account.phone: closed_phone(account_id),
                    Account.password_hash: UNUSABLE_HASH,
                    Account.is_active: False,
                    Account.closed_at: now,
                    Account.updated_at: now,
                }
            )
            .where((Account.id == account_id) & Account.closed_at.is_null())
            .returning(Account.id)
            .run()
        )
        if done:
            await _erase(account_id, row["phone"], now)
            kept = await _kept(account_id)
            await audit.record(
                actor_id=account_id,
                action="account.deleted",
                object_type="account",
                object_id=account_id,
                detail={"phone": masked, "cases_kept": kept},
            )
            await audit.bump_revision(closed.REVISION)
    closed_at = await Account.select(Account.closed_at).where(Account.id == account_id).first()
    return DeletionRead("deleted", (closed_at or {}).get("closed_at", now), await _kept(account_id))


async def _erase(account_id: int, phone: str, now: Any) -> None:
    """Everything personal beside the account row: sessions, messages, settings, links."""
    await (
        RefreshToken.update({RefreshToken.revoked_at: now})
        .where((RefreshToken.account == account_id) & RefreshToken.revoked_at.is_null())
        .run()
    )
    await RegistrationCode.delete().where(RegistrationCode.phone == phone).run()
    await Notification.delete().where(Notification.recipient == account_id).run()
    await NotificationPreference.delete().where(NotificationPreference.account == account_id).run()
    await DuplicateOffer.delete().where(DuplicateOffer.account == account_id).run()
    await PhotoUpload.delete().where(PhotoUpload.account == account_id).run()
    await Household.update({Household.resident: None}).where(Household.resident == account_id).run()
    # calls they made to the hotline: the case stays, the caller's number and name go
    await (
        HotlineCall.update({HotlineCall.caller_phone: "", HotlineCall.caller_name: ""})
        .where((HotlineCall.caller_account == account_id) | (HotlineCall.caller_phone == phone))
        .run()
    )
