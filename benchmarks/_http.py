"""A small keep-alive HTTP/1.1 load generator on asyncio streams (bounded in time and count).

httpx costs more CPU per request than the server under test; raw streams keep the client from
being the bottleneck on a two-core machine. Both endpoints are measured with the same client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def percentile_ms(ordered: list[float], p: float) -> float | None:
    """The p-th percentile of sorted durations in seconds, in milliseconds (None if empty)."""
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one response (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked = 0, False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        parts.append(await reader.readexactly(size + 2))
    await reader.readuntil(b"\r\n")  # the empty trailer
    return status, b"".join(p[:-2] for p in parts)


class Connection:
    """One keep-alive connection for a simulated client: `request` sends one request and reads
    its answer; the connection is opened again when it was idle longer than the server keeps
    it (uvicorn: 5 s) or after an error."""

    IDLE_SECONDS = 4.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        """Status and body; status 0 when the connection failed (the error is raised)."""
        if self.writer is None or time.monotonic() - self.used > self.IDLE_SECONDS:
            self.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method != "GET":
            lines.append(f"Content-Length: {len(body)}")
        assert self.reader is not None
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            answer = await read_response(self.reader)
        except BaseException:
            self.close()
            raise
        self.used = time.monotonic()
        return answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _worker(
    host: str,
    port: int,
    make_path: Callable[[int], str],
    method: str,
    headers_for: Callable[[int], str],
    deadline: float,
    max_requests: int,
    counter: list[int],
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline and counter[0] < max_requests:
            n = counter[0]
            counter[0] += 1
            body = "" if method == "GET" else "Content-Length: 0\r\n"
            request = (
                f"{method} {make_path(n)} HTTP/1.1\r\nHost: {host}\r\n{headers_for(n)}{body}\r\n"
            )
            started = time.perf_counter()
            writer.write(request.encode())
            status, _ = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def load(
    host: str,
    port: int,
    make_path: Callable[[int], str],
    *,
    token: str | None = None,
    token_for: Callable[[int], str] | None = None,
    method: str = "GET",
    seconds: float = 5.0,
    connections: int = 32,
    max_requests: int = 500_000,
) -> dict:
    """Requests/s, latency percentiles (ms) and error count for one endpoint: request n goes to
    make_path(n), as one caller (`token`) or as many (`token_for(n)`); POSTs have no body."""

    def headers_for(n: int) -> str:
        bearer = token_for(n) if token_for else token
        return f"Authorization: Bearer {bearer}\r\n" if bearer else ""

    counter, latencies, errors = [0], [], []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *[
            _worker(
                host,
                port,
                make_path,
                method,
                headers_for,
                deadline,
                max_requests,
                counter,
                latencies,
                errors,
            )
            for _ in range(connections)
        ]
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed),
        "p50_ms": percentile_ms(latencies, 0.50),
        "p99_ms": percentile_ms(latencies, 0.99),
        "errors": len(errors),
        "error_statuses": sorted(set(errors))[:5],
    }
