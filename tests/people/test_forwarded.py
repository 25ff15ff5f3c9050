"""X-Forwarded-For is believed only from the proxies in GRID_FORWARDED_ALLOW_IPS: with none
set, a client cannot pick the address that sign-in limits count by."""

from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from factories import PASSWORD

from grid_backend.cli import uvicorn_options
from grid_backend.people.services import create_account
from grid_backend.settings import SettingsError, load_settings

OWNER = "13912340000"


def test_by_default_no_proxy_is_trusted():
    options = uvicorn_options(load_settings({"GRID_SECRET_KEY": "k" * 40}))
    assert options["proxy_headers"] is False
    assert options["forwarded_allow_ips"] == ""
    config = uvicorn.Config("grid_backend.app:create_app", **options)
    assert config.proxy_headers is False


def test_named_proxies_are_passed_to_uvicorn():
    settings = load_settings(
        {"GRID_SECRET_KEY": "k" * 40, "GRID_FORWARDED_ALLOW_IPS": "10.0.0.5, 10.1.0.0/16"}
    )
    options = uvicorn_options(settings, port=8103)
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "10.0.0.5, 10.1.0.0/16"
    assert options["port"] == 8103


@pytest.mark.parametrize("value", ["10.0.0.300", "proxy.internal", "10.0.0.1/8"])
def test_a_proxy_list_that_uvicorn_would_misread_stops_the_service(value):
    with pytest.raises(SettingsError) as err:
        load_settings({"GRID_SECRET_KEY": "k" * 40, "GRID_FORWARDED_ALLOW_IPS": value})
    assert err.value.name == "GRID_FORWARDED_ALLOW_IPS"


@asynccontextmanager
async def served(app, proxies: str):
    """The app under uvicorn, configured the way `grid-backend serve` does it."""
    options = uvicorn_options(load_settings({"GRID_FORWARDED_ALLOW_IPS": proxies}))
    for name in ("factory", "host", "port", "workers", "log_level"):
        options.pop(name)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn has no startup event to wait on
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{sock.getsockname()[1]}"
        ) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _five_failures_then_the_owner(client, test_clock) -> int:
    for n in range(5):
        r = await client.post(
            "/api/v1/auth/login",
            json={"phone": OWNER, "password": "Wrong12345x"},
            headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
        )
        assert r.status_code == 401
        test_clock.advance(31)
    r = await client.post(
        "/api/v1/auth/login",
        json={"phone": OWNER, "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.99"},
    )
    return r.status_code


async def test_a_spoofed_forwarded_for_does_not_change_the_address_counted(app, db, test_clock):
    await create_account(phone=OWNER, password=PASSWORD, name="王书记")
    async with served(app, "") as client:
        # every attempt came from 127.0.0.1 whatever the header said: that pair is locked
        assert await _five_failures_then_the_owner(client, test_clock) == 429


async def test_a_trusted_proxy_forwards_the_client_address(app, db, test_clock):
    await create_account(phone=OWNER, password=PASSWORD, name="王书记")
    async with served(app, "127.0.0.1") as client:
        # five different clients behind the proxy: the owner's own address is not locked
        assert await _five_failures_then_the_owner(client, test_clock) == 200
