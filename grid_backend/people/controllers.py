from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from grid_backend.core.auth import CurrentCaller
from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import LINE_PATTERN, PathId, QueryId, in_window
from grid_backend.people import services, signup
from grid_backend.people.caller import CurrentMember
from grid_backend.people.schemas import (
    AccountPage,
    AccountRead,
    AssignmentCreate,
    AssignmentPage,
    AssignmentRead,
    AssignmentUpdate,
    LoginIn,
    MeRead,
    RefreshIn,
    RegisterIn,
    TokenPair,
)


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/register", summary="Sign up as a resident with the code sent to the phone")
    async def register(
        self, data: JSONBody[RegisterIn], request: Request[Any, Any, Any]
    ) -> TokenPair:
        return await signup.register(
            phone=data.phone,
            code=data.code,
            password=data.password,
            name=data.name,
            address=client_address(request),
        )

    @post("/login", status_code=HTTP_200_OK, summary="Sign in with phone and password")
    async def login(self, data: JSONBody[LoginIn], request: Request[Any, Any, Any]) -> TokenPair:
        return await services.login(
            phone=data.phone, password=data.password, address=client_address(request)
        )

    @post("/refresh", status_code=HTTP_200_OK, summary="Rotate a refresh token")
    async def refresh(self, data: JSONBody[RefreshIn]) -> TokenPair:
        return await services.refresh(refresh_token=data.refresh_token)

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="Revoke this session")
    async def logout(self, data: JSONBody[RefreshIn]) -> None:
        await services.logout(refresh_token=data.refresh_token)


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["people"]

    @get("", summary="The caller's account and current assignments")
    async def me(self, caller: CurrentCaller) -> MeRead:
        return await services.me(account_id=caller.account_id)


class AssignmentController(Controller):
    path = "/api/v1/assignments"
    tags = ["people"]

    @get("", summary="Assignments inside the caller's area")
    async def list_assignments(
        self,
        member: CurrentMember,
        limit: Limit = 50,
        cursor: Cursor = None,
        area_id: QueryId = None,
        duty: Annotated[str | None, QueryParameter(max_length=32, pattern=LINE_PATTERN)] = None,
        account_id: QueryId = None,
        active_on: FromQuery[date | None] = None,
    ) -> AssignmentPage:
        in_window("active_on", active_on)
        grants = member.grants
        return await services.list_assignments(
            grants=grants,
            caller_id=member.account_id,
            area_id=area_id,
            duty=duty,
            account_id=account_id,
            active_on=active_on,
            limit=limit,
            cursor=cursor,
        )

    @post("", summary="Give a person a duty in an area")
    async def create_assignment(
        self, member: CurrentMember, data: JSONBody[AssignmentCreate]
    ) -> AssignmentRead:
        grants = member.grants
        return await services.create_assignment(
            data=data, grants=grants, actor_id=member.account_id
        )

    @get("/{assignment_id:int}", summary="One assignment")
    async def get_assignment(self, member: CurrentMember, assignment_id: PathId) -> AssignmentRead:
        grants = member.grants
        return await services.read_assignment(
            assignment_id=assignment_id, grants=grants, caller_id=member.account_id
        )

    @patch("/{assignment_id:int}", summary="Change an assignment's last day")
    async def update_assignment(
        self, member: CurrentMember, assignment_id: PathId, data: JSONBody[AssignmentUpdate]
    ) -> AssignmentRead:
        grants = member.grants
        return await services.end_assignment(
            assignment_id=assignment_id,
            valid_to=data.valid_to,
            grants=grants,
            actor_id=member.account_id,
        )

    @delete("/{assignment_id:int}", status_code=HTTP_200_OK, summary="End an assignment today")
    async def end_assignment(self, member: CurrentMember, assignment_id: PathId) -> AssignmentRead:
        grants = member.grants
        return await services.end_assignment(
            assignment_id=assignment_id, valid_to=None, grants=grants, actor_id=member.account_id
        )


class AccountController(Controller):
    path = "/api/v1/accounts"
    tags = ["people"]

    @get("", summary="People on duty in the caller's area; anyone else by full phone, masked")
    async def find_accounts(
        self,
        member: CurrentMember,
        q: Annotated[str | None, QueryParameter(max_length=64, pattern=LINE_PATTERN)] = None,
        area_id: QueryId = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> AccountPage:
        grants = member.grants
        return await services.find_accounts(
            grants=grants, q=q, area_id=area_id, limit=limit, cursor=cursor
        )

    @post(
        "/{account_id:int}/deactivate",
        status_code=HTTP_200_OK,
        summary="Deactivate an account (admins): staff leave, their history stays",
        description="No more sign-in or refresh, tokens already issued refused (401"
        " `account_closed`), every assignment ended yesterday (one not yet started cancelled)."
        " Cases, patrols and the audit keep the person's name. Admins whose area holds every"
        " duty the person ever held (a resident: the city's admins); not oneself. Again: the"
        " same answer. See docs/privacy.md.",
    )
    async def deactivate_account(self, member: CurrentMember, account_id: PathId) -> AccountRead:
        return await services.deactivate_account(
            account_id=account_id, grants=member.grants, actor_id=member.account_id
        )
