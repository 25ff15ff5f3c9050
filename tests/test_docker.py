"""The container setup (docker/) agrees with the settings module and with itself.

No Docker needed: compose.yaml is parsed as YAML, the Dockerfile and entrypoint as text,
and the app's environment is fed through the real `load_settings`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from grid_backend.settings import Settings, load_settings

DOCKER = Path(__file__).resolve().parent.parent / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
ENTRYPOINT = (DOCKER / "entrypoint.sh").read_text()

# What a deployer would export before `docker compose up`.
DEPLOY_VARS = {"GRID_DB_PASSWORD": "test-db-password", "GRID_SECRET_KEY": "k" * 48}

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


def service_env(service: str, variables: dict[str, str] = DEPLOY_VARS) -> dict[str, str]:
    raw = COMPOSE["services"][service].get("environment", {})
    if isinstance(raw, list):  # `- KEY=value` form
        raw = dict(item.split("=", 1) for item in raw)
    return {key: expand(str(value), variables) for key, value in raw.items()}


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


APP = COMPOSE["services"]["app"]
APP_ENV = service_env("app")
SETTINGS_FIELDS = {f.name for f in fields(Settings)}


def test_every_grid_variable_in_compose_is_a_setting() -> None:
    unknown = [
        k for k in APP_ENV if k.startswith("GRID_") and settings_field(k) not in SETTINGS_FIELDS
    ]
    assert unknown == [], f"compose sets GRID_* variables the app never reads: {unknown}"


def test_every_grid_variable_in_the_image_is_a_setting() -> None:
    env = dockerfile_env()
    unknown = [k for k in env if k.startswith("GRID_") and settings_field(k) not in SETTINGS_FIELDS]
    assert unknown == [], f"Dockerfile sets GRID_* variables the app never reads: {unknown}"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    for name in DEPLOY_VARS:
        without = {k: v for k, v in DEPLOY_VARS.items() if k != name}
        with pytest.raises(KeyError, match=name):
            service_env("app", without)


def test_app_environment_is_a_valid_production_configuration() -> None:
    settings = load_settings(APP_ENV)
    assert settings.engine == "postgres"
    assert settings.production is True
    assert settings.port == 8000
    assert settings.secret_key == DEPLOY_VARS["GRID_SECRET_KEY"]


def test_published_port_reaches_the_server() -> None:
    grid_port = int(APP_ENV["GRID_PORT"])
    targets = []
    for port in APP["ports"]:
        if isinstance(port, dict):
            targets.append(int(port["target"]))
        else:
            targets.append(int(str(port).split("/")[0].rsplit(":", 1)[-1]))
    assert grid_port in targets, f"no published port maps to GRID_PORT={grid_port}"
    exposed = {
        int(p.split("/")[0])
        for op, args in dockerfile_final_stage()
        if op == "EXPOSE"
        for p in args.split()
    }
    assert grid_port in exposed, f"Dockerfile EXPOSE {exposed} does not include GRID_PORT"


def test_database_url_points_at_the_db_service() -> None:
    url = urlsplit(APP_ENV["GRID_DATABASE_URL"])
    db_env = service_env("db")
    assert url.hostname in COMPOSE["services"], f"{url.hostname!r} is not a compose service"
    assert url.hostname == "db"
    assert url.port == 5432
    assert url.path.strip("/") == db_env["POSTGRES_DB"]
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == db_env["POSTGRES_PASSWORD"]


def test_app_waits_for_a_healthy_database() -> None:
    assert APP["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready" in str(COMPOSE["services"]["db"]["healthcheck"]["test"])


def test_image_does_not_run_as_root() -> None:
    users = [args.split(":")[0] for op, args in dockerfile_final_stage() if op == "USER"]
    assert users, "Dockerfile has no USER: the container would run as root"
    assert users[-1] not in ("root", "0")


def test_entrypoint_migrates_before_serving() -> None:
    assert any(
        op == "ENTRYPOINT" and "entrypoint" in args for op, args in dockerfile_final_stage()
    ), "Dockerfile ENTRYPOINT is not the entrypoint script"
    code = re.sub(r"(^|\s)#.*", "", ENTRYPOINT)  # drop comments, keep "$#"
    code = re.sub(r"\"[^\"]*\"|'[^']*'", '""', code)  # and strings: messages run nothing
    migrate = code.find("grid-backend migrate")
    serve = code.find("grid-backend serve")
    assert migrate != -1, "entrypoint never runs `grid-backend migrate`"
    assert serve != -1, "entrypoint never runs `grid-backend serve`"
    assert migrate < serve


def test_data_dir_is_on_a_named_volume() -> None:
    data_dir = APP_ENV["GRID_DATA_DIR"]
    mounts = {}
    for volume in APP["volumes"]:
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume["source"]
        else:
            source, target = str(volume).split(":")[:2]
            mounts[target] = source
    assert data_dir in mounts, f"GRID_DATA_DIR={data_dir} is not mounted: uploads would be lost"
    assert mounts[data_dir] in (COMPOSE.get("volumes") or {}), "data dir is not a named volume"
    media = Path(load_settings(APP_ENV).media_root)
    assert media.is_relative_to(data_dir), "GRID_MEDIA_ROOT is outside the persisted volume"
