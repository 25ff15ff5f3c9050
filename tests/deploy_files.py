"""Reading docker/: compose.yaml with compose's interpolation, the Dockerfile's last stage, and
nginx.conf as a tree of directives with nginx's location choice. Shared by test_docker.py,
test_deployment_files.py and test_proxy.py; no Docker needed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parent.parent / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
NGINX_CONF = (DOCKER / "nginx.conf").read_text()

# What a deployer exports before `docker compose up` (docs/deployment.md).
DEPLOY_VARS = {
    "GRID_DB_PASSWORD": "test-db-password",
    "GRID_SECRET_KEY": "k" * 48,
    "REDIS_PASSWORD": "test-redis-password",
    "MINIO_ROOT_USER": "grid-admin",
    "MINIO_ROOT_PASSWORD": "test-minio-root-password",
    "S3_ACCESS_KEY_ID": "grid-app",
    "S3_SECRET_ACCESS_KEY": "test-s3-secret-key",
}

_PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[?-])(?P<arg>[^}]*))?\}")


def expand(value: str, variables: dict[str, str]) -> str:
    """Compose-style interpolation of ${NAME}, ${NAME:?msg}, ${NAME:-default} (and ?/- forms)."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        value = variables.get(name)
        missing = value is None or (value == "" and op is not None and op.startswith(":"))
        if op is not None and op.endswith("?") and missing:
            raise KeyError(f"{name}: {arg}")
        if op is not None and op.endswith("-") and missing:
            return arg
        return value or ""

    return _PLACEHOLDER.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def placeholders() -> set[tuple[str, str | None]]:
    """Every (variable, operator) compose interpolates anywhere in the file."""
    text = (DOCKER / "compose.yaml").read_text().replace("$$", "")
    return {(m["name"], m["op"]) for m in _PLACEHOLDER.finditer(text)}


def service(name: str) -> dict:
    return COMPOSE["services"][name]


def service_env(name: str, variables: dict[str, str] = DEPLOY_VARS) -> dict[str, str]:
    raw = service(name).get("environment", {})
    if isinstance(raw, list):  # `- KEY=value` form
        raw = dict(item.split("=", 1) for item in raw)
    return {key: expand(str(value), variables) for key, value in raw.items()}


def command(name: str) -> list[str]:
    raw = service(name).get("command") or []
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def services_running(*argv: str) -> list[str]:
    """The services whose command starts with argv, e.g. ("grid-backend", "serve")."""
    return [name for name in COMPOSE["services"] if command(name)[: len(argv)] == list(argv)]


def settings_field(env_name: str) -> str:
    return env_name.removeprefix("GRID_").lower()


def dockerfile_final_stage() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage, with line continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines()]
    instructions = [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for line in lines
        if line and not line.startswith("#")
        for parts in [line.split(None, 1)]
    ]
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in dockerfile_final_stage():
        if op == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(args))
    return env


# --- nginx.conf ---------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None
    parent: Directive | None = field(default=None, repr=False)

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def one(self, name: str) -> Directive:
        (found,) = self.all(name)
        return found

    def effective(self, name: str) -> list[Directive]:
        """The directives `name` in force here: nginx inherits an array directive such as
        proxy_set_header, or a value such as client_max_body_size, from the nearest enclosing
        block that has it, and only when this block has none of its own."""
        here: Directive | None = self
        while here is not None:
            own = here.all(name)
            if own:
                return own
            here = here.parent
        return []


_TOKEN = re.compile(
    r"""\s+|#[^\n]*|"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|([{};])|([^\s{};"'#]+)"""
)


def parse_nginx(text: str = NGINX_CONF) -> Directive:
    """nginx.conf as a tree under a root directive named "main"."""
    root = Directive("main", [], [])
    stack, words = [root], []
    for m in _TOKEN.finditer(text):
        dq, sq, punct, word = m.groups()
        if dq is not None or sq is not None:
            words.append(dq if dq is not None else sq)
        elif word is not None:
            words.append(word)
        elif punct == ";":
            stack[-1].block.append(Directive(words[0], words[1:], None, stack[-1]))  # type: ignore[union-attr]
            words = []
        elif punct == "{":
            block = Directive(words[0], words[1:], [], stack[-1])
            stack[-1].block.append(block)  # type: ignore[union-attr]
            stack.append(block)
            words = []
        elif punct == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
    assert len(stack) == 1 and not words, "unbalanced braces in nginx.conf"
    return root


def location_for(server: Directive, uri: str) -> Directive:
    """The location nginx picks for uri: an exact match, else the longest prefix (regular
    expression locations are refused, so this is all nginx would do)."""
    locations = server.all("location")
    assert all(loc.args[0] not in ("~", "~*") for loc in locations), "regex location"
    for loc in locations:
        if loc.args[0] == "=" and loc.args[1] == uri:
            return loc
    prefixes = [loc for loc in locations if loc.args[0] != "=" and uri.startswith(loc.args[-1])]
    assert prefixes, f"no location for {uri}"
    return max(prefixes, key=lambda loc: len(loc.args[-1]))


_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size_bytes(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert m, f"not an nginx size: {value}"
    return int(m[1]) * _UNITS[m[2].lower()]


def seconds(value: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+)(ms|[smhd]?)", value):
        total += int(amount) * {"ms": 0.001, "": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return total


def body_limit(location: Directive) -> int:
    found = location.effective("client_max_body_size")
    return size_bytes(found[-1].args[0]) if found else 1024 * 1024  # nginx's default: 1m


def proxy_headers(location: Directive) -> dict[str, str]:
    return {d.args[0].lower(): d.args[1] for d in location.effective("proxy_set_header")}


# --- running nginx here -----------------------------------------------------------------------


def nginx_or_skip() -> str:
    """Debian's nginx; under CI=true its absence fails (.ci/run installs it)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
    )
    if found:
        return found
    reason = "nginx is not installed (apt-get install nginx-light)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: .ci/run must install it")
    pytest.skip(reason)


def local_copy(tmp_path: Path, upstreams: dict[str, str] | None = None) -> Path:
    """docker/nginx.conf with the compose service names (which do not resolve here) replaced
    by local addresses; everything else as it is."""
    text = (DOCKER / "nginx.conf").read_text()
    for name in services_running("grid-backend", "serve"):
        text, n = re.subn(
            rf"\bserver {re.escape(name)}:(\d+)",
            lambda m, name=name: f"server {(upstreams or {}).get(name, '127.0.0.1:' + m[1])}",
            text,
        )
        assert n == 1, name
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    return path
