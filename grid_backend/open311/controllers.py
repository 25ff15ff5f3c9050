"""GeoReport v2 at /open311/v2 (answers and errors in the spec's JSON or XML), the admins' API
for Open311 clients, and the switch that keeps a case off public reads."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from grid_backend.core.pagination import Cursor, Limit
from grid_backend.core.types import PathId
from grid_backend.open311 import clients, services, visibility
from grid_backend.open311.render import EXCEPTION_HANDLERS, Open311Error, respond, split
from grid_backend.open311.schemas import (
    ClientCreate,
    ClientIssued,
    ClientPage,
    ClientRead,
    InternalIn,
)
from grid_backend.open311.submit import form_of, submit
from grid_backend.people.caller import CurrentMember
from grid_backend.settings import get_settings

BASE = "/open311/v2"
Query = Annotated[str | None, QueryParameter(max_length=2000)]
Short = Annotated[str | None, QueryParameter(max_length=100)]


def _base_url(request: Request[Any, Any, Any]) -> str:
    public = get_settings().public_url.rstrip("/")
    return (public or str(request.base_url).rstrip("/")) + BASE


async def _read_rate(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every public read counts against its address's limit (clients.check_read_rate)."""
    if connection.scope.get("method") in ("GET", "HEAD"):
        address = connection.client.host if connection.client else "unknown"
        await clients.check_read_rate(address)


class Open311Controller(Controller):
    path = BASE
    tags = ["open311"]
    guards = [_read_rate]
    exception_handlers = EXCEPTION_HANDLERS  # type: ignore[assignment]  # handlers typed per exception class

    @get("/{resource:str}", summary="Open311: discovery, services or requests (.json / .xml)")
    async def collection(
        self,
        request: Request[Any, Any, Any],
        resource: FromPath[str],
        jurisdiction_id: Short = None,
        service_request_id: Query = None,
        service_code: Query = None,
        start_date: Short = None,
        end_date: Short = None,
        status: Short = None,
    ) -> Response[bytes]:
        name, fmt = split(resource, resource)
        services.check_jurisdiction(jurisdiction_id)
        if name == "discovery":
            return respond(services.discovery(_base_url(request)), fmt, root="discovery", item="")
        if name == "services":
            return respond(await services.services(), fmt, root="services", item="service")
        if name == "requests":
            found = await services.list_requests(
                service_request_id=service_request_id,
                service_code=service_code,
                start_date=start_date,
                end_date=end_date,
                status=status,
            )
            return respond(found, fmt, root="service_requests", item="request")
        raise Open311Error(404, "%(name)s: no such resource", {"name": resource[:100]})

    @get("/services/{resource:str}", summary="Open311: a service's definition")
    async def service_definition(
        self, resource: FromPath[str], jurisdiction_id: Short = None
    ) -> Response[bytes]:
        code, fmt = split(resource, resource)
        services.check_jurisdiction(jurisdiction_id)
        found = await services.definition(code)
        return respond(found, fmt, root="service_definition", item="")

    @get("/requests/{resource:str}", summary="Open311: one service request")
    async def service_request(
        self, resource: FromPath[str], jurisdiction_id: Short = None
    ) -> Response[bytes]:
        raw_id, fmt = split(resource, resource)
        services.check_jurisdiction(jurisdiction_id)
        found = await services.one_request(raw_id)
        return respond(found, fmt, root="service_requests", item="request")

    @get("/tokens/{resource:str}", summary="Open311: the request a token stands for")
    async def token(
        self, resource: FromPath[str], jurisdiction_id: Short = None
    ) -> Response[bytes]:
        raw, fmt = split(resource, resource)
        services.check_jurisdiction(jurisdiction_id)
        found = await services.token(raw)
        return respond(found, fmt, root="service_requests", item="request")

    @post(
        "/{resource:str}",
        summary="Open311: post a service request (form-encoded, with api_key)",
    )
    async def create(
        self, request: Request[Any, Any, Any], resource: FromPath[str]
    ) -> Response[bytes]:
        name, fmt = split(resource, resource)
        if name != "requests":
            raise Open311Error(404, "%(name)s: no such resource", {"name": resource[:100]})
        form = {**form_of(request.query_params), **form_of(await request.form())}
        answer = await submit(form)
        return respond(answer, fmt, root="service_requests", item="request", status=201)


class Open311ClientController(Controller):
    path = "/api/v1/open311-clients"
    tags = ["open311"]

    @get("", summary="Open311 clients (admins)")
    async def list_clients(
        self, member: CurrentMember, limit: Limit = 50, cursor: Cursor = None
    ) -> ClientPage:
        await clients.require_admin(member.grants)
        return await clients.list_clients(limit=limit, cursor=cursor)

    @post("", status_code=HTTP_201_CREATED, summary="Issue an Open311 client's API key (admins)")
    async def create_client(
        self, member: CurrentMember, data: JSONBody[ClientCreate]
    ) -> ClientIssued:
        await clients.require_admin(member.grants)
        return await clients.create_client(data=data, by=member.account_id)

    @post("/{client_id:int}/revoke", status_code=200, summary="Revoke an Open311 client's key")
    async def revoke(self, member: CurrentMember, client_id: PathId) -> ClientRead:
        await clients.require_admin(member.grants)
        return await clients.revoke_client(client_id=client_id, by=member.account_id)


class CaseVisibilityController(Controller):
    path = "/api/v1/reports/{report_id:int}/internal"
    tags = ["hazards"]

    @put("", summary="Keep a case off public reads (Open311), or show it again")
    async def set_internal(
        self, member: CurrentMember, report_id: PathId, data: JSONBody[InternalIn]
    ) -> InternalIn:
        await visibility.set_internal(
            report_id=report_id, internal=data.internal, by=member.account_id, grants=member.grants
        )
        return data
