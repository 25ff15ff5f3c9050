"""The container image (docker/Dockerfile, docker/entrypoint.sh) agrees with the settings
module and with itself; compose and nginx are checked in test_deployment_files.py.

No Docker needed: the Dockerfile is read as text, the entrypoint is run with a stand-in
`grid-backend` that records what it was asked to do."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

from deploy_files import (
    DOCKER,
    dockerfile_env,
    dockerfile_final_stage,
    settings_field,
)

from grid_backend.settings import Settings

SETTINGS_FIELDS = set(Settings.__dataclass_fields__)
ENTRYPOINT = (DOCKER / "entrypoint.sh").read_text()


def test_every_grid_variable_in_the_image_is_a_setting() -> None:
    env = dockerfile_env()
    unknown = [k for k in env if k.startswith("GRID_") and settings_field(k) not in SETTINGS_FIELDS]
    assert unknown == [], f"Dockerfile sets GRID_* variables the app never reads: {unknown}"


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


def _entrypoint(tmp_path: Path, *args: str, migrate_fails: int = 0) -> tuple[int, list[str]]:
    """Run entrypoint.sh with a stand-in grid-backend on PATH; its exit status and the
    grid-backend commands it ran, in order."""
    tmp_path.mkdir()
    log = tmp_path / "calls"
    stub = tmp_path / "grid-backend"
    stub.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        f'if [ "$1" = migrate ] && [ "$(grep -c ^migrate {log})" -le {migrate_fails} ]; then\n'
        "  exit 1\n"
        "fi\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    sleep = tmp_path / "sleep"  # the retry pause, made instant
    sleep.write_text("#!/bin/sh\n")
    sleep.chmod(sleep.stat().st_mode | stat.S_IXUSR)
    done = subprocess.run(
        ["/bin/sh", str(DOCKER / "entrypoint.sh"), *args],
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "GRID_PORT": "8000"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, calls


def test_entrypoint_modes(tmp_path: Path) -> None:
    """A lone container migrates (retrying) and serves; compose's one-shot `migrate` only
    migrates; a replica started with `grid-backend serve` never migrates."""
    code, calls = _entrypoint(tmp_path / "lone", migrate_fails=2)
    assert code == 0
    assert calls == ["migrate", "migrate", "migrate", "serve --host 0.0.0.0 --port 8000"]
    assert _entrypoint(tmp_path / "one-shot", "migrate") == (0, ["migrate"])
    code, calls = _entrypoint(tmp_path / "no-database", "migrate", migrate_fails=99)
    assert code == 1 and calls == ["migrate"] * 30  # gives up after about a minute
    assert _entrypoint(tmp_path / "replica", "grid-backend", "serve") == (0, ["serve"])
    assert _entrypoint(tmp_path / "scheduler", "grid-backend", "scheduler") == (0, ["scheduler"])
