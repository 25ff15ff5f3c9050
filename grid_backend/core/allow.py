"""A true `Allow` header on automatic OPTIONS answers.

Litestar 2.25 builds the OPTIONS handler of a path from the first route handler registered on
it; when a controller adds GET and POST on one path as separate handlers, `Allow` names only
one of them. This hook rewrites the header from the app's routes (all handlers of the path)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders


def allow_fixer(app: Litestar) -> Any:
    """A `before_send` hook that sets Allow to every method of the matched path."""
    methods: dict[str, set[str]] = defaultdict(set)
    for route in app.routes:
        methods[route.path_format].update(getattr(route, "methods", ()))

    async def before_send(message: Any, scope: Any) -> None:
        if (
            message["type"] == "http.response.start"
            and scope.get("method") == "OPTIONS"
            and scope.get("path_template") in methods
        ):
            headers = MutableScopeHeaders.from_message(message)
            if "allow" in headers:
                headers["Allow"] = ", ".join(sorted(methods[scope["path_template"]]))

    return before_send
