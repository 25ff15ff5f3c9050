"""Settings come only from the environment and a bad value stops the start with a clear message."""

from __future__ import annotations

import stat

import pytest

from grid_backend.settings import SettingsError, load_settings

SECRET = "s" * 40


def test_defaults_are_the_embedded_setup(tmp_path):
    s = load_settings({"GRID_DATA_DIR": str(tmp_path)})
    assert s.engine == "sqlite"
    assert s.timezone == "Asia/Shanghai"
    assert s.port == 8000 and s.host == "127.0.0.1"
    assert s.media_root == tmp_path / "media"


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("sqlite:///data/grid.sqlite3", "sqlite"),
        ("sqlite:////var/lib/grid/grid.sqlite3", "sqlite"),
        ("postgresql://grid:pw@db:5432/grid", "postgres"),
    ],
)
def test_database_urls_of_both_engines(tmp_path, url, engine):
    s = load_settings({"GRID_DATABASE_URL": url, "GRID_SECRET_KEY": SECRET})
    assert s.engine == engine


def test_sqlite_paths_relative_and_absolute():
    assert (
        str(
            load_settings(
                {"GRID_DATABASE_URL": "sqlite:///data/x.db", "GRID_SECRET_KEY": SECRET}
            ).sqlite_path
        )
        == "data/x.db"
    )
    assert (
        str(
            load_settings(
                {"GRID_DATABASE_URL": "sqlite:////tmp/x.db", "GRID_SECRET_KEY": SECRET}
            ).sqlite_path
        )
        == "/tmp/x.db"
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"GRID_DATABASE_URL": "mysql://localhost/grid"}, "GRID_DATABASE_URL"),
        ({"GRID_DATABASE_URL": "postgresql://localhost"}, "GRID_DATABASE_URL"),
        ({"GRID_DATABASE_URL": "sqlite://relative.db"}, "GRID_DATABASE_URL"),
        ({"GRID_TIMEZONE": "Mars/Olympus"}, "GRID_TIMEZONE"),
        ({"GRID_PORT": "eighty"}, "GRID_PORT"),
        ({"GRID_PORT": "70000"}, "GRID_PORT"),
        ({"GRID_PRODUCTION": "maybe"}, "GRID_PRODUCTION"),
        ({"GRID_SECRET_KEY": "too-short"}, "GRID_SECRET_KEY"),
        ({"GRID_LOCATE_TOLERANCE_M": "-5"}, "GRID_LOCATE_TOLERANCE_M"),
        ({"GRID_PASSWORD_HASH_COST": "cheap"}, "GRID_PASSWORD_HASH_COST"),
        ({"GRID_METRICS_TOKEN": "guessable"}, "GRID_METRICS_TOKEN"),
        ({"GRID_METRICS_TOKEN": "a bearer token with spaces"}, "GRID_METRICS_TOKEN"),
        ({"GRID_PUBLIC_URL": "grid.example.cn"}, "GRID_PUBLIC_URL"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, env, variable):
    with pytest.raises(SettingsError) as err:
        load_settings({"GRID_DATA_DIR": str(tmp_path), **env})
    assert err.value.name == variable
    assert variable in str(err.value)


def test_development_secret_is_generated_once_and_kept_private(tmp_path):
    first = load_settings({"GRID_DATA_DIR": str(tmp_path)})
    second = load_settings({"GRID_DATA_DIR": str(tmp_path)})
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    mode = (tmp_path / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_production_refuses_to_start_without_a_secret(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings({"GRID_DATA_DIR": str(tmp_path), "GRID_PRODUCTION": "true"})
    assert err.value.name == "GRID_SECRET_KEY"
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_cheap_password_hashing():
    with pytest.raises(SettingsError):
        load_settings(
            {"GRID_PRODUCTION": "1", "GRID_SECRET_KEY": SECRET, "GRID_PASSWORD_HASH_COST": "fast"}
        )


def test_cli_reports_a_bad_setting_and_exits(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "GRID_TIMEZONE": "Nowhere/Land", "GRID_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "grid_backend.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "GRID_TIMEZONE" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_setting_is_documented():
    from dataclasses import fields
    from pathlib import Path

    from grid_backend.settings import Settings

    doc = (Path(__file__).parents[1] / "docs" / "deployment.md").read_text()
    missing = [f.name for f in fields(Settings) if f"`GRID_{f.name.upper()}`" not in doc]
    assert missing == []


@pytest.mark.parametrize(
    ("env", "variable", "says"),
    [
        ({"GRID_MEDIA_STORE": "minio"}, "GRID_MEDIA_STORE", "local or s3"),
        ({"GRID_MEDIA_STORE": "s3"}, "GRID_S3_BUCKET", "required"),
        ({"GRID_S3_BUCKET": "Grid_Photos"}, "GRID_S3_BUCKET", "lower-case"),
        ({"GRID_S3_ENDPOINT_URL": "minio:9000"}, "GRID_S3_ENDPOINT_URL", "http"),
        ({"GRID_S3_PREFIX": "/abs"}, "GRID_S3_PREFIX", "relative"),
        ({"GRID_S3_PREFIX": "a/../b"}, "GRID_S3_PREFIX", "relative"),
    ],
)
def test_the_photo_store_settings_are_checked(tmp_path, env, variable, says):
    with pytest.raises(SettingsError) as err:
        load_settings({"GRID_DATA_DIR": str(tmp_path), **env})
    assert err.value.name == variable
    assert says in str(err.value)


def test_photos_stay_on_local_disk_unless_s3_is_chosen(tmp_path):
    assert load_settings({"GRID_DATA_DIR": str(tmp_path)}).media_store == "local"
    s = load_settings(
        {
            "GRID_DATA_DIR": str(tmp_path),
            "GRID_MEDIA_STORE": "s3",
            "GRID_S3_BUCKET": "grid-photos",
            "GRID_S3_ENDPOINT_URL": "http://minio:9000",
            "GRID_S3_PREFIX": "chongqing/photos",
            # credentials are AWS_*, never GRID_*: an unknown GRID_ name is not read
            "GRID_S3_SECRET_ACCESS_KEY": "ignored",
        }
    )
    assert (s.media_store, s.s3_bucket, s.s3_prefix) == ("s3", "grid-photos", "chongqing/photos")
    assert not hasattr(s, "s3_secret_access_key")
