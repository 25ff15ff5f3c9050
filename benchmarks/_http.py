"""A small keep-alive HTTP/1.1 load generator on asyncio streams (bounded in time and count).

httpx costs more CPU per request than the server under test; raw streams keep the client from
being the bottleneck on a two-core machine. Both endpoints are measured with the same client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


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
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
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

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": len(errors),
        "error_statuses": sorted(set(errors))[:5],
    }
