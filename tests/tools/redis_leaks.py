"""A pytest plugin that names where each Redis connection left open was made: the garbage
collector's "unclosed Connection" warning says nothing of it. Each redis-py connection
records its stack and the test running when it is made; one still connected when it is
collected is written to REDIS_LEAKS_FILE (default /tmp/redis-leaks.txt).

    PYTHONPATH=tests/tools .venv/bin/pytest -p redis_leaks -m "not browser"

(The run's end, after every test passed, is where stop 19's and session 9's CI found them.)"""

from __future__ import annotations

import os
import traceback
from typing import Any

from redis.asyncio import connection

_made = connection.AbstractConnection.__init__
_collected = connection.AbstractConnection.__del__
OUT = os.environ.get("REDIS_LEAKS_FILE", "/tmp/redis-leaks.txt")


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    self._made_at = "".join(traceback.format_stack(limit=25)[:-1])
    self._made_in = os.environ.get("PYTEST_CURRENT_TEST", "?")
    _made(self, *args, **kwargs)


def _del(self: Any, *args: Any, **kwargs: Any) -> None:
    if getattr(self, "_writer", None):
        with open(OUT, "a", encoding="utf-8") as out:
            out.write(f"==== left open, made in {self._made_in}\n{self._made_at}\n")
    _collected(self, *args, **kwargs)


connection.AbstractConnection.__init__ = _init  # type: ignore[method-assign]
connection.AbstractConnection.__del__ = _del  # type: ignore[method-assign]
