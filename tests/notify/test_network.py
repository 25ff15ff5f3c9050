"""The push channel's own way to the network (httpcore on plain asyncio) against servers that
answer the ways real gateways do: chunked bodies, closed and half-dead connections, silence,
TLS."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import subprocess
from collections.abc import Iterator

import pytest

from grid_backend.notify import channels
from grid_backend.settings import get_settings


@dataclasses.dataclass
class Gateway:
    """A small HTTP/1.1 server: `style` says how it answers each request."""

    style: str = "chunked"
    requests: int = 0
    connections: int = 0
    port: int = 0
    sent: int = 0  # body bytes written by the endless style

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                self.requests += 1
                if self.style == "silent":
                    await asyncio.sleep(5)
                    return
                if self.style == "endless":  # a body that never ends (a receiver gone wrong)
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    chunk = b"x" * 65536
                    while True:
                        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        await writer.drain()
                        self.sent += len(chunk)
                        await asyncio.sleep(0.001)  # bounded, should the client read it all
                if self.style == "chunked":
                    writer.write(
                        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nqueue\r\n3\r\nd #\r\n2\r\n42\r\n0\r\n\r\n"
                    )
                elif self.style in ("close", "drop-idle"):
                    header = b"Connection: close\r\n" if self.style == "close" else b""
                    writer.write(b"HTTP/1.1 200 OK\r\n" + header + b"Content-Length: 2\r\n\r\nok")
                elif self.style == "no-length":  # HTTP/1.0 style: the body ends with the socket
                    writer.write(b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\ncome back later")
                    await writer.drain()
                    return
                await writer.drain()
                if self.style in ("close", "drop-idle"):
                    return  # "drop-idle": an idle timeout of zero, without saying so
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def gateway():
    gw = Gateway()
    server = await asyncio.start_server(gw.handle, "127.0.0.1", 0)
    gw.port = server.sockets[0].getsockname()[1]
    yield gw
    server.close()
    await server.wait_closed()


def _sender(timeout: float = 2.0) -> channels.Sender:
    return channels.Sender(
        dataclasses.replace(get_settings(), notify_timeout_seconds=timeout, notify_concurrency=4)
    )


async def _post(sender: channels.Sender, url: str, n: int = 0) -> tuple[int, str]:
    return await sender.post(url, b'{"id":%d}' % n, {"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("style", "status", "text"),
    [("chunked", 202, "queued #42"), ("close", 200, "ok"), ("no-length", 503, "come back later")],
)
async def test_answers_of_every_shape_are_read(gateway, style, status, text):
    gateway.style = style
    sender = _sender()
    try:
        for n in range(6):  # more than the connections: reused, or opened anew after a close
            assert await _post(sender, f"http://127.0.0.1:{gateway.port}/push", n) == (
                status,
                text,
            )
    finally:
        await sender.aclose()
    assert gateway.requests == 6
    expected_connections = 2 if style == "chunked" else 6  # two pools of two, taken in turn
    assert gateway.connections == expected_connections


async def test_a_connection_the_gateway_dropped_while_idle_is_not_reused(gateway):
    gateway.style = "drop-idle"
    sender = _sender()
    url = f"http://127.0.0.1:{gateway.port}/push"
    try:
        for n in range(4):
            assert await _post(sender, url, n) == (200, "ok")
            await asyncio.sleep(0.02)  # the close reaches us before the next request
    finally:
        await sender.aclose()
    assert gateway.requests == 4 and gateway.connections == 4


async def test_silence_is_a_timeout_and_a_closed_port_an_error(gateway):
    gateway.style = "silent"
    sender = _sender(timeout=0.2)
    item = channels.Outgoing(
        id=1, recipient_id=1, channel="push", kind="case.assigned", urgent=False, payload={}
    )
    try:
        outcome = await channels._post(sender, f"http://127.0.0.1:{gateway.port}/push", item, b"{}")
        assert (outcome.ok, outcome.error) == (False, "timeout")
        with socket_that_refuses() as port:
            outcome = await channels._post(sender, f"http://127.0.0.1:{port}/push", item, b"{}")
        assert not outcome.ok and outcome.error.startswith("ConnectError")
    finally:
        await sender.aclose()


@contextlib.contextmanager
def socket_that_refuses() -> Iterator[int]:
    """A local port with nothing listening on it: bound, not listening, so refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no authority signed, and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=gateway.test"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


async def test_https_gateways_are_verified(self_signed, monkeypatch):
    cert, key = self_signed
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    gw = Gateway(style="chunked")
    server = await asyncio.start_server(gw.handle, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/push"
    try:
        sender = _sender()  # the system's trusted authorities: a self-signed gateway is refused
        try:
            outcome = await channels._post(
                sender,
                url,
                channels.Outgoing(1, 1, "push", "callout", True, {}),
                b"{}",
            )
        finally:
            await sender.aclose()
        assert not outcome.ok and "CERTIFICATE_VERIFY_FAILED" in outcome.error

        trusting = ssl.create_default_context(cafile=cert)
        monkeypatch.setattr(channels.httpx, "create_ssl_context", lambda: trusting)
        sender = _sender()
        try:
            for n in range(3):
                assert await _post(sender, url, n) == (202, "queued #42")
        finally:
            await sender.aclose()
        assert gw.connections == 2  # kept alive over TLS too
    finally:
        server.close()
        await server.wait_closed()


async def test_an_endless_answer_is_cut_short(gateway):
    # the answer is only logged (its first 200 characters): reading all of it would hold a
    # delivery, and its memory, for as long as the receiver keeps talking
    gateway.style = "endless"
    sender = _sender()
    try:
        status, text = await asyncio.wait_for(
            _post(sender, f"http://127.0.0.1:{gateway.port}/push"), timeout=5
        )
    finally:
        await sender.aclose()
    assert (status, text) == (200, "x" * 200)
    assert gateway.sent < 64 * 1024 * 1024  # what the socket buffers took, not the lot
