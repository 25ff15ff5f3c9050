"""One listening socket per server process on the same port (SO_REUSEPORT), for
`grid-backend serve --workers N`.

uvicorn's Multiprocess binds one socket and hands it to every worker; each worker's event loop
then accepts every pending connection it can when it wakes, so a burst of new connections
(phones after a warning, a proxy opening its keep-alive pool) mostly lands on one worker and
stays there: two workers served 1.05 times the reads of one, with 31 of 32 connections on one
process. With a socket of its own in each worker, Linux spreads new connections across them by
a hash of the client's address and port.

What this relies on inside uvicorn (0.54, checked by tests/infra/test_reuseport.py): Multiprocess
passes its `sockets` to each worker process through multiprocessing's spawn pickling, and the
worker serves whatever sockets come out of it. `Recipe` pickles as a call to `bind`, so each
worker (a restarted one too) unpickles a socket of its own. cli.py uses this only on Linux
(elsewhere SO_REUSEPORT does not balance) and while GRID_REUSE_PORT is on (the default)."""

from __future__ import annotations

import socket
import sys


def supported() -> bool:
    """The kernel balances connections across sockets sharing a port (Linux 3.9+)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port that other such sockets may share (not listening yet:
    the worker's server listens on it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Recipe:
    """What the manager hands each worker instead of its own socket: unpickled in the worker,
    it becomes that worker's socket on the shared port."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return bind, (self.host, self.port)
