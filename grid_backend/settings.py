"""Settings: one frozen dataclass read from the environment, validated once at start."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import zoneinfo
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's bucket naming rules


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///data/grid.sqlite3"
    data_dir: Path = Path("data")
    media_root: Path = Path("data/media")
    secret_key: str = field(default="", repr=False)
    timezone: str = "Asia/Shanghai"
    production: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = (
        1  # server processes (`serve --workers`); more than one needs PostgreSQL and Redis
    )
    access_token_seconds: int = 15 * 60
    refresh_token_days: int = 30
    locate_tolerance_m: float = 300.0
    # sign-in (docs/security.md): failures only are counted, in moving windows
    login_failures_per_phone_address: int = 5  # then that phone from that address waits
    login_failures_per_address: int = 100  # across phones: one address spraying numbers
    login_window_seconds: int = 15 * 60
    login_free_failures_per_phone: int = 3  # from anywhere; after these the phone slows down
    login_delay_cap_seconds: int = 30  # the longest a phone's owner ever waits
    # self-registration: codes by SMS, and how often they may be asked for
    signup_codes_per_phone: int = 5  # per hour, at most one a minute
    signup_codes_per_address: int = 20  # per hour
    signup_attempts_per_address: int = 30  # registrations tried per hour
    # addresses of reverse proxies whose X-Forwarded-For is believed (uvicorn's
    # forwarded_allow_ips); empty: none, the connection's own address is the client's
    forwarded_allow_ips: str = ""
    password_hash_cost: str = "standard"
    index_refresh_seconds: float = 2.0
    db_pool_size: int = 10
    # SQLite: write transactions and plain reads on connections kept open
    # (grid_backend/infra/sqlite.py); off: Piccolo's own, a new connection each time
    sqlite_reuse_connections: bool = True
    # `serve --workers N` on Linux: a listening socket per worker on the one port, so the
    # kernel spreads connections (grid_backend/infra/reuseport.py); off: uvicorn's shared one
    reuse_port: bool = True
    media_max_bytes: int = 15 * 1024 * 1024
    media_max_pixels: int = 60_000_000
    media_max_photos: int = 9
    # photos: local disk (GRID_MEDIA_ROOT) or an S3-compatible object store (docs/deployment.md)
    media_store: str = "local"  # local | s3
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_prefix: str = ""
    # memory for decoding photos, shared by every upload of the process, and how long an upload
    # may wait for its share before 503 server_busy (docs/security.md)
    decode_memory_mb: int = 512
    decode_wait_seconds: float = 10.0
    exif_mismatch_m: float = 500.0
    points_registered: int = 1
    points_closed: int = 5
    points_false_report: int = -3
    points_monthly_cap: int = 100
    # "me too": how near one of a resident's own recent reports a case must be, and how long a
    # duplicate offer lets them support it (docs/api.md, "Me too")
    support_radius_m: float = 2000.0
    support_offer_hours: int = 24
    log_level: str = "INFO"
    scheduler: bool = True
    # notify: delivery channels and live events
    push_webhook_url: str = ""
    push_webhook_secret: str = field(default="", repr=False)
    sms_gateway_url: str = field(default="", repr=False)  # may carry the gateway's key
    redis_url: str = field(default="", repr=False)
    redis_prefix: str = "grid"  # live-event channels: pub/sub is shared by every Redis db
    notify_interval_seconds: float = 5.0
    notify_timeout_seconds: float = 5.0
    notify_concurrency: int = 50
    # push and SMS requests reach their sockets through plain asyncio
    # (grid_backend/infra/network.py); off: httpcore's stock backend (anyio), as httpx has it
    notify_asyncio_network: bool = True
    # outbound webhooks (docs/webhooks.md): private, loopback and link-local addresses are
    # refused unless allowed (a subscriber inside the same network); a subscriber failing this
    # many times in a row, or for this long, is paused
    webhook_allow_private: bool = False
    webhook_pause_after_failures: int = 10
    webhook_pause_after_minutes: int = 60
    events_per_account: int = 5  # open live-event streams per account (all processes, with Redis)
    # how long a stream's place in that count outlives its last refresh (a killed process's)
    events_slot_seconds: float = 60.0
    # patrols: how far ahead tasks exist, when a start is on time, how long a started
    # patrol may still be finished after its window
    patrol_horizon_hours: int = 36
    patrol_early_start_minutes: int = 30
    patrol_on_time_minutes: int = 15
    patrol_finish_grace_minutes: int = 60
    # alerts: minutes between the escalation steps of an unanswered callout
    callout_escalate_minutes: int = 5
    # evacuations: minutes before helpers who have not started are escalated (once), and
    # whether an orange or red warning starts one without an officer's confirmation
    evacuation_escalate_minutes: int = 15
    evacuation_auto_start: bool = False
    # response to urgent cases: where an arrival counts, the city's targets (docs/metrics.md)
    response_arrival_radius_m: float = 300.0
    response_reaction_target_minutes: int = 10
    response_ground_target_minutes: int = 30
    response_air_target_minutes: int = 60
    # one-tap SOS (docs/evacuation.md): calls per account in a moving window, and how long
    # its sender may cancel a false alarm
    sos_per_window: int = 3
    sos_window_seconds: int = 10 * 60
    sos_cancel_seconds: int = 60
    # the dashboard: share of accepted hazards to be rectified (docs/dashboard.md)
    rectification_target_percent: float = 98.5
    # the console map: a tile server for deployments that have one (empty: outlines on a plain
    # background) and the datum its tiles are drawn in (Chinese providers: GCJ-02)
    map_tile_url: str = ""
    map_tile_datum: str = "gcj02"
    map_tile_attribution: str = ""
    # printable sheets (QR codes, risk maps): a TrueType font with Chinese (core/pdf.py); a
    # .ttc collection's first font is used
    pdf_font: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    # the server's address as phones reach it (https://grid.example.cn), written into QR codes;
    # empty: taken from the request that makes the code
    public_url: str = ""
    # Open311 GeoReport v2 (docs/open311.md): the one jurisdiction_id this deployment answers
    # to, and the contact published by its discovery document
    open311_jurisdiction: str = "cq-141.example"
    open311_contact: str = "Street office command centre: see the deployment's website"
    # public GeoReport reads (no key) per client address and minute, in every process together
    # with Redis; a list may hold 1,000 cases
    open311_reads_per_minute: int = 120
    # Prometheus metrics at /metrics for `Authorization: Bearer <token>`; empty: no /metrics
    metrics_token: str = field(default="", repr=False)

    @property
    def engine(self) -> str:
        return "postgres" if self.database_url.startswith("postgresql") else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        # sqlite:///relative/file and sqlite:////absolute/file, as SQLAlchemy spells them
        return Path(urlsplit(self.database_url).path[1:])

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


_BOOL = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}


def _parse(name: str, kind: type, raw: str) -> object:
    env = f"GRID_{name.upper()}"
    try:
        if kind is bool:
            return _BOOL[raw.strip().lower()]
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw)
    except (KeyError, ValueError):
        raise SettingsError(env, f"{raw!r} is not a valid {kind.__name__}") from None
    return raw


def _check(s: Settings) -> None:
    """Raise SettingsError for the first setting, in this order, with a value the service
    cannot run with."""
    for check in (
        _check_database,
        _check_server,
        _check_sign_in,
        _check_notify,
        _check_patrols_and_map,
        _check_response,
        _check_metrics,
        _check_open311,
    ):
        check(s)


def _check_open311(s: Settings) -> None:
    """The jurisdiction Open311 answers to: a short identifier (compared as given)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", s.open311_jurisdiction):
        raise SettingsError(
            "GRID_OPEN311_JURISDICTION", "must be 1-100 letters, digits, dots, colons or hyphens"
        )
    if not s.open311_contact.strip() or len(s.open311_contact) > 200:
        raise SettingsError("GRID_OPEN311_CONTACT", "must be 1-200 characters")
    if not 1 <= s.open311_reads_per_minute <= 100_000:
        raise SettingsError("GRID_OPEN311_READS_PER_MINUTE", "must be 1-100000")


def _check_database(s: Settings) -> None:
    """The database URL names an engine and a database."""
    url = s.database_url
    if url.startswith("sqlite://"):
        if not url.startswith("sqlite:///") or url == "sqlite:///":
            raise SettingsError(
                "GRID_DATABASE_URL", "use sqlite:///relative/path or sqlite:////abs/path"
            )
    elif url.startswith(("postgresql://", "postgresql+asyncpg://")):
        parts = urlsplit(url)
        if not parts.hostname or not parts.path.strip("/"):
            raise SettingsError(
                "GRID_DATABASE_URL",
                "postgresql://user@host:port/dbname needs a host and a database",
            )
    else:
        raise SettingsError(
            "GRID_DATABASE_URL", f"{url!r} must start with sqlite:/// or postgresql://"
        )


def _check_server(s: Settings) -> None:
    """The time zone, the server, tokens, locating and photos."""
    try:
        zoneinfo.ZoneInfo(s.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            "GRID_TIMEZONE", f"{s.timezone!r} is not a known IANA time zone"
        ) from None
    if not 1 <= s.port <= 65535:
        raise SettingsError("GRID_PORT", "must be between 1 and 65535")
    if not 1 <= s.workers <= 64:
        raise SettingsError("GRID_WORKERS", "must be between 1 and 64")
    if s.workers > 1 and not s.redis_url:
        # live events and sign-in limits would each stay inside one process
        raise SettingsError("GRID_WORKERS", "more than one needs GRID_REDIS_URL")
    if s.workers > 1 and s.engine == "sqlite":
        raise SettingsError("GRID_WORKERS", "SQLite serves one process: use PostgreSQL for more")
    if s.public_url and not s.public_url.startswith(("http://", "https://")):
        raise SettingsError("GRID_PUBLIC_URL", "must start with http:// or https://")
    if s.access_token_seconds < 30:
        raise SettingsError("GRID_ACCESS_TOKEN_SECONDS", "must be at least 30")
    if s.refresh_token_days < 1:
        raise SettingsError("GRID_REFRESH_TOKEN_DAYS", "must be at least 1")
    if s.locate_tolerance_m < 0:
        raise SettingsError("GRID_LOCATE_TOLERANCE_M", "must not be negative")
    if s.media_max_bytes < 1024:
        raise SettingsError("GRID_MEDIA_MAX_BYTES", "must be at least 1024")
    if s.media_max_pixels < 10_000:
        raise SettingsError("GRID_MEDIA_MAX_PIXELS", "must be at least 10000")
    if not 64 <= s.decode_memory_mb <= 65_536:
        raise SettingsError("GRID_DECODE_MEMORY_MB", "must be between 64 and 65536")
    if not 0 <= s.decode_wait_seconds <= 120:
        raise SettingsError("GRID_DECODE_WAIT_SECONDS", "must be between 0 and 120")
    if not 1 <= s.media_max_photos <= 50:
        raise SettingsError("GRID_MEDIA_MAX_PHOTOS", "must be between 1 and 50")
    _check_media_store(s)


def _check_media_store(s: Settings) -> None:
    """Where photos are kept; the object store's credentials come from AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, never from GRID_ settings."""
    if s.media_store not in ("local", "s3"):
        raise SettingsError("GRID_MEDIA_STORE", "must be local or s3")
    if s.media_store == "s3" and not s.s3_bucket:
        raise SettingsError("GRID_S3_BUCKET", "is required when GRID_MEDIA_STORE=s3")
    if s.s3_bucket and not _BUCKET.fullmatch(s.s3_bucket):
        raise SettingsError(
            "GRID_S3_BUCKET", "must be 3-63 lower-case letters, digits, dots or hyphens"
        )
    url = s.s3_endpoint_url
    if url and (not url.startswith(("http://", "https://")) or not urlsplit(url).hostname):
        raise SettingsError("GRID_S3_ENDPOINT_URL", "must be an http:// or https:// URL")
    if s.s3_prefix.startswith("/") or ".." in s.s3_prefix.split("/"):
        raise SettingsError("GRID_S3_PREFIX", "must be a relative key prefix such as grid/photos")


def _check_sign_in(s: Settings) -> None:
    """Sign-in and sign-up limits, proxies, password hashing and the secret."""
    for name, value, low, high in (
        ("GRID_LOGIN_FAILURES_PER_PHONE_ADDRESS", s.login_failures_per_phone_address, 1, 1000),
        ("GRID_LOGIN_FAILURES_PER_ADDRESS", s.login_failures_per_address, 1, 1_000_000),
        ("GRID_LOGIN_WINDOW_SECONDS", s.login_window_seconds, 60, 86_400),
        ("GRID_LOGIN_FREE_FAILURES_PER_PHONE", s.login_free_failures_per_phone, 1, 100),
        ("GRID_LOGIN_DELAY_CAP_SECONDS", s.login_delay_cap_seconds, 1, 30),
        ("GRID_SIGNUP_CODES_PER_PHONE", s.signup_codes_per_phone, 1, 100),
        ("GRID_SIGNUP_CODES_PER_ADDRESS", s.signup_codes_per_address, 1, 1_000_000),
        ("GRID_SIGNUP_ATTEMPTS_PER_ADDRESS", s.signup_attempts_per_address, 1, 1_000_000),
    ):
        if not low <= value <= high:
            raise SettingsError(name, f"must be between {low} and {high}")
    _check_proxies(s.forwarded_allow_ips)
    if s.password_hash_cost not in ("standard", "fast"):
        raise SettingsError("GRID_PASSWORD_HASH_COST", "must be 'standard' or 'fast'")
    if s.production and s.password_hash_cost != "standard":
        raise SettingsError("GRID_PASSWORD_HASH_COST", "must be 'standard' in production")
    if s.secret_key and len(s.secret_key.encode()) < 32:
        raise SettingsError("GRID_SECRET_KEY", "must be at least 32 bytes long")


def _check_notify(s: Settings) -> None:
    """Gateways, Redis and notification delivery."""
    for name, url in (
        ("GRID_PUSH_WEBHOOK_URL", s.push_webhook_url),
        ("GRID_SMS_GATEWAY_URL", s.sms_gateway_url),
    ):
        if url and (not url.startswith(("http://", "https://")) or not urlsplit(url).hostname):
            raise SettingsError(name, "must be an http:// or https:// URL")
    if s.push_webhook_url and len(s.push_webhook_secret.encode()) < 16:
        raise SettingsError(
            "GRID_PUSH_WEBHOOK_SECRET",
            "must be at least 16 bytes when GRID_PUSH_WEBHOOK_URL is set",
        )
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("GRID_REDIS_URL", "must start with redis://, rediss:// or unix://")
    if not s.redis_prefix or not s.redis_prefix.replace("-", "").replace("_", "").isalnum():
        raise SettingsError("GRID_REDIS_PREFIX", "must be letters, digits, - or _")
    if not 0.5 <= s.notify_interval_seconds <= 3600:
        raise SettingsError("GRID_NOTIFY_INTERVAL_SECONDS", "must be between 0.5 and 3600")
    if not 0.1 <= s.notify_timeout_seconds <= 60:
        raise SettingsError("GRID_NOTIFY_TIMEOUT_SECONDS", "must be between 0.1 and 60")
    if not 1 <= s.events_per_account <= 100:
        raise SettingsError("GRID_EVENTS_PER_ACCOUNT", "must be between 1 and 100")
    if not 1 <= s.events_slot_seconds <= 3600:
        raise SettingsError("GRID_EVENTS_SLOT_SECONDS", "must be between 1 and 3600")
    if not 1 <= s.notify_concurrency <= 1000:
        raise SettingsError("GRID_NOTIFY_CONCURRENCY", "must be between 1 and 1000")
    if not 1 <= s.webhook_pause_after_failures <= 1000:
        raise SettingsError("GRID_WEBHOOK_PAUSE_AFTER_FAILURES", "must be between 1 and 1000")
    if not 1 <= s.webhook_pause_after_minutes <= 7 * 24 * 60:
        raise SettingsError("GRID_WEBHOOK_PAUSE_AFTER_MINUTES", "must be between 1 and 10080")


def _check_patrols_and_map(s: Settings) -> None:
    """Patrol windows and the console map."""
    if not 1 <= s.patrol_horizon_hours <= 14 * 24:
        raise SettingsError("GRID_PATROL_HORIZON_HOURS", "must be between 1 and 336")
    for name, minutes in (
        ("GRID_PATROL_EARLY_START_MINUTES", s.patrol_early_start_minutes),
        ("GRID_PATROL_ON_TIME_MINUTES", s.patrol_on_time_minutes),
        ("GRID_PATROL_FINISH_GRACE_MINUTES", s.patrol_finish_grace_minutes),
    ):
        if not 0 <= minutes <= 24 * 60:
            raise SettingsError(name, "must be between 0 and 1440")
    if s.map_tile_url and (
        not s.map_tile_url.startswith(("http://", "https://", "/"))
        or not all(k in s.map_tile_url for k in ("{z}", "{x}", "{y}"))
    ):
        raise SettingsError(
            "GRID_MAP_TILE_URL", "must be an http(s):// or /path URL template with {z}, {x} and {y}"
        )
    if s.map_tile_datum not in ("wgs84", "gcj02"):
        raise SettingsError("GRID_MAP_TILE_DATUM", "must be wgs84 or gcj02")


def _check_response(s: Settings) -> None:
    """Callouts, urgent response, "me too" and the dashboard target."""
    if not 1 <= s.callout_escalate_minutes <= 240:
        raise SettingsError("GRID_CALLOUT_ESCALATE_MINUTES", "must be between 1 and 240")
    if not 1 <= s.evacuation_escalate_minutes <= 240:
        raise SettingsError("GRID_EVACUATION_ESCALATE_MINUTES", "must be between 1 and 240")
    if not 10 <= s.response_arrival_radius_m <= 10_000:
        raise SettingsError("GRID_RESPONSE_ARRIVAL_RADIUS_M", "must be between 10 and 10000")
    for name, minutes in (
        ("GRID_RESPONSE_REACTION_TARGET_MINUTES", s.response_reaction_target_minutes),
        ("GRID_RESPONSE_GROUND_TARGET_MINUTES", s.response_ground_target_minutes),
        ("GRID_RESPONSE_AIR_TARGET_MINUTES", s.response_air_target_minutes),
    ):
        if not 1 <= minutes <= 24 * 60:
            raise SettingsError(name, "must be between 1 and 1440")
    if not 1 <= s.sos_per_window <= 100:
        raise SettingsError("GRID_SOS_PER_WINDOW", "must be between 1 and 100")
    if not 60 <= s.sos_window_seconds <= 86_400:
        raise SettingsError("GRID_SOS_WINDOW_SECONDS", "must be between 60 and 86400")
    if not 10 <= s.sos_cancel_seconds <= 3600:
        raise SettingsError("GRID_SOS_CANCEL_SECONDS", "must be between 10 and 3600")
    if not 0 <= s.support_radius_m <= 50_000:
        raise SettingsError("GRID_SUPPORT_RADIUS_M", "must be between 0 and 50000")
    if not 1 <= s.support_offer_hours <= 24 * 30:
        raise SettingsError("GRID_SUPPORT_OFFER_HOURS", "must be between 1 and 720")
    if not 0 < s.rectification_target_percent <= 100:
        raise SettingsError("GRID_RECTIFICATION_TARGET_PERCENT", "must be above 0 and at most 100")


def _check_metrics(s: Settings) -> None:
    """The scraper's bearer token: a short one could be guessed, and a space cannot be sent."""
    token = s.metrics_token
    if token and (len(token) < 16 or not token.isprintable() or " " in token):
        raise SettingsError("GRID_METRICS_TOKEN", "must be at least 16 characters, no spaces")


def _check_proxies(value: str) -> None:
    for item in (part.strip() for part in value.split(",")):
        if not item or item == "*" or item.startswith("unix:"):
            continue
        try:
            ipaddress.ip_network(item)  # strict, as uvicorn reads it
        except ValueError:
            raise SettingsError(
                "GRID_FORWARDED_ALLOW_IPS",
                f"{item!r} is not an IP address or network (comma-separated, or *)",
            ) from None


def _development_secret(data_dir: Path) -> str:
    """Generate a secret once and keep it under the data folder, so restarts keep sessions."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read GRID_* variables; raise SettingsError naming the variable for a bad value."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(f"GRID_{f.name.upper()}")
        if raw is not None:
            kind = {"bool": bool, "int": int, "float": float, "Path": Path}.get(str(f.type), str)
            values[f.name] = _parse(f.name, kind, raw)
    if "media_root" not in values and "data_dir" in values:
        values["media_root"] = Path(str(values["data_dir"])) / "media"
    # each value has its field's type (_parse converts by the field's annotation)
    settings = Settings(**values)  # type: ignore[arg-type]  # values: dict[str, object]
    _check(settings)
    if not settings.secret_key:
        if settings.production:
            raise SettingsError("GRID_SECRET_KEY", "is required when GRID_PRODUCTION is set")
        settings = replace(settings, secret_key=_development_secret(settings.data_dir))
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
