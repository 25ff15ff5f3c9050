"""docker/compose.yaml and docker/nginx.conf agree with the settings, the image and the app's
routes: names, ports, body limits, proxy headers, live events, health checks, the one-shot
migration, the replicas and the scheduler, the bucket. A change on one side only fails here.

No Docker needed: compose is parsed as YAML with compose's interpolation, nginx.conf as a
tree of directives; `nginx -t` runs when Debian's nginx is installed (CI installs it)."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from deploy_files import (
    COMPOSE,
    DEPLOY_VARS,
    DOCKER,
    Directive,
    body_limit,
    command,
    dockerfile_env,
    expand,
    local_copy,
    location_for,
    nginx_or_skip,
    parse_nginx,
    placeholders,
    proxy_headers,
    seconds,
    service_env,
    services_running,
    settings_field,
)

from grid_backend.app import API_MAX_BODY_BYTES
from grid_backend.areas.controllers import MAX_IMPORT_BYTES
from grid_backend.cli import uvicorn_options
from grid_backend.core.uploads import multipart_body_limit
from grid_backend.evacuation.ledger import MAX_FILE_BYTES as LEDGER_MAX_BYTES
from grid_backend.notify.services.live import HEARTBEAT_SECONDS
from grid_backend.settings import Settings, load_settings

SETTINGS_FIELDS = set(Settings.__dataclass_fields__)
SERVICES: dict[str, dict] = COMPOSE["services"]
REPLICAS = services_running("grid-backend", "serve")
SCHEDULERS = services_running("grid-backend", "scheduler")
# the processes of grid-backend itself: replicas, scheduler, the one-shot migration
GRID_SERVICES = [n for n in SERVICES if "GRID_DATABASE_URL" in service_env(n)]
# read by compose only (the database container's password); every other GRID_* is a setting
COMPOSE_ONLY = {"GRID_DB_PASSWORD"}
DOCS = (DOCKER.parent / "docs" / "deployment.md").read_text()

NGINX = parse_nginx()
(HTTP,) = NGINX.all("http")
(SERVER,) = HTTP.all("server")
PROXY = next(n for n in SERVICES if "nginx.conf" in str(SERVICES[n].get("volumes")))


def _settings(name: str) -> Settings:
    return load_settings(service_env(name))


# --- names and secrets --------------------------------------------------------------------------


def test_every_grid_variable_in_compose_is_a_setting() -> None:
    named = {k for n in SERVICES for k in service_env(n)} | {v for v, _ in placeholders()}
    unknown = sorted(
        k
        for k in named
        if k.startswith("GRID_")
        and k not in COMPOSE_ONLY
        and settings_field(k) not in SETTINGS_FIELDS
    )
    assert unknown == [], f"compose names GRID_* variables the app never reads: {unknown}"


def _interpolate_everything(variables: dict[str, str]) -> None:
    for name in SERVICES:
        service_env(name, variables)
        for part in command(name):
            expand(part, variables)


def test_compose_refuses_to_start_without_each_secret_and_the_docs_name_them() -> None:
    required = {name for name, op in placeholders() if op == ":?"}
    assert required == set(DEPLOY_VARS), "DEPLOY_VARS (and the docs) must list the secrets"
    for name in required:
        without = {k: v for k, v in DEPLOY_VARS.items() if k != name}
        with pytest.raises(KeyError, match=name):
            _interpolate_everything(without)
        assert f"export {name}=" in DOCS or f" {name}=" in DOCS, f"docs do not say to set {name}"


def test_every_grid_process_is_a_valid_production_configuration() -> None:
    for name in GRID_SERVICES:
        settings = _settings(name)
        assert settings.production, name
        assert settings.engine == "postgres", name
        assert settings.redis_url, f"{name}: several processes share limits and events via Redis"
        assert settings.media_store == "s3", f"{name}: photos on a container's disk are lost"
        assert settings.secret_key == DEPLOY_VARS["GRID_SECRET_KEY"], name
    assert len({service_env(n)["GRID_DATABASE_URL"] for n in GRID_SERVICES}) == 1
    assert len({service_env(n)["GRID_REDIS_URL"] for n in GRID_SERVICES}) == 1


def test_database_and_redis_urls_point_at_their_services() -> None:
    db = service_env("db")
    url = urlsplit(service_env(REPLICAS[0])["GRID_DATABASE_URL"])
    assert (url.hostname, url.port) == ("db", 5432)
    assert url.path.strip("/") == db["POSTGRES_DB"]
    assert (url.username, url.password) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"])
    redis = urlsplit(service_env(REPLICAS[0])["GRID_REDIS_URL"])
    assert redis.hostname in SERVICES and "redis-server" in command(redis.hostname)
    argv = command(redis.hostname)
    assert expand(argv[argv.index("--requirepass") + 1], DEPLOY_VARS) == redis.password


# --- processes: replicas, scheduler, migration ----------------------------------------------------


def test_two_replicas_without_scheduler_and_one_scheduler() -> None:
    replicas = sum(int(SERVICES[n].get("deploy", {}).get("replicas", 1)) for n in REPLICAS)
    assert replicas == 2, REPLICAS
    for name in REPLICAS:
        assert _settings(name).scheduler is False, f"{name} would run the timed jobs too"
    assert len(SCHEDULERS) == 1
    assert SERVICES[SCHEDULERS[0]].get("deploy", {}).get("replicas", 1) == 1


def test_migrations_run_once_before_any_server() -> None:
    """Two replicas starting together must not both migrate: one one-shot service does it (the
    entrypoint's `migrate` mode, which retries while the database comes up), and every other
    grid-backend process waits for it to finish successfully and never migrates itself."""
    migrators = [
        n for n in GRID_SERVICES if command(n) in (["migrate"], ["grid-backend", "migrate"])
    ]
    assert len(migrators) == 1, migrators
    (migrate,) = migrators
    assert SERVICES[migrate].get("restart") == "no"
    assert SERVICES[migrate]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in GRID_SERVICES:
        if name == migrate:
            continue
        # no command, or "serve", is the entrypoint's migrate-then-serve mode
        assert command(name)[:1] == ["grid-backend"], f"{name} would migrate at start"
        condition = SERVICES[name]["depends_on"][migrate]["condition"]
        assert condition == "service_completed_successfully", name


# --- ports and the proxy's network -----------------------------------------------------------------


def test_app_port_is_the_image_port_and_the_upstream_port() -> None:
    image_port = int(dockerfile_env()["GRID_PORT"])
    (upstream,) = HTTP.all("upstream")
    servers = [urlsplit(f"//{d.args[0]}") for d in upstream.all("server")]
    assert sorted(s.hostname for s in servers) == sorted(REPLICAS), "upstream != the replicas"
    for name in REPLICAS:
        port = _settings(name).port
        assert port == image_port, f"{name} listens on {port}, the image on {image_port}"
        assert all(s.port == port for s in servers), "nginx sends to another port"
        assert str(port) in [str(p) for p in SERVICES[name].get("expose", [])]
        assert "ports" not in SERVICES[name], f"{name} is reachable around the proxy"
        assert f"127.0.0.1:{port}/readyz" in str(SERVICES[name]["healthcheck"]["test"])
    assert upstream.all("keepalive"), "no keep-alive connections to the replicas"
    # nginx must drop an idle connection before the replica does, or it may send a request
    # on a connection being closed: a 502, which nginx does not retry for a POST
    options = uvicorn_options(_settings(REPLICAS[0]))
    app_idle = options.get("timeout_keep_alive", uvicorn.Config(app=None).timeout_keep_alive)
    assert seconds(upstream.one("keepalive_timeout").args[0]) < app_idle
    listen = SERVER.one("listen").args[0]
    published = [str(p).rsplit(":", 1)[-1] for p in SERVICES[PROXY]["ports"]]
    assert listen.rsplit(":", 1)[-1] in published, "nginx's published port is not its listen"


def test_forwarded_headers_are_trusted_from_the_proxy_network_only() -> None:
    networks = COMPOSE["networks"]
    (edge,) = SERVICES[PROXY]["networks"]
    subnet = ipaddress.ip_network(networks[edge]["ipam"]["config"][0]["subnet"])
    on_edge = sorted(n for n in SERVICES if edge in SERVICES[n].get("networks", []))
    assert on_edge == sorted([PROXY, *REPLICAS]), f"only nginx may send from {subnet}: {on_edge}"
    for name in REPLICAS:
        trusted = _settings(name).forwarded_allow_ips.split(",")
        assert "*" not in trusted, f"{name} believes any client's X-Forwarded-For"
        nets = [ipaddress.ip_network(t.strip()) for t in trusted if t.strip()]
        assert any(subnet.subnet_of(n) for n in nets), f"{name} does not trust {subnet}"  # type: ignore[arg-type]
        assert all(n.subnet_of(subnet) for n in nets), f"{name} trusts more than {subnet}"  # type: ignore[arg-type]


def _proxied_locations() -> list[Directive]:
    return [loc for loc in SERVER.all("location") if loc.all("proxy_pass")]


def test_every_proxied_location_passes_who_the_client_is() -> None:
    for loc in _proxied_locations():
        headers = proxy_headers(loc)
        where = " ".join(loc.args)
        assert headers.get("x-forwarded-for") in ("$proxy_add_x_forwarded_for", "$remote_addr"), (
            where
        )
        assert headers.get("x-forwarded-proto") == "$scheme", where
        assert headers.get("host") == "$host", where
        # HTTP/1.1 without "Connection: close": the upstream keep-alive is used
        assert loc.effective("proxy_http_version")[-1].args == ["1.1"], where
        assert headers.get("connection") == "", where
        assert loc.one("proxy_pass").args == ["http://grid_app"], where


def test_live_events_pass_unbuffered_and_stay_open() -> None:
    loc = location_for(SERVER, "/api/v1/events")
    assert loc.args == ["=", "/api/v1/events"]
    assert loc.one("proxy_buffering").args == ["off"]
    assert loc.effective("gzip")[-1].args == ["off"]
    assert seconds(loc.one("proxy_read_timeout").args[0]) >= 10 * HEARTBEAT_SECONDS


def test_metrics_are_not_served_to_the_public() -> None:
    for uri in ("/metrics", "/metrics/", "/metrics/anything"):
        loc = location_for(SERVER, uri)
        assert not loc.all("proxy_pass"), f"{uri} is proxied to the replicas"
        assert loc.all("return") and loc.one("return").args[0] in ("403", "404"), uri


# --- body limits: nginx's per route = the app's ---------------------------------------------------


def _app_limit(path: str, handler_limit: int | None, s: Settings) -> int:
    """What the app accepts on a route; routes that stream their body (limit None) enforce
    their own, listed here: a new one must be given its limit here and in nginx.conf."""
    if handler_limit is not None:
        return handler_limit
    streamed = {
        "/api/v1/media": multipart_body_limit(max_files=1, max_file_bytes=s.media_max_bytes),
        "/api/v1/reports": multipart_body_limit(
            max_files=s.media_max_photos, max_file_bytes=s.media_max_bytes
        ),
        "/api/v1/areas/import": MAX_IMPORT_BYTES,
        "/api/v1/risk-points/import": MAX_IMPORT_BYTES,
        "/api/v1/households/import": multipart_body_limit(
            max_files=1, max_file_bytes=LEDGER_MAX_BYTES
        ),
    }
    assert path in streamed, f"{path} reads its body without a known limit"
    return streamed[path]


def test_body_limits_are_the_apps_route_by_route(app) -> None:
    """For every route that takes a body, nginx's client_max_body_size is exactly what the app
    accepts there (computed from the replicas' settings): a bigger body is refused by nginx
    before it is read, and nothing the app accepts is refused."""
    s = _settings(REPLICAS[0])
    checked = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not set(handler.http_methods) & {"POST", "PUT", "PATCH"}:
                continue
            uri = re.sub(r"\{[^}]+\}", "1", route.path)
            want = _app_limit(route.path, handler.resolve_request_max_body_size(), s)
            got = body_limit(location_for(SERVER, uri))
            assert got == want, f"{route.path}: nginx {got} bytes, the app {want}"
            checked += 1
    assert checked > 40
    # the largest request: a report with GRID_MEDIA_MAX_PHOTOS photos of GRID_MEDIA_MAX_BYTES
    largest = max(body_limit(loc) for loc in SERVER.all("location"))
    assert largest == multipart_body_limit(
        max_files=s.media_max_photos, max_file_bytes=s.media_max_bytes
    )
    assert body_limit(location_for(SERVER, "/api/v1/me")) == API_MAX_BODY_BYTES


# --- health checks and start order ---------------------------------------------------------------


def _one_shots() -> set[str]:
    """Services that run to completion, which others wait for."""
    return {
        dep
        for n in SERVICES
        for dep, cond in (SERVICES[n].get("depends_on") or {}).items()
        if cond.get("condition") == "service_completed_successfully"
    }


def test_every_long_running_service_has_a_health_check() -> None:
    one_shots = _one_shots()
    for name, spec in SERVICES.items():
        if name in one_shots:
            assert spec.get("restart") == "no", f"{name} runs once: it must not restart"
            continue
        test = (spec.get("healthcheck") or {}).get("test")
        assert test and test != ["NONE"], f"{name} has no health check"
    checks = {n: str(SERVICES[n]["healthcheck"]["test"]) for n in SERVICES if n not in one_shots}
    assert "pg_isready" in checks["db"]
    assert "redis-cli" in checks["redis"] and "ping" in checks["redis"]
    assert "mc" in checks["minio"] and "ready" in checks["minio"]
    assert all("/readyz" in checks[n] for n in REPLICAS)
    assert "jobs" in checks[SCHEDULERS[0]] and "check" in checks[SCHEDULERS[0]]
    health = location_for(SERVER, "/nginx-health")
    assert "/nginx-health" in checks[PROXY] and health.one("return").args[0] == "200"


def test_everyone_waits_for_what_it_needs_to_be_healthy() -> None:
    one_shots = _one_shots()
    for name, spec in SERVICES.items():
        for dep, cond in (spec.get("depends_on") or {}).items():
            want = "service_completed_successfully" if dep in one_shots else "service_healthy"
            assert cond.get("condition") == want, f"{name} -> {dep}"
    for name in [*REPLICAS, *SCHEDULERS]:
        assert {"redis", "migrate"} <= set(SERVICES[name]["depends_on"]), name
    assert set(SERVICES[PROXY]["depends_on"]) == set(REPLICAS)


# --- the photo store ---------------------------------------------------------------------------------


def test_the_bucket_made_at_start_is_the_one_the_app_uses() -> None:
    (setup,) = [n for n in _one_shots() if "minio/mc" in SERVICES[n].get("image", "")]
    env = service_env(setup)
    script = " ".join(command(setup))
    assert "mc mb" in script and "$BUCKET" in script
    for name in GRID_SERVICES:
        s = _settings(name)
        assert s.s3_bucket == env["BUCKET"], f"{name} uses {s.s3_bucket}, MinIO has {env['BUCKET']}"
        endpoint = urlsplit(s.s3_endpoint_url)
        assert endpoint.hostname in SERVICES and "minio" in SERVICES[endpoint.hostname]["image"]
        app_env = service_env(name)
        assert (app_env["AWS_ACCESS_KEY_ID"], app_env["AWS_SECRET_ACCESS_KEY"]) == (
            env["APP_KEY"],
            env["APP_SECRET"],
        ), f"{name} signs with keys minio-setup never created"
        assert app_env["AWS_ACCESS_KEY_ID"] != service_env("minio")["MINIO_ROOT_USER"]
        if name in REPLICAS or name in SCHEDULERS:
            assert SERVICES[name]["depends_on"][setup]["condition"] == (
                "service_completed_successfully"
            )


# --- nginx -t ----------------------------------------------------------------------------------------


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = nginx_or_skip()
    conf = local_copy(tmp_path)
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
