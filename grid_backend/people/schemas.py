from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from grid_backend.core import types as t

Phone = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=32)]
Password = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=256)]
Name = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=64)]


Code = Annotated[t.Text, msgspec.Meta(min_length=1, max_length=16)]


class CodeRequestIn(t.Input):
    """Ask for a registration code for a phone number."""

    phone: Phone


class CodeSent(msgspec.Struct):
    """The same answer for every number: a new one gets a code, a registered one a warning."""

    expires_in: int  # seconds the code is valid
    resend_after: int  # seconds before another code may be asked for
    code_length: int


class RegisterIn(t.Input):
    phone: Phone
    code: Code
    password: Password
    name: Name


class LoginIn(t.Input):
    phone: Phone
    password: Password


class DeletionIn(t.Input):
    """The password again: deleting one's account cannot be undone (docs/privacy.md)."""

    password: Password


class DeletionRead(msgspec.Struct):
    """What became of the account: closed, and how many of its cases the office keeps."""

    status: str  # "deleted"
    closed_at: datetime
    cases_kept: int


class RefreshIn(t.Input):
    refresh_token: Annotated[t.Text, msgspec.Meta(min_length=1, max_length=256)]


class AccountRead(msgspec.Struct):
    id: int
    phone: str
    name: str
    is_active: bool
    created_at: datetime


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    account: AccountRead
    token_type: str = "Bearer"


class AssignmentRead(msgspec.Struct):
    id: int
    account_id: int
    account_name: str
    area_id: int
    area_code: str
    area_name: str
    area_level: str
    duty: str
    valid_from: date
    valid_to: date | None
    employment: str | None = None
    board: str | None = None
    risk_point_id: int | None = None


class AssignmentCreate(t.Input):
    duty: Annotated[t.Text, msgspec.Meta(max_length=32)]
    area_id: t.Id | None = None
    area_code: Annotated[t.Text, msgspec.Meta(max_length=32)] | None = None
    account_id: t.Id | None = None
    phone: Phone | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    employment: t.Line | None = None
    board: t.Line | None = None
    risk_point_id: t.Id | None = None


class AssignmentUpdate(t.Input):
    valid_to: date


class AssignmentPage(msgspec.Struct):
    items: list[AssignmentRead]
    next_cursor: str | None


class DutyBrief(msgspec.Struct):
    duty: str
    area_id: int
    area_name: str


class AccountBrief(msgspec.Struct):
    """A person as the console lists them: staff of the caller's area with their number;
    anyone else (a resident) with it masked (DESIGN.md §9)."""

    id: int
    name: str
    phone: str
    phone_masked: bool
    is_active: bool
    duties: list[DutyBrief]  # current duties inside the caller's area
    # a resident of no area yet, found by full phone: only the first character of the name
    name_masked: bool = False


class AccountPage(msgspec.Struct):
    items: list[AccountBrief]
    next_cursor: str | None


class MeRead(msgspec.Struct):
    account: AccountRead
    assignments: list[AssignmentRead]
    is_staff: bool
