"""A socket per worker on one port (grid_backend/infra/reuseport.py): what `serve --workers N`
hands each worker becomes, once unpickled there, a socket of its own that shares the port, and
the kernel spreads new connections across such sockets. The whole path through uvicorn's
Multiprocess is checked by tests/test_workers.py."""

from __future__ import annotations

import pickle
import socket

from grid_backend.infra import reuseport


def test_a_recipe_unpickles_as_a_socket_sharing_the_port():
    assert reuseport.supported()  # the service runs on Linux
    held = reuseport.bind("127.0.0.1", 0)
    port = held.getsockname()[1]
    recipe = reuseport.Recipe("127.0.0.1", port)
    # what multiprocessing's spawn does with it (our own bytes, not untrusted data)
    first = pickle.loads(pickle.dumps(recipe))  # noqa: S301
    second = pickle.loads(pickle.dumps(recipe))  # noqa: S301
    try:
        assert isinstance(first, socket.socket) and first is not second
        assert first.getsockname()[1] == second.getsockname()[1] == port
        for sock in (first, second):
            sock.listen(64)
            sock.setblocking(False)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        accepted = {id(first): 0, id(second): 0}
        for sock in (first, second):
            while True:
                try:
                    sock.accept()[0].close()
                except BlockingIOError:
                    break
                accepted[id(sock)] += 1
        # every connection reached one of them, and both got some (all on one: 2 in 2**32)
        assert sum(accepted.values()) == 32 and min(accepted.values()) > 0
        for client in clients:
            client.close()
    finally:
        for sock in (first, second, held):
            sock.close()


def test_a_port_in_use_is_refused():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        try:
            reuseport.bind("127.0.0.1", taken.getsockname()[1])
        except OSError:
            return
        raise AssertionError("bound a port another socket listens on without SO_REUSEPORT")
